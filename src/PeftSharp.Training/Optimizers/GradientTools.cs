using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using PeftSharp.Tensors;

namespace PeftSharp.Training.Optimizers;

/// <summary>Gradient utilities used between backward and the optimizer step. None of them allocates.</summary>
public static class GradientTools
{
    /// <summary>
    /// The global L2 norm of all gradients (parameters without a gradient are skipped), as
    /// <c>torch.nn.utils.clip_grad_norm_</c> computes it: the float32 norm of each gradient, then the float32 norm of
    /// those norms. Squares are summed in double, so the result is the float32 rounding of a more exact sum.
    /// </summary>
    public static float GlobalNorm(IReadOnlyList<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        double total = 0;
        for (int i = 0; i < parameters.Count; i++)
        {
            if (parameters[i].Grad is { } g)
            {
                float norm = (float)Math.Sqrt(SumOfSquares(g.Span));
                total += (double)norm * norm;
            }
        }
        return (float)Math.Sqrt(total);
    }

    /// <summary>
    /// Scales every gradient by <c>maxNorm / (norm + 1e-6)</c> when that factor is below 1 (torch
    /// <c>clip_grad_norm_</c> semantics) and returns the norm before clipping. When the norm is NaN or infinite
    /// the gradients are left as they are and the non-finite norm is returned, so the caller can stop the run.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxNorm"/> is not a positive finite number.</exception>
    public static float ClipGradNorm(IReadOnlyList<Tensor> parameters, double maxNorm)
    {
        if (!double.IsFinite(maxNorm) || maxNorm <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "The clipping norm must be a positive finite number.");
        }
        float norm = GlobalNorm(parameters);
        if (!float.IsFinite(norm))
        {
            return norm;
        }
        float coefficient = (float)maxNorm / (norm + 1e-6f);
        if (coefficient < 1f)
        {
            for (int i = 0; i < parameters.Count; i++)
            {
                if (parameters[i].Grad is { } g)
                {
                    var s = g.Span;
                    System.Numerics.Tensors.TensorPrimitives.Multiply(s, coefficient, s);
                }
            }
        }
        return norm;
    }

    /// <summary>True when every gradient element is finite (parameters without a gradient count as finite).</summary>
    public static bool AllFinite(IReadOnlyList<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        for (int i = 0; i < parameters.Count; i++)
        {
            if (parameters[i].Grad is { } g && !double.IsFinite(SumOfSquares(g.Span)))
            {
                // x² overflows for |x| > ~1e154 only in double, so a non-finite sum means a NaN or ±Inf element.
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Σ x² accumulated in double. Lanes: each Vector256 of 8 floats widens into two Vector256 of 4 doubles,
    /// squared and added to two accumulators; the tail (fewer than 8) is added one element at a time. Equal
    /// to the scalar loop <c>for i: s += (double)x[i] * x[i]</c> up to the order of the double additions.
    /// </summary>
    internal static double SumOfSquares(ReadOnlySpan<float> x)
    {
        int i = 0;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= Vector256<float>.Count)
        {
            ref float r = ref MemoryMarshal.GetReference(x);
            var a0 = Vector256<double>.Zero;
            var a1 = Vector256<double>.Zero;
            int last = x.Length - Vector256<float>.Count;
            for (; i <= last; i += Vector256<float>.Count)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref r, (nuint)i));
                a0 += lo * lo;
                a1 += hi * hi;
            }
            sum = Vector256.Sum(a0 + a1);
        }
        for (; i < x.Length; i++)
        {
            sum += (double)x[i] * x[i];
        }
        return sum;
    }
}
