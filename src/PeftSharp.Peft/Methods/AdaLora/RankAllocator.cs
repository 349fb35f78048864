using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.AdaLora;

/// <summary>
/// AdaLoRA's rank allocator, as Hugging Face PEFT 0.14 defines it. Each step it scores every entry of A, E and B by
/// its sensitivity |p·∂L/∂p|, smoothed as Ī ← β₁Ī + (1−β₁)I, and its uncertainty Ū ← β₂Ū + (1−β₂)|I − Ī|; a
/// triplet k of a module scores s_k = Ī_E·Ū_E[k] + mean_i(Ī_A·Ū_A)[k, i] + mean_o(Ī_B·Ū_B)[o, k]. The budget (total
/// kept triplets) falls from Σ init ranks to target_r × modules on a cubic schedule between tinit and
/// total_step − tfinal; when the schedule says so, every triplet scoring at most the (Σ ranks − budget)-th smallest
/// score is pruned by setting its E to 0.
/// </summary>
public sealed class RankAllocator
{
    /// <summary>One adapted module: its rank_pattern key ("&lt;module&gt;.lora_E") and its A (r, in), E (r, 1), B (out, r).</summary>
    public sealed record Triplets(string Key, Tensor A, Tensor E, Tensor B);

    private readonly AdaLoraConfig _config;
    private readonly IReadOnlyList<Triplets> _modules;
    private readonly Dictionary<Tensor, (float[] Sensitivity, float[] Uncertainty)> _scores = new(ReferenceEqualityComparer.Instance);

    public RankAllocator(AdaLoraConfig config, IReadOnlyList<Triplets> modules)
    {
        _config = config;
        _modules = modules;
        InitialBudget = modules.Sum(m => m.A.Dim(0));
        TargetBudget = config.TargetR * modules.Count;
    }

    /// <summary>Σ of the modules' ranks at the start.</summary>
    public int InitialBudget { get; }

    /// <summary>target_r × number of modules.</summary>
    public int TargetBudget { get; }

    /// <summary>
    /// PEFT's budget_schedule: up to tinit the full budget and no masking; after total_step − tfinal the target budget
    /// with masking; in between ⌊(init − target)·(1 − (t − tinit)/(total − tfinal − tinit))³ + target⌋, masking every
    /// deltaT steps.
    /// </summary>
    public (int Budget, bool Mask) BudgetSchedule(long step)
    {
        int tinit = _config.Tinit, tfinal = _config.Tfinal, total = _config.TotalStep ?? throw new InvalidOperationException("total_step is not set.");
        if (step <= tinit)
        {
            return (InitialBudget, false);
        }
        if (step > total - tfinal)
        {
            return (TargetBudget, true);
        }
        double mul = 1 - (double)(step - tinit) / (total - tfinal - tinit);
        int budget = (int)((InitialBudget - TargetBudget) * (mul * mul * mul) + TargetBudget);
        return (budget, step % _config.DeltaT == 0);
    }

    /// <summary>Updates the smoothed sensitivity and uncertainty of every A, E and B entry from its value and gradient.</summary>
    public void UpdateImportance()
    {
        float b1 = (float)_config.Beta1, b2 = (float)_config.Beta2;
        foreach (var m in _modules)
        {
            foreach (var p in new[] { m.A, m.E, m.B })
            {
                var g = p.Grad ?? throw new InvalidOperationException($"{m.Key}: a parameter has no gradient; update the importance after backward and before zeroing gradients.");
                var values = p.ToArray();
                var grads = g.ToArray();
                if (!_scores.TryGetValue(p, out var s))
                {
                    s = (new float[values.Length], new float[values.Length]);
                    _scores[p] = s;
                }
                for (int i = 0; i < values.Length; i++)
                {
                    float ipt = MathF.Abs(values[i] * grads[i]);
                    s.Sensitivity[i] = b1 * s.Sensitivity[i] + (1 - b1) * ipt;
                    s.Uncertainty[i] = b2 * s.Uncertainty[i] + (1 - b2) * MathF.Abs(ipt - s.Sensitivity[i]);
                }
            }
        }
    }

    /// <summary>The smoothed sensitivity and uncertainty of a parameter (zeros before the first update).</summary>
    public (float[] Sensitivity, float[] Uncertainty) Scores(Tensor parameter) =>
        _scores.TryGetValue(parameter, out var s) ? (s.Sensitivity.ToArray(), s.Uncertainty.ToArray()) : (new float[parameter.Numel], new float[parameter.Numel]);

    /// <summary>Forgets all scores (PEFT resets them once the allocation is final).</summary>
    public void ResetImportance() => _scores.Clear();

    /// <summary>The score s_k of every triplet of every module, in module order.</summary>
    public IReadOnlyList<double[]> TripletScores()
    {
        var result = new List<double[]>();
        foreach (var m in _modules)
        {
            int r = m.A.Dim(0), inF = m.A.Dim(1), outF = m.B.Dim(0);
            var (sa, ua) = Scores(m.A);
            var (se, ue) = Scores(m.E);
            var (sb, ub) = Scores(m.B);
            var t = new double[r];
            for (int k = 0; k < r; k++)
            {
                double a = 0, b = 0;
                for (int i = 0; i < inF; i++)
                {
                    a += (double)sa[k * inF + i] * ua[k * inF + i];
                }
                for (int o = 0; o < outF; o++)
                {
                    b += (double)sb[o * r + k] * ub[o * r + k];
                }
                t[k] = (double)se[k] * ue[k] + a / inF + b / outF;
            }
            result.Add(t);
        }
        return result;
    }

    /// <summary>
    /// Prunes to <paramref name="budget"/>: zeroes E of every triplet scoring at most the (Σ ranks − budget)-th
    /// smallest score (ties are all pruned, as in PEFT) and returns, per module key, which triplets remain.
    /// </summary>
    public Dictionary<string, bool[]> MaskToBudget(int budget)
    {
        var scores = TripletScores();
        int k = InitialBudget - budget;
        double threshold = double.NegativeInfinity;
        if (k > 0)
        {
            var all = scores.SelectMany(s => s).OrderBy(v => v).ToArray();
            threshold = all[System.Math.Min(k, all.Length) - 1];
        }
        var pattern = new Dictionary<string, bool[]>(StringComparer.Ordinal);
        for (int m = 0; m < _modules.Count; m++)
        {
            var keep = scores[m].Select(s => !(s <= threshold)).ToArray();
            ZeroPruned(_modules[m].E, keep);
            pattern[_modules[m].Key] = keep;
        }
        return pattern;
    }

    /// <summary>Zeroes E wherever <paramref name="keep"/> is false.</summary>
    public static void ZeroPruned(Tensor e, bool[] keep)
    {
        var s = e.Span;
        for (int i = 0; i < keep.Length; i++)
        {
            if (!keep[i])
            {
                s[i] = 0f;
            }
        }
    }

    /// <summary>
    /// PEFT's RankAllocator.update_and_allocate: before total_step − tfinal the scores are updated; then, when the
    /// schedule masks (or <paramref name="forceMask"/>), the model is pruned to the step's budget and the kept pattern
    /// returned (null when nothing was masked).
    /// </summary>
    public Dictionary<string, bool[]>? UpdateAndAllocate(long step, bool forceMask = false)
    {
        if (step < _config.TotalStep - _config.Tfinal)
        {
            UpdateImportance();
        }
        var (budget, mask) = BudgetSchedule(step);
        return mask || forceMask ? MaskToBudget(budget) : null;
    }
}
