using PeftSharp.Tensors;

namespace PeftSharp.Peft.Merging;

/// <summary>Majority-sign rule of TIES merging.</summary>
public enum MajoritySignMethod
{
    /// <summary>"total": the sign of the (unweighted) sum of the pruned tensors.</summary>
    Total,
    /// <summary>"frequency": the sign that occurs most often.</summary>
    Frequency,
}

/// <summary>
/// Task-vector merging rules (Hugging Face PEFT's merge_utils) over same-shaped float32 tensors t_i with weights w_i:
/// weighted sum; magnitude pruning (keep the k = ⌊density·n⌋ largest |x|); DARE random pruning (keep each entry with
/// probability density and divide by density); TIES (prune, elect a sign per entry, average the agreeing entries).
/// Sums accumulate in float64 and are rounded once.
/// </summary>
public static class TaskArithmetic
{
    /// <summary>Σ w_i t_i.</summary>
    public static float[] WeightedSum(IReadOnlyList<float[]> tensors, IReadOnlyList<float> weights)
    {
        int n = SameLength(tensors);
        var result = new float[n];
        for (int j = 0; j < n; j++)
        {
            double sum = 0;
            for (int i = 0; i < tensors.Count; i++)
            {
                sum += (double)weights[i] * tensors[i][j];
            }
            result[j] = (float)sum;
        }
        return result;
    }

    /// <summary>A copy of <paramref name="t"/> with all but its ⌊density·n⌋ largest-magnitude entries set to zero (ties: lower index kept).</summary>
    public static float[] MagnitudePrune(float[] t, double density)
    {
        CheckDensity(density);
        int k = (int)(density * t.Length);
        var order = Enumerable.Range(0, t.Length).OrderByDescending(i => MathF.Abs(t[i])).ThenBy(i => i).Take(k);
        var result = new float[t.Length];
        foreach (var i in order)
        {
            result[i] = t[i];
        }
        return result;
    }

    /// <summary>DARE: each entry kept with probability <paramref name="density"/> (drawn from <paramref name="rng"/>) and divided by density.</summary>
    public static float[] RandomPrune(float[] t, double density, Rng rng)
    {
        CheckDensity(density);
        var result = new float[t.Length];
        for (int i = 0; i < t.Length; i++)
        {
            if (rng.NextDouble() < density)
            {
                result[i] = (float)(t[i] / density);
            }
        }
        return result;
    }

    /// <summary>
    /// TIES disjoint merge of already pruned tensors: M = sign of Σ t_i (Total) or of Σ sign(t_i) (Frequency), +1 where
    /// that is ≥ 0; result = Σ w_i t_i [sign(t_i) = M] / max(1, Σ [sign(t_i) = M]).
    /// </summary>
    public static float[] DisjointMerge(IReadOnlyList<float[]> pruned, IReadOnlyList<float> weights, MajoritySignMethod method)
    {
        int n = SameLength(pruned);
        var result = new float[n];
        for (int j = 0; j < n; j++)
        {
            double magnitude = 0;
            for (int i = 0; i < pruned.Count; i++)
            {
                magnitude += method == MajoritySignMethod.Total ? pruned[i][j] : MathF.Sign(pruned[i][j]);
            }
            int majority = magnitude >= 0 ? 1 : -1;
            double sum = 0;
            int kept = 0;
            for (int i = 0; i < pruned.Count; i++)
            {
                if (MathF.Sign(pruned[i][j]) == majority)
                {
                    sum += (double)weights[i] * pruned[i][j];
                    kept++;
                }
            }
            result[j] = (float)(sum / System.Math.Max(1, kept));
        }
        return result;
    }

    private static int SameLength(IReadOnlyList<float[]> tensors)
    {
        if (tensors.Count == 0)
        {
            throw new ArgumentException("At least one tensor is needed.");
        }
        int n = tensors[0].Length;
        if (tensors.Any(t => t.Length != n))
        {
            throw new ArgumentException($"Tensors to merge must have the same size; got {string.Join(", ", tensors.Select(t => t.Length))}.");
        }
        return n;
    }

    private static void CheckDensity(double density)
    {
        if (!(density is > 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(density), $"density must be in (0, 1]; got {density}.");
        }
    }
}
