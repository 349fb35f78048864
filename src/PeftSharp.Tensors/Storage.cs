namespace PeftSharp.Tensors;

/// <summary>
/// The memory behind one or more tensors (views share it). Exactly one of the arrays is set, by dtype:
/// float32 compute data, 16-bit storage for frozen weights (BF16/F16), or int32 indices (I32).
/// Pooled storage belongs to a <see cref="TensorScope"/> and is released when the scope ends; touching it
/// afterwards throws instead of reading reused memory.
/// </summary>
internal sealed class Storage
{
    public readonly float[]? Floats;
    public readonly ushort[]? Halves;
    public readonly int[]? Ints;
    public readonly DType DType;
    public readonly int Length;
    public readonly bool Pooled;
    public bool Released;

    public Storage(float[] data, int length, bool pooled)
    {
        Floats = data;
        Length = length;
        DType = DType.F32;
        Pooled = pooled;
    }

    public Storage(ushort[] data, DType dtype)
    {
        if (dtype is not (DType.BF16 or DType.F16))
        {
            throw new ArgumentException($"16-bit storage must be BF16 or F16, got {dtype}.");
        }
        Halves = data;
        Length = data.Length;
        DType = dtype;
    }

    public Storage(int[] data)
    {
        Ints = data;
        Length = data.Length;
        DType = DType.I32;
    }

    public void ThrowIfReleased()
    {
        if (Released)
        {
            throw new InvalidOperationException("This tensor's memory belonged to a TensorScope that has ended. Copy values out (ToArray, Item, Clone inside TensorScope.Persistent) before the scope is disposed.");
        }
    }
}
