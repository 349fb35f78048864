using System.Buffers;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Tensors.Serialization;

/// <summary>
/// A named tensor to be written by <see cref="SafetensorsWriter"/>: dtype, shape and the data, either as raw
/// little-endian bytes or as float32 / int64 values stored in a chosen dtype (converted in small chunks while
/// writing, so no full-size copy is made). The data are referenced, not copied: they must not change until
/// the write has finished.
/// </summary>
public sealed class SafetensorsTensor
{
    private const int ChunkElements = 16 * 1024;

    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly ReadOnlyMemory<float> _singles;
    private readonly ReadOnlyMemory<long> _int64s;
    private readonly Source _source;

    private enum Source { Bytes, Singles, Int64s }

    private SafetensorsTensor(string name, DType dtype, ReadOnlySpan<long> shape, long elementCount, Source source,
        ReadOnlyMemory<byte> bytes, ReadOnlyMemory<float> singles, ReadOnlyMemory<long> int64s)
    {
        Name = name;
        DType = dtype;
        Shape = ImmutableArray.Create(shape.ToArray());
        ByteLength = elementCount * dtype.SizeOf();
        _source = source;
        _bytes = bytes;
        _singles = singles;
        _int64s = int64s;
    }

    /// <summary>The tensor's key in the header.</summary>
    public string Name { get; }

    /// <summary>The dtype written to the file.</summary>
    public DType DType { get; }

    /// <summary>Dimensions, outermost first.</summary>
    public ImmutableArray<long> Shape { get; }

    /// <summary>Bytes the tensor occupies in the data block.</summary>
    public long ByteLength { get; }

    /// <summary>A tensor given as raw little-endian bytes of <paramref name="dtype"/>.</summary>
    /// <exception cref="ArgumentException">The byte count differs from shape × element size, a dimension is negative, or the name is unusable.</exception>
    public static SafetensorsTensor FromBytes(string name, DType dtype, ReadOnlySpan<long> shape, ReadOnlyMemory<byte> data)
    {
        long count = CheckShape(name, dtype, shape);
        if (data.Length != count * dtype.SizeOf())
        {
            throw new ArgumentException($"Tensor '{name}': shape [{string.Join(", ", shape.ToArray())}] of {dtype.ToSafetensorsName()} needs {count * dtype.SizeOf()} bytes, got {data.Length}.", nameof(data));
        }
        return new SafetensorsTensor(name, dtype, shape, count, Source.Bytes, data, default, default);
    }

    /// <summary>
    /// Float32 values stored as <paramref name="storeAs"/>: F32 as is, BF16/F16 rounded to nearest even
    /// (<see cref="LowPrecision"/>), F64 exactly.
    /// </summary>
    /// <exception cref="ArgumentException">The value count differs from the shape's element count, or <paramref name="storeAs"/> is not a floating-point dtype.</exception>
    public static SafetensorsTensor FromSingles(string name, ReadOnlyMemory<float> values, ReadOnlySpan<long> shape, DType storeAs = DType.F32)
    {
        if (storeAs is not (DType.F32 or DType.BF16 or DType.F16 or DType.F64))
        {
            throw new ArgumentException($"Tensor '{name}': float values can be stored as F32, BF16, F16 or F64, not {storeAs.ToSafetensorsName()}.", nameof(storeAs));
        }
        long count = CheckShape(name, storeAs, shape);
        if (values.Length != count)
        {
            throw new ArgumentException($"Tensor '{name}': shape [{string.Join(", ", shape.ToArray())}] has {count} elements, got {values.Length} values.", nameof(values));
        }
        return new SafetensorsTensor(name, storeAs, shape, count, Source.Singles, default, values, default);
    }

    /// <summary>64-bit integers stored as I64.</summary>
    /// <exception cref="ArgumentException">The value count differs from the shape's element count.</exception>
    public static SafetensorsTensor FromInt64s(string name, ReadOnlyMemory<long> values, ReadOnlySpan<long> shape)
    {
        long count = CheckShape(name, DType.I64, shape);
        if (values.Length != count)
        {
            throw new ArgumentException($"Tensor '{name}': shape [{string.Join(", ", shape.ToArray())}] has {count} elements, got {values.Length} values.", nameof(values));
        }
        return new SafetensorsTensor(name, DType.I64, shape, count, Source.Int64s, default, default, values);
    }

    /// <summary>Writes the data block bytes of this tensor.</summary>
    internal void WriteData(Stream stream)
    {
        switch (_source)
        {
            case Source.Bytes:
                stream.Write(_bytes.Span);
                return;
            case Source.Int64s:
                WriteRaw(stream, _int64s.Span);
                return;
        }
        if (DType == DType.F32)
        {
            WriteRaw(stream, _singles.Span);
            return;
        }
        byte[] scratch = ArrayPool<byte>.Shared.Rent(ChunkElements * 8);
        try
        {
            for (int start = 0; start < _singles.Length; start += ChunkElements)
            {
                var chunk = _singles.Span.Slice(start, Math.Min(ChunkElements, _singles.Length - start));
                int bytes = chunk.Length * DType.SizeOf();
                if (DType == DType.F64)
                {
                    var wide = MemoryMarshal.Cast<byte, double>(scratch.AsSpan(0, bytes));
                    for (int i = 0; i < chunk.Length; i++)
                    {
                        wide[i] = chunk[i];
                    }
                }
                else
                {
                    LowPrecision.Narrow(DType, chunk, MemoryMarshal.Cast<byte, ushort>(scratch.AsSpan(0, bytes)));
                }
                stream.Write(scratch, 0, bytes);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Writes values as their bytes, in slices of at most 256 MiB so that no byte span exceeds Int32 length.</summary>
    private static void WriteRaw<T>(Stream stream, ReadOnlySpan<T> values) where T : unmanaged
    {
        int slice = (256 << 20) / Marshal.SizeOf<T>();
        for (int start = 0; start < values.Length; start += slice)
        {
            stream.Write(MemoryMarshal.AsBytes(values.Slice(start, Math.Min(slice, values.Length - start))));
        }
    }

    private static long CheckShape(string name, DType dtype, ReadOnlySpan<long> shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!Enum.IsDefined(dtype))
        {
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"Tensor '{name}': unknown dtype.");
        }
        long count = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0)
            {
                throw new ArgumentException($"Tensor '{name}': dimension {i} is negative ({shape[i]}).", nameof(shape));
            }
            try
            {
                count = checked(count * shape[i]);
                _ = checked(count * dtype.SizeOf());
            }
            catch (OverflowException)
            {
                throw new ArgumentException($"Tensor '{name}': shape [{string.Join(", ", shape.ToArray())}] is too large.", nameof(shape));
            }
        }
        return count;
    }
}
