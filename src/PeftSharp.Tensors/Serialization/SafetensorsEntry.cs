using System.Collections.Immutable;

namespace PeftSharp.Tensors.Serialization;

/// <summary>One tensor as described by a validated safetensors header.</summary>
/// <param name="Name">The tensor's key in the header.</param>
/// <param name="DType">Element type.</param>
/// <param name="Shape">Dimensions, outermost first; empty for a scalar. Never negative.</param>
/// <param name="ByteOffset">Start of the tensor's bytes, relative to the start of the data block (the header's <c>data_offsets[0]</c>).</param>
/// <param name="ByteLength">Number of bytes (element count × element size).</param>
public sealed record SafetensorsEntry(string Name, DType DType, ImmutableArray<long> Shape, long ByteOffset, long ByteLength)
{
    /// <summary>Product of the dimensions (1 for a scalar, 0 when any dimension is 0).</summary>
    public long ElementCount => ByteLength / DType.SizeOf();

    /// <summary>The shape as <c>int[]</c>.</summary>
    /// <exception cref="OverflowException">A dimension exceeds <see cref="int.MaxValue"/>.</exception>
    public int[] ShapeAsInt32()
    {
        var dims = new int[Shape.Length];
        for (int i = 0; i < dims.Length; i++)
        {
            dims[i] = Shape[i] <= int.MaxValue
                ? (int)Shape[i]
                : throw new OverflowException($"Tensor '{Name}': dimension {i} ({Shape[i]}) exceeds Int32.MaxValue.");
        }
        return dims;
    }

    /// <summary>The shape as written in error messages, e.g. <c>[4, 64]</c>.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
