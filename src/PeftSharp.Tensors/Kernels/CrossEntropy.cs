using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

/// <summary>
/// Cross-entropy fused from logits and integer targets (PyTorch <c>F.cross_entropy</c> semantics with
/// <c>ignore_index</c> and <c>label_smoothing</c>), forward and backward, never materialising probabilities.
/// </summary>
/// <remarks>
/// Shapes: rows = B·T positions, V = vocabulary. logits (rows, V), targets (rows), losses (rows), logSumExp (rows).
/// Per counted row (target ≠ ignoreIndex), with lse = log Σ_c e^{x_c}:
/// loss = (1 − ε)·(lse − x_target) + ε·(lse − mean_c x_c), i.e. (1 − ε)·nll + ε·mean_c(−log p_c).
/// Ignored rows get loss 0 and a zero gradient, and are not counted; the mean reduction divides by the count.
/// All exponentials are shifted by the row maximum, so large logits are safe.
/// Rows are independent: callers parallelise by slicing all buffers at the same row boundaries and adding the counts.
/// </remarks>
public static class CrossEntropy
{
    /// <summary>PyTorch's default ignore index.</summary>
    public const int DefaultIgnoreIndex = -100;

    /// <summary>
    /// Writes each row's loss and log-sum-exp (saved for <see cref="Backward"/>) and returns the number of
    /// counted rows.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer length does not match (rows, V).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is outside [0, V) and not <paramref name="ignoreIndex"/>, or ε ∉ [0, 1].</exception>
    public static int Forward(
        ReadOnlySpan<float> logits,  // (rows, V)
        ReadOnlySpan<int> targets,   // (rows)
        Span<float> losses,          // (rows)
        Span<float> logSumExp,       // (rows)
        int rows, int vocab,
        float labelSmoothing = 0f,
        int ignoreIndex = DefaultIgnoreIndex)
    {
        Validate(logits.Length, targets, rows, vocab, labelSmoothing, ignoreIndex);
        CheckLength(losses.Length, rows, nameof(losses), rows, vocab);
        CheckLength(logSumExp.Length, rows, nameof(logSumExp), rows, vocab);
        int counted = 0;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> x = logits.Slice(r * vocab, vocab);
            float max = FastMath.Max(x);
            float lse = max + MathF.Log(FastMath.SumExp(x, max));
            logSumExp[r] = lse;
            int t = targets[r];
            if (t == ignoreIndex)
            {
                losses[r] = 0f;
                continue;
            }
            counted++;
            float nll = lse - x[t];
            losses[r] = labelSmoothing == 0f
                ? nll
                : (1f - labelSmoothing) * nll + labelSmoothing * (lse - FastMath.Sum(x) / vocab);
        }
        return counted;
    }

    /// <summary>Mean of the per-row losses over <paramref name="counted"/> rows (float64 accumulation); NaN when no row counted, as in PyTorch.</summary>
    public static float Mean(ReadOnlySpan<float> losses, int counted)
    {
        double sum = 0;
        foreach (float l in losses)
        {
            sum += l;
        }
        return (float)(sum / counted);
    }

    /// <summary>
    /// dlogits = (softmax(x) − q)·scale for counted rows, where q is the smoothed one-hot
    /// ((1 − ε) at the target plus ε/V everywhere); ignored rows get 0. For the mean reduction pass
    /// scale = dLoss / counted. <paramref name="dLogits"/> may alias <paramref name="logits"/> (in-place backward).
    /// </summary>
    /// <exception cref="ArgumentException">A buffer length does not match (rows, V).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is outside [0, V) and not <paramref name="ignoreIndex"/>, or ε ∉ [0, 1].</exception>
    public static void Backward(
        ReadOnlySpan<float> logits,     // (rows, V)
        ReadOnlySpan<int> targets,      // (rows)
        ReadOnlySpan<float> logSumExp,  // (rows) from Forward
        Span<float> dLogits,            // (rows, V)
        int rows, int vocab,
        float scale,
        float labelSmoothing = 0f,
        int ignoreIndex = DefaultIgnoreIndex)
    {
        Validate(logits.Length, targets, rows, vocab, labelSmoothing, ignoreIndex);
        CheckLength(logSumExp.Length, rows, nameof(logSumExp), rows, vocab);
        CheckLength(dLogits.Length, (long)rows * vocab, nameof(dLogits), rows, vocab);
        float uniform = labelSmoothing / vocab * scale;
        float onTarget = (1f - labelSmoothing) * scale;
        for (int r = 0; r < rows; r++)
        {
            Span<float> d = dLogits.Slice(r * vocab, vocab);
            int t = targets[r];
            if (t == ignoreIndex)
            {
                d.Clear();
                continue;
            }
            ReadOnlySpan<float> x = logits.Slice(r * vocab, vocab);
            float lse = logSumExp[r];
            // d[c] = e^(x[c] − lse)·scale − (ε/V)·scale: 8 lanes per step, scalar twin for the tail.
            ref float px = ref MemoryMarshal.GetReference(x);
            ref float pd = ref MemoryMarshal.GetReference(d);
            int i = 0;
            if (FastMath.IsVectorized)
            {
                Vector256<float> shift = Vector256.Create(lse);
                Vector256<float> s = Vector256.Create(scale);
                Vector256<float> u = Vector256.Create(uniform);
                for (; i <= vocab - 8; i += 8)
                {
                    Vector256<float> p = FastMath.Exp(Avx.Subtract(Vector256.LoadUnsafe(ref px, (nuint)i), shift));
                    Fma.MultiplySubtract(p, s, u).StoreUnsafe(ref pd, (nuint)i);
                }
            }
            for (; i < vocab; i++)
            {
                float p = FastMath.Exp(Unsafe.Add(ref px, i) - lse);
                Unsafe.Add(ref pd, i) = MathF.FusedMultiplyAdd(p, scale, -uniform);
            }
            d[t] -= onTarget;
        }
    }

    private static void Validate(int logitsLength, ReadOnlySpan<int> targets, int rows, int vocab, float labelSmoothing, int ignoreIndex)
    {
        if (rows < 0 || vocab <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(vocab), $"Shape (rows={rows}, V={vocab}) is invalid: rows must be ≥ 0 and V ≥ 1.");
        }
        CheckLength(logitsLength, (long)rows * vocab, "logits", rows, vocab);
        CheckLength(targets.Length, rows, nameof(targets), rows, vocab);
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "Label smoothing must be in [0, 1].");
        }
        for (int r = 0; r < targets.Length; r++)
        {
            int t = targets[r];
            if (t != ignoreIndex && (uint)t >= (uint)vocab)
            {
                throw new ArgumentOutOfRangeException(nameof(targets), t, $"targets[{r}] = {t} is outside [0, {vocab}) and is not the ignore index {ignoreIndex}.");
            }
        }
    }

    private static void CheckLength(int length, long expected, string name, int rows, int vocab)
    {
        if (length != expected)
        {
            throw new ArgumentException($"{name} has {length} elements but shape (rows={rows}, V={vocab}) needs {expected}.", name);
        }
    }
}
