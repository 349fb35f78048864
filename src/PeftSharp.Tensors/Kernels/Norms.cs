using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

/// <summary>
/// LayerNorm and RMSNorm over the last dimension, forward and backward, in float32.
/// </summary>
/// <remarks>
/// Shapes (llm.c style): rows = B·T, C = channels. x, y, dy, dx are (rows, C); weight, bias, dWeight,
/// dBias are (C); mean and rstd are (rows) and are saved by the forward for the backward.
/// Rows are independent: callers parallelise by slicing row ranges. dWeight/dBias are accumulated (+=),
/// so parallel callers give each worker its own (C) accumulators and add them afterwards.
/// Reductions keep four 8-lane accumulators (see <see cref="FastMath"/>); the order is fixed, so results
/// are deterministic. dx may alias dy; y may alias x.
/// </remarks>
public static class Norms
{
    /// <summary>
    /// y = (x − mean)·rstd·weight + bias with mean and biased variance over C, rstd = 1/√(var + eps).
    /// An empty <paramref name="bias"/> means no bias.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer length does not match (rows, C).</exception>
    /// <exception cref="ArgumentOutOfRangeException">rows &lt; 0, C &lt; 1 or eps is negative or not finite.</exception>
    public static void LayerNormForward(
        ReadOnlySpan<float> x,      // (rows, C)
        ReadOnlySpan<float> weight, // (C)
        ReadOnlySpan<float> bias,   // (C) or empty
        Span<float> y,              // (rows, C)
        Span<float> mean,           // (rows)
        Span<float> rstd,           // (rows)
        int rows, int channels, float eps)
    {
        CheckShape(rows, channels, eps);
        Check(x.Length, (long)rows * channels, nameof(x), rows, channels);
        Check(weight.Length, channels, nameof(weight), rows, channels);
        if (!bias.IsEmpty)
        {
            Check(bias.Length, channels, nameof(bias), rows, channels);
        }
        Check(y.Length, (long)rows * channels, nameof(y), rows, channels);
        Check(mean.Length, rows, nameof(mean), rows, channels);
        Check(rstd.Length, rows, nameof(rstd), rows, channels);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * channels, channels);
            float m = FastMath.Sum(xr) / channels;
            // Two-pass variance Σ(x − m)² avoids the cancellation of E[x²] − m².
            float var = FastMath.SumSquaredDeviation(xr, m) / channels;
            float s = 1f / MathF.Sqrt(var + eps);
            mean[r] = m;
            rstd[r] = s;
            Scale(xr, m, s, weight, bias, y.Slice(r * channels, channels));
        }
    }

    /// <summary>
    /// Writes dx and accumulates dWeight += Σ_rows dy·x̂ and dBias += Σ_rows dy (x̂ = (x − mean)·rstd):
    /// dx = rstd·(dy·w − mean(dy·w) − x̂·mean(dy·w·x̂)). An empty <paramref name="dBias"/> skips the bias gradient.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer length does not match (rows, C).</exception>
    public static void LayerNormBackward(
        ReadOnlySpan<float> x,      // (rows, C)
        ReadOnlySpan<float> weight, // (C)
        ReadOnlySpan<float> mean,   // (rows)
        ReadOnlySpan<float> rstd,   // (rows)
        ReadOnlySpan<float> dy,     // (rows, C)
        Span<float> dx,             // (rows, C), overwritten
        Span<float> dWeight,        // (C), accumulated
        Span<float> dBias,          // (C) or empty, accumulated
        int rows, int channels)
    {
        CheckShape(rows, channels, 0f);
        Check(x.Length, (long)rows * channels, nameof(x), rows, channels);
        Check(weight.Length, channels, nameof(weight), rows, channels);
        Check(mean.Length, rows, nameof(mean), rows, channels);
        Check(rstd.Length, rows, nameof(rstd), rows, channels);
        Check(dy.Length, (long)rows * channels, nameof(dy), rows, channels);
        Check(dx.Length, (long)rows * channels, nameof(dx), rows, channels);
        Check(dWeight.Length, channels, nameof(dWeight), rows, channels);
        if (!dBias.IsEmpty)
        {
            Check(dBias.Length, channels, nameof(dBias), rows, channels);
        }
        for (int r = 0; r < rows; r++)
        {
            int o = r * channels;
            Backward(x.Slice(o, channels), weight, mean[r], rstd[r], dy.Slice(o, channels), dx.Slice(o, channels), dWeight, dBias, channels);
        }
    }

    /// <summary>
    /// Llama RMSNorm in float32: y = x·rstd·weight, rstd = 1/√(mean(x²) + eps), saving rstd per row.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer length does not match (rows, C).</exception>
    /// <exception cref="ArgumentOutOfRangeException">rows &lt; 0, C &lt; 1 or eps is negative or not finite.</exception>
    public static void RmsNormForward(
        ReadOnlySpan<float> x,      // (rows, C)
        ReadOnlySpan<float> weight, // (C)
        Span<float> y,              // (rows, C)
        Span<float> rstd,           // (rows)
        int rows, int channels, float eps)
    {
        CheckShape(rows, channels, eps);
        Check(x.Length, (long)rows * channels, nameof(x), rows, channels);
        Check(weight.Length, channels, nameof(weight), rows, channels);
        Check(y.Length, (long)rows * channels, nameof(y), rows, channels);
        Check(rstd.Length, rows, nameof(rstd), rows, channels);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * channels, channels);
            float ms = FastMath.SumSquaredDeviation(xr, 0f) / channels;
            float s = 1f / MathF.Sqrt(ms + eps);
            rstd[r] = s;
            Scale(xr, 0f, s, weight, default, y.Slice(r * channels, channels));
        }
    }

    /// <summary>
    /// Writes dx = rstd·(dy·w − x̂·mean(dy·w·x̂)) with x̂ = x·rstd, and accumulates dWeight += Σ_rows dy·x̂.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer length does not match (rows, C).</exception>
    public static void RmsNormBackward(
        ReadOnlySpan<float> x,      // (rows, C)
        ReadOnlySpan<float> weight, // (C)
        ReadOnlySpan<float> rstd,   // (rows)
        ReadOnlySpan<float> dy,     // (rows, C)
        Span<float> dx,             // (rows, C), overwritten
        Span<float> dWeight,        // (C), accumulated
        int rows, int channels)
    {
        CheckShape(rows, channels, 0f);
        Check(x.Length, (long)rows * channels, nameof(x), rows, channels);
        Check(weight.Length, channels, nameof(weight), rows, channels);
        Check(rstd.Length, rows, nameof(rstd), rows, channels);
        Check(dy.Length, (long)rows * channels, nameof(dy), rows, channels);
        Check(dx.Length, (long)rows * channels, nameof(dx), rows, channels);
        Check(dWeight.Length, channels, nameof(dWeight), rows, channels);
        for (int r = 0; r < rows; r++)
        {
            int o = r * channels;
            Backward(x.Slice(o, channels), weight, 0f, rstd[r], dy.Slice(o, channels), dx.Slice(o, channels), dWeight, default, channels, centred: false);
        }
    }

    /// <summary>y = (x − shift)·s·w (+ b). 8 lanes per step; scalar twin for the tail.</summary>
    private static void Scale(ReadOnlySpan<float> x, float shift, float s, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float pw = ref MemoryMarshal.GetReference(w);
        ref float pb = ref MemoryMarshal.GetReference(b);
        ref float py = ref MemoryMarshal.GetReference(y);
        bool hasBias = !b.IsEmpty;
        int n = x.Length;
        int i = 0;
        if (FastMath.IsVectorized)
        {
            Vector256<float> vm = Vector256.Create(shift), vs = Vector256.Create(s);
            for (; i <= n - 8; i += 8)
            {
                Vector256<float> xhat = Avx.Multiply(Avx.Subtract(Vector256.LoadUnsafe(ref px, (nuint)i), vm), vs);
                Vector256<float> wv = Vector256.LoadUnsafe(ref pw, (nuint)i);
                Vector256<float> v = hasBias ? Fma.MultiplyAdd(xhat, wv, Vector256.LoadUnsafe(ref pb, (nuint)i)) : Avx.Multiply(xhat, wv);
                v.StoreUnsafe(ref py, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float xhat = (Unsafe.Add(ref px, i) - shift) * s;
            Unsafe.Add(ref py, i) = hasBias ? MathF.FusedMultiplyAdd(xhat, Unsafe.Add(ref pw, i), Unsafe.Add(ref pb, i)) : xhat * Unsafe.Add(ref pw, i);
        }
    }

    /// <summary>
    /// One row of the normalisation backward. Pass 1 reduces Σ dy·w and Σ dy·w·x̂ (two accumulator pairs,
    /// 16 elements per step); pass 2 writes dx and accumulates the parameter gradients. With
    /// <paramref name="centred"/> false (RMSNorm) the mean term is dropped.
    /// </summary>
    private static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float shift, float s, ReadOnlySpan<float> dy,
        Span<float> dx, Span<float> dW, Span<float> dB, int n, bool centred = true)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float pw = ref MemoryMarshal.GetReference(w);
        ref float pdy = ref MemoryMarshal.GetReference(dy);
        ref float pdx = ref MemoryMarshal.GetReference(dx);
        ref float pdW = ref MemoryMarshal.GetReference(dW);
        ref float pdB = ref MemoryMarshal.GetReference(dB);
        bool hasBias = !dB.IsEmpty;

        float sumG = 0f, sumGX = 0f; // Σ dy·w, Σ dy·w·x̂
        int i = 0;
        if (FastMath.IsVectorized && n >= 8)
        {
            Vector256<float> vm = Vector256.Create(shift), vs = Vector256.Create(s);
            Vector256<float> g0 = Vector256<float>.Zero, g1 = g0, h0 = g0, h1 = g0;
            for (; i <= n - 16; i += 16)
            {
                Vector256<float> d0 = Avx.Multiply(Vector256.LoadUnsafe(ref pdy, (nuint)i), Vector256.LoadUnsafe(ref pw, (nuint)i));
                Vector256<float> d1 = Avx.Multiply(Vector256.LoadUnsafe(ref pdy, (nuint)(i + 8)), Vector256.LoadUnsafe(ref pw, (nuint)(i + 8)));
                Vector256<float> x0 = Avx.Multiply(Avx.Subtract(Vector256.LoadUnsafe(ref px, (nuint)i), vm), vs);
                Vector256<float> x1 = Avx.Multiply(Avx.Subtract(Vector256.LoadUnsafe(ref px, (nuint)(i + 8)), vm), vs);
                g0 = Avx.Add(g0, d0);
                g1 = Avx.Add(g1, d1);
                h0 = Fma.MultiplyAdd(d0, x0, h0);
                h1 = Fma.MultiplyAdd(d1, x1, h1);
            }
            for (; i <= n - 8; i += 8)
            {
                Vector256<float> d0 = Avx.Multiply(Vector256.LoadUnsafe(ref pdy, (nuint)i), Vector256.LoadUnsafe(ref pw, (nuint)i));
                Vector256<float> x0 = Avx.Multiply(Avx.Subtract(Vector256.LoadUnsafe(ref px, (nuint)i), vm), vs);
                g0 = Avx.Add(g0, d0);
                h0 = Fma.MultiplyAdd(d0, x0, h0);
            }
            sumG = FastMath.HorizontalSum(Avx.Add(g0, g1));
            sumGX = FastMath.HorizontalSum(Avx.Add(h0, h1));
        }
        for (; i < n; i++)
        {
            float d = Unsafe.Add(ref pdy, i) * Unsafe.Add(ref pw, i);
            sumG += d;
            sumGX = MathF.FusedMultiplyAdd(d, (Unsafe.Add(ref px, i) - shift) * s, sumGX);
        }
        float a = centred ? sumG / n : 0f;
        float b = sumGX / n;

        i = 0;
        if (FastMath.IsVectorized)
        {
            Vector256<float> vm = Vector256.Create(shift), vs = Vector256.Create(s), va = Vector256.Create(a), vb = Vector256.Create(b);
            for (; i <= n - 8; i += 8)
            {
                Vector256<float> g = Vector256.LoadUnsafe(ref pdy, (nuint)i);
                Vector256<float> xhat = Avx.Multiply(Avx.Subtract(Vector256.LoadUnsafe(ref px, (nuint)i), vm), vs);
                Fma.MultiplyAdd(g, xhat, Vector256.LoadUnsafe(ref pdW, (nuint)i)).StoreUnsafe(ref pdW, (nuint)i);
                if (hasBias)
                {
                    Avx.Add(Vector256.LoadUnsafe(ref pdB, (nuint)i), g).StoreUnsafe(ref pdB, (nuint)i);
                }
                Vector256<float> d = Avx.Multiply(g, Vector256.LoadUnsafe(ref pw, (nuint)i));
                Avx.Multiply(Fma.MultiplyAddNegated(xhat, vb, Avx.Subtract(d, va)), vs).StoreUnsafe(ref pdx, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float g = Unsafe.Add(ref pdy, i);
            float xhat = (Unsafe.Add(ref px, i) - shift) * s;
            Unsafe.Add(ref pdW, i) = MathF.FusedMultiplyAdd(g, xhat, Unsafe.Add(ref pdW, i));
            if (hasBias)
            {
                Unsafe.Add(ref pdB, i) += g;
            }
            float d = g * Unsafe.Add(ref pw, i);
            Unsafe.Add(ref pdx, i) = MathF.FusedMultiplyAdd(-xhat, b, d - a) * s;
        }
    }

    private static void CheckShape(int rows, int channels, float eps)
    {
        if (rows < 0 || channels < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(channels), $"Shape (rows={rows}, C={channels}) is invalid: rows must be ≥ 0 and C ≥ 1.");
        }
        if (!(eps >= 0f) || float.IsInfinity(eps))
        {
            throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be a finite non-negative number.");
        }
    }

    private static void Check(int length, long expected, string name, int rows, int channels)
    {
        if (length != expected)
        {
            throw new ArgumentException($"{name} has {length} elements but shape (rows={rows}, C={channels}) needs {expected}.", name);
        }
    }
}
