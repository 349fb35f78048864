using PeftSharp.Tensors;

namespace PeftSharp.Models.Generation;

/// <summary>
/// The logits processors and the token choice of generation, on one row of logits (V). Removed tokens get −∞, as
/// transformers' warpers do, so they have probability zero in <see cref="Sample"/>. Each method states its definition.
/// </summary>
public static class Sampling
{
    /// <summary>
    /// For every distinct id in <paramref name="seen"/>: logit / penalty when the logit is positive, logit · penalty
    /// otherwise (transformers' RepetitionPenaltyLogitsProcessor). Duplicates in <paramref name="seen"/> are applied once.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id lies outside the logits.</exception>
    public static void ApplyRepetitionPenalty(Span<float> logits, ReadOnlySpan<int> seen, float penalty)
    {
        if (penalty == 1f || seen.IsEmpty)
        {
            return;
        }
        var done = new HashSet<int>();
        foreach (int id in seen)
        {
            if ((uint)id >= (uint)logits.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(seen), id, $"Token id {id} is outside the {logits.Length} logits.");
            }
            if (done.Add(id))
            {
                float x = logits[id];
                logits[id] = x > 0f ? x / penalty : x * penalty;
            }
        }
    }

    /// <summary>Divides every logit by <paramref name="temperature"/>.</summary>
    public static void ApplyTemperature(Span<float> logits, float temperature)
    {
        if (temperature == 1f)
        {
            return;
        }
        for (int i = 0; i < logits.Length; i++)
        {
            logits[i] = logits[i] / temperature;
        }
    }

    /// <summary>
    /// Sets to −∞ every logit below the k-th largest (transformers' TopKLogitsWarper: ties with the k-th are kept).
    /// k ≤ 0 or k ≥ V leaves the logits unchanged.
    /// </summary>
    public static void ApplyTopK(Span<float> logits, int k)
    {
        if (k <= 0 || k >= logits.Length)
        {
            return;
        }
        var sorted = logits.ToArray();
        Array.Sort(sorted);                       // ascending: the k-th largest is at V − k
        float threshold = sorted[sorted.Length - k];
        for (int i = 0; i < logits.Length; i++)
        {
            if (logits[i] < threshold)
            {
                logits[i] = float.NegativeInfinity;
            }
        }
    }

    /// <summary>
    /// Keeps the smallest set of most likely tokens whose softmax probabilities sum to at least
    /// <paramref name="p"/> (nucleus sampling; always at least one token) and sets the others to −∞. Tokens are taken
    /// in descending logit order, ties by ascending id. p ≥ 1 leaves the logits unchanged.
    /// </summary>
    public static void ApplyTopP(Span<float> logits, float p)
    {
        if (p >= 1f || logits.IsEmpty)
        {
            return;
        }
        var probs = Softmax(logits);
        var order = new int[logits.Length];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }
        var keys = logits.ToArray();
        Array.Sort(order, (a, b) => keys[a] != keys[b] ? keys[b].CompareTo(keys[a]) : a.CompareTo(b));
        double cumulative = 0;
        int kept = 0;
        while (kept < order.Length && (kept == 0 || cumulative < p))
        {
            cumulative += probs[order[kept]];
            kept++;
        }
        for (int i = kept; i < order.Length; i++)
        {
            logits[order[i]] = float.NegativeInfinity;
        }
    }

    /// <summary>Index of the largest logit; the first one on ties.</summary>
    /// <exception cref="ArgumentException">The row is empty.</exception>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("ArgMax of an empty row.");
        }
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }
        return best;
    }

    /// <summary>
    /// Draws an index from softmax(<paramref name="logits"/>) (computed in float64) with one uniform draw of
    /// <paramref name="rng"/>: the first index whose cumulative probability exceeds u. −∞ logits are never drawn.
    /// </summary>
    /// <exception cref="ArgumentException">The row is empty or holds no finite logit.</exception>
    public static int Sample(ReadOnlySpan<float> logits, Rng rng)
    {
        var probs = Softmax(logits);
        double u = rng.NextDouble();
        double cumulative = 0;
        int last = -1;
        for (int i = 0; i < probs.Length; i++)
        {
            if (probs[i] <= 0)
            {
                continue;
            }
            cumulative += probs[i];
            last = i;
            if (u < cumulative)
            {
                return i;
            }
        }
        // Rounding left the total a hair below 1 and u landed above it: the last possible token.
        return last;
    }

    /// <summary>softmax in float64; −∞ entries get probability 0.</summary>
    /// <exception cref="ArgumentException">The row is empty, holds a NaN, or has no finite logit.</exception>
    public static double[] Softmax(ReadOnlySpan<float> logits)
    {
        float max = float.NegativeInfinity;
        foreach (float x in logits)
        {
            if (float.IsNaN(x))
            {
                throw new ArgumentException("The logits hold a NaN.");
            }
            max = Math.Max(max, x);
        }
        if (!float.IsFinite(max))
        {
            throw new ArgumentException(logits.IsEmpty ? "Softmax of an empty row." : "Every logit is −∞ (or one is +∞): no token can be drawn.");
        }
        var p = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++)
        {
            p[i] = Math.Exp((double)logits[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.Length; i++)
        {
            p[i] /= sum;
        }
        return p;
    }
}
