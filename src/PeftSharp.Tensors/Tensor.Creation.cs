namespace PeftSharp.Tensors;

public sealed partial class Tensor
{
    /// <summary>An uninitialised-or-zeroed float32 tensor from the current scope's pool.</summary>
    internal static Tensor Empty(int[] shape, bool zero = false) =>
        new(TensorScope.AllocateFloats(Shapes.Numel(shape), zero), shape);

    /// <summary>A tensor of zeros.</summary>
    public static Tensor Zeros(params int[] shape) => Empty((int[])shape.Clone(), zero: true);

    /// <summary>A tensor of ones.</summary>
    public static Tensor Ones(params int[] shape) => Full(shape, 1f);

    /// <summary>A tensor filled with <paramref name="value"/>.</summary>
    public static Tensor Full(int[] shape, float value)
    {
        var t = Empty((int[])shape.Clone());
        t.Span.Fill(value);
        return t;
    }

    /// <summary>A scalar (rank-0) tensor.</summary>
    public static Tensor Scalar(float value) => Full([], value);

    /// <summary>start, start+step, ... below end (float32).</summary>
    public static Tensor Arange(float start, float end, float step = 1f)
    {
        if (step == 0 || float.IsNaN(step))
        {
            throw new ArgumentException("Arange step must be non-zero.", nameof(step));
        }
        int n = Math.Max(0, (int)Math.Ceiling((end - start) / step));
        var t = Empty([n]);
        var s = t.Span;
        for (int i = 0; i < n; i++)
        {
            s[i] = start + i * step;
        }
        return t;
    }

    /// <summary>0, 1, ..., n-1.</summary>
    public static Tensor Arange(int n) => Arange(0, n);

    /// <summary>Copies data into a new float32 tensor of the given shape.</summary>
    public static Tensor FromArray(ReadOnlySpan<float> data, params int[] shape)
    {
        int n = Shapes.Numel(shape);
        if (n != data.Length)
        {
            throw new ArgumentException($"{data.Length} values cannot fill shape {Shapes.Format(shape)} ({n} elements).");
        }
        var t = Empty((int[])shape.Clone());
        data.CopyTo(t.Span);
        return t;
    }

    /// <summary>Wraps an existing array (no copy) as a float32 tensor. The array must not be resized or shared carelessly.</summary>
    public static Tensor Wrap(float[] data, params int[] shape)
    {
        int n = Shapes.Numel(shape);
        if (n != data.Length)
        {
            throw new ArgumentException($"{data.Length} values cannot fill shape {Shapes.Format(shape)} ({n} elements).");
        }
        return new Tensor(new Storage(data, n, pooled: false), (int[])shape.Clone());
    }

    /// <summary>An int32 index tensor (token ids, targets, gather indices).</summary>
    public static Tensor FromInts(ReadOnlySpan<int> data, params int[] shape)
    {
        int n = Shapes.Numel(shape);
        if (n != data.Length)
        {
            throw new ArgumentException($"{data.Length} values cannot fill shape {Shapes.Format(shape)} ({n} elements).");
        }
        return new Tensor(new Storage(data.ToArray()), (int[])shape.Clone());
    }

    /// <summary>Wraps 16-bit storage (BF16 or F16) as a frozen tensor usable as a matmul weight.</summary>
    public static Tensor FromHalfBits(ushort[] bits, DType dtype, params int[] shape)
    {
        int n = Shapes.Numel(shape);
        if (n != bits.Length)
        {
            throw new ArgumentException($"{bits.Length} values cannot fill shape {Shapes.Format(shape)} ({n} elements).");
        }
        return new Tensor(new Storage(bits, dtype), (int[])shape.Clone());
    }

    /// <summary>Uniform samples in [low, high) from a seeded generator.</summary>
    public static Tensor Uniform(int[] shape, float low, float high, Rng rng)
    {
        var t = Empty((int[])shape.Clone());
        var s = t.Span;
        float w = high - low;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = low + w * rng.NextSingle();
        }
        return t;
    }

    /// <summary>Normal samples N(mean, std²) from a seeded generator.</summary>
    public static Tensor Normal(int[] shape, float mean, float std, Rng rng)
    {
        var t = Empty((int[])shape.Clone());
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = mean + std * rng.NextNormal();
        }
        return t;
    }

    /// <summary>A dense float32 copy (a new leaf when not recorded; records an identity op otherwise).</summary>
    public Tensor Clone()
    {
        ThrowUnlessReadable();
        var t = Empty((int[])_shape.Clone());
        CopyTo(t.Span);
        Autograd.Tape.Record(t, "clone", Autograd.Gradients.Identity, this);
        return t;
    }

    /// <summary>Widens 16-bit storage to a float32 copy (identity for float32 returns this tensor).</summary>
    public Tensor ToFloat32() => DType == DType.F32 ? this : Clone();

    /// <summary>Narrows to 16-bit storage (BF16 or F16) for frozen weights; the result never requires grad.</summary>
    public Tensor ToHalfStorage(DType dtype)
    {
        var bits = new ushort[Numel];
        var f = ToArray();
        Kernels.LowPrecision.Narrow(dtype, f, bits);
        return new Tensor(new Storage(bits, dtype), (int[])_shape.Clone()) { Name = Name };
    }

    private void ThrowUnlessReadable() => Storage.ThrowIfReleased();
}
