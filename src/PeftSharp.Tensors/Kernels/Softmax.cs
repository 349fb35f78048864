using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

/// <summary>
/// Softmax and log-softmax over the last dimension of a (rows, n) row-major buffer, forward and backward.
/// </summary>
/// <remarks>
/// Shapes: rows = B·T (or B·H·T), n = C or V. Every buffer is (rows, n) unless stated.
/// Each row is independent: callers parallelise by slicing all buffers at the same row boundaries.
/// Forward is max-shifted (exp(x − max)), so large logits do not overflow; a row of all −∞ gives NaN,
/// as in PyTorch. Outputs may alias their inputs. No allocation.
/// </remarks>
public static class Softmax
{
    /// <summary>y = softmax(x) per row.</summary>
    /// <exception cref="ArgumentException">A buffer is not rows·n long.</exception>
    public static void Forward(
        ReadOnlySpan<float> x, // (rows, n)
        Span<float> y,         // (rows, n)
        int rows, int n)
    {
        CheckRows(rows, n, x.Length, nameof(x));
        CheckRows(rows, n, y.Length, nameof(y));
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * n, n);
            Span<float> yr = y.Slice(r * n, n);
            float max = FastMath.Max(xr);
            float sum = FastMath.ExpShiftStoreSum(xr, max, yr);
            TensorPrimitives.Multiply(yr, 1f / sum, yr);
        }
    }

    /// <summary>dx = y ⊙ (dy − Σ dy⊙y) per row, from the forward output y.</summary>
    /// <exception cref="ArgumentException">A buffer is not rows·n long.</exception>
    public static void Backward(
        ReadOnlySpan<float> y,  // (rows, n) forward output
        ReadOnlySpan<float> dy, // (rows, n)
        Span<float> dx,         // (rows, n), may alias dy
        int rows, int n)
    {
        CheckRows(rows, n, y.Length, nameof(y));
        CheckRows(rows, n, dy.Length, nameof(dy));
        CheckRows(rows, n, dx.Length, nameof(dx));
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> yr = y.Slice(r * n, n);
            ReadOnlySpan<float> dyr = dy.Slice(r * n, n);
            Span<float> dxr = dx.Slice(r * n, n);
            float dot = FastMath.Dot(dyr, yr);
            ref float py = ref MemoryMarshal.GetReference(yr);
            ref float pd = ref MemoryMarshal.GetReference(dyr);
            ref float px = ref MemoryMarshal.GetReference(dxr);
            int i = 0;
            if (FastMath.IsVectorized)
            {
                Vector256<float> s = Vector256.Create(dot);
                for (; i <= n - 8; i += 8)
                {
                    Vector256<float> yv = Vector256.LoadUnsafe(ref py, (nuint)i);
                    Avx.Multiply(yv, Avx.Subtract(Vector256.LoadUnsafe(ref pd, (nuint)i), s)).StoreUnsafe(ref px, (nuint)i);
                }
            }
            for (; i < n; i++)
            {
                Unsafe.Add(ref px, i) = Unsafe.Add(ref py, i) * (Unsafe.Add(ref pd, i) - dot);
            }
        }
    }

    /// <summary>y = x − max − log Σ e^(x − max) per row.</summary>
    /// <exception cref="ArgumentException">A buffer is not rows·n long.</exception>
    public static void LogForward(
        ReadOnlySpan<float> x, // (rows, n)
        Span<float> y,         // (rows, n)
        int rows, int n)
    {
        CheckRows(rows, n, x.Length, nameof(x));
        CheckRows(rows, n, y.Length, nameof(y));
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * n, n);
            float max = FastMath.Max(xr);
            float lse = max + MathF.Log(FastMath.SumExp(xr, max));
            TensorPrimitives.Subtract(xr, lse, y.Slice(r * n, n));
        }
    }

    /// <summary>dx = dy − softmax ⊙ Σ dy per row, with softmax = e^y recovered from the forward output y.</summary>
    /// <exception cref="ArgumentException">A buffer is not rows·n long.</exception>
    public static void LogBackward(
        ReadOnlySpan<float> y,  // (rows, n) forward output (log-probabilities)
        ReadOnlySpan<float> dy, // (rows, n)
        Span<float> dx,         // (rows, n), may alias dy
        int rows, int n)
    {
        CheckRows(rows, n, y.Length, nameof(y));
        CheckRows(rows, n, dy.Length, nameof(dy));
        CheckRows(rows, n, dx.Length, nameof(dx));
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> yr = y.Slice(r * n, n);
            ReadOnlySpan<float> dyr = dy.Slice(r * n, n);
            Span<float> dxr = dx.Slice(r * n, n);
            float total = FastMath.Sum(dyr);
            ref float py = ref MemoryMarshal.GetReference(yr);
            ref float pd = ref MemoryMarshal.GetReference(dyr);
            ref float px = ref MemoryMarshal.GetReference(dxr);
            int i = 0;
            if (FastMath.IsVectorized)
            {
                Vector256<float> s = Vector256.Create(total);
                for (; i <= n - 8; i += 8)
                {
                    Vector256<float> p = FastMath.Exp(Vector256.LoadUnsafe(ref py, (nuint)i));
                    Fma.MultiplyAddNegated(p, s, Vector256.LoadUnsafe(ref pd, (nuint)i)).StoreUnsafe(ref px, (nuint)i);
                }
            }
            for (; i < n; i++)
            {
                Unsafe.Add(ref px, i) = MathF.FusedMultiplyAdd(-FastMath.Exp(Unsafe.Add(ref py, i)), total, Unsafe.Add(ref pd, i));
            }
        }
    }

    internal static void CheckRows(int rows, int n, int length, string name)
    {
        if (rows < 0 || n < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), $"Shape ({rows}, {n}) has a negative dimension.");
        }
        if ((long)rows * n != length)
        {
            throw new ArgumentException($"{name} has {length} elements but shape (rows={rows}, n={n}) needs {(long)rows * n}.", name);
        }
    }
}
