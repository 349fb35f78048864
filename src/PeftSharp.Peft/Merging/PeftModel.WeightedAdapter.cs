using PeftSharp.Peft.Math;
using PeftSharp.Peft.Merging;
using PeftSharp.Peft.Methods.Lora;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Core;

/// <summary>How <see cref="PeftModel.AddWeightedAdapter"/> combines LoRA adapters (Hugging Face's combination_type).</summary>
public enum CombinationType
{
    Svd, Linear, Cat, Ties, TiesSvd, DareLinear, DareTies, DareLinearSvd, DareTiesSvd, MagnitudePrune, MagnitudePruneSvd,
}

public sealed partial class PeftModel
{
    /// <summary>
    /// Combines LoRA adapters into a new adapter <paramref name="adapterName"/> (lora_alpha = r, so its scaling is 1),
    /// targeting the union of their target modules, exactly as Hugging Face PEFT 0.14's add_weighted_adapter:
    /// with c_i = √(w_i·s_i), Linear gives A = Σ c_i A_i and B = Σ c_i B_i; Ties / DareLinear / DareTies /
    /// MagnitudePrune apply their rule to the A_i and to the B_i with the factors c_i; Cat stacks w_i·s_i·A_i and B_i;
    /// the *Svd types combine the full deltas Δ_i = s_i B_i A_i with factors w_i·s_i and keep the top
    /// <paramref name="svdRank"/> singular triplets (B = U·S, A = Vᵀ). DARE masks are drawn from a generator
    /// seeded with <paramref name="seed"/>.
    /// </summary>
    public void AddWeightedAdapter(IReadOnlyList<string> adapters, IReadOnlyList<double> weights, string adapterName,
        CombinationType combinationType = CombinationType.Svd, int? svdRank = null, double density = 1.0,
        MajoritySignMethod majoritySignMethod = MajoritySignMethod.Total, ulong seed = 0)
    {
        if (adapters.Count == 0 || adapters.Count != weights.Count)
        {
            throw new ArgumentException($"{adapters.Count} adapters and {weights.Count} weights: give one weight per adapter, at least one.");
        }
        var configs = adapters.Select(a => _configs.TryGetValue(a, out var c) ? c as LoraConfig ?? throw new NotSupportedException($"Adapter \"{a}\" is {c.PeftType}; only LoRA adapters can be combined.") : throw new KeyNotFoundException($"No adapter \"{a}\".")).ToArray();
        if (configs.Any(c => c.UseDora))
        {
            throw new NotSupportedException("DoRA adapters cannot be combined.");
        }
        bool svd = combinationType is CombinationType.Svd or CombinationType.TiesSvd or CombinationType.DareLinearSvd or CombinationType.DareTiesSvd or CombinationType.MagnitudePruneSvd;
        int newRank;
        if (combinationType == CombinationType.Cat)
        {
            newRank = configs.Sum(c => c.R);
        }
        else if (svd)
        {
            newRank = svdRank ?? configs.Max(c => c.R);
        }
        else
        {
            if (configs.Select(c => c.R).Distinct().Count() != 1)
            {
                throw new ArgumentException($"combination {combinationType} needs adapters of equal r; got [{string.Join(", ", configs.Select(c => c.R))}]. Use Cat or an SVD type.");
            }
            newRank = configs[0].R;
        }
        ModuleSelector targets;
        if (configs.All(c => c.TargetModules?.Names is not null))
        {
            targets = ModuleSelector.List(configs.SelectMany(c => c.TargetModules!.Names!).Distinct().OrderBy(n => n, StringComparer.Ordinal).ToArray());
        }
        else
        {
            targets = ModuleSelector.Regex(string.Join("|", configs.Select(c => "(" + (c.TargetModules!.Pattern ?? string.Join("|", c.TargetModules.Names!.Select(n => @"(.*\.)?" + System.Text.RegularExpressions.Regex.Escape(n)))) + ")")));
        }
        var config = configs[0] with
        {
            R = newRank,
            LoraAlpha = newRank,
            TargetModules = targets,
            RankPattern = [],
            AlphaPattern = [],
            Init = LoraInit.Default,
            UseRsLora = false,
            InferenceMode = false,
        };
        AddAdapter(adapterName, config);
        var rng = new Rng(seed);
        foreach (var (path, layer) in AdapterLayers())
        {
            if (layer is not LoraLayer lora || !lora.HasAdapter(adapterName))
            {
                continue;
            }
            var valid = new List<(string Name, LoraAdapter A, float W)>();
            for (int i = 0; i < adapters.Count; i++)
            {
                if (lora.HasAdapter(adapters[i]))
                {
                    valid.Add((adapters[i], lora.Adapter(adapters[i]), (float)weights[i]));
                }
            }
            var target = lora.Adapter(adapterName);
            if (valid.Count == 0)
            {
                target.A.Span.Clear();
                target.B.Span.Clear();
                continue;
            }
            if (svd)
            {
                CombineSvd(lora, path, valid, target, combinationType, newRank, density, majoritySignMethod, rng);
            }
            else if (combinationType == CombinationType.Cat)
            {
                CombineCat(valid, target);
            }
            else
            {
                // Factors √(w·s) for A and B alike, rounded to float32 as Hugging Face does.
                var factors = valid.Select(v => (float)System.Math.Sqrt(v.W * v.A.Scaling)).ToArray();
                Combine(valid.Select(v => v.A.A.ToArray()).ToArray(), factors, combinationType, density, majoritySignMethod, rng).CopyTo(target.A.Span);
                Combine(valid.Select(v => v.A.B.ToArray()).ToArray(), factors, combinationType, density, majoritySignMethod, rng).CopyTo(target.B.Span);
            }
        }
    }

    private static float[] Combine(float[][] tensors, float[] factors, CombinationType type, double density, MajoritySignMethod method, Rng rng) => type switch
    {
        CombinationType.Linear or CombinationType.Svd => TaskArithmetic.WeightedSum(tensors, factors),
        CombinationType.MagnitudePrune or CombinationType.MagnitudePruneSvd => TaskArithmetic.WeightedSum(tensors.Select(t => TaskArithmetic.MagnitudePrune(t, density)).ToArray(), factors),
        CombinationType.Ties or CombinationType.TiesSvd => TaskArithmetic.DisjointMerge(tensors.Select(t => TaskArithmetic.MagnitudePrune(t, density)).ToArray(), factors, method),
        CombinationType.DareLinear or CombinationType.DareLinearSvd => TaskArithmetic.WeightedSum(tensors.Select(t => TaskArithmetic.RandomPrune(t, density, rng)).ToArray(), factors),
        CombinationType.DareTies or CombinationType.DareTiesSvd => TaskArithmetic.DisjointMerge(tensors.Select(t => TaskArithmetic.RandomPrune(t, density, rng)).ToArray(), factors, method),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a task-arithmetic combination."),
    };

    private static void CombineCat(List<(string Name, LoraAdapter A, float W)> valid, LoraAdapter target)
    {
        var a = target.A.Span;
        var b = target.B.Span;
        a.Clear();
        b.Clear();
        int inF = target.A.Dim(1), outF = target.B.Dim(0), newRank = target.Rank;
        int row = 0;
        foreach (var (_, ad, w) in valid)
        {
            float f = w * ad.Scaling;
            var ai = ad.A.ToArray();
            var bi = ad.B.ToArray();
            for (int k = 0; k < ad.Rank; k++)
            {
                for (int i = 0; i < inF; i++)
                {
                    a[(row + k) * inF + i] = f * ai[k * inF + i];
                }
                for (int o = 0; o < outF; o++)
                {
                    b[o * newRank + row + k] = bi[o * ad.Rank + k];
                }
            }
            row += ad.Rank;
        }
    }

    private static void CombineSvd(LoraLayer layer, string path, List<(string Name, LoraAdapter A, float W)> valid, LoraAdapter target,
        CombinationType type, int rank, double density, MajoritySignMethod method, Rng rng)
    {
        int outF = layer.OutFeatures, inF = layer.InFeatures;
        if (rank > System.Math.Min(outF, inF))
        {
            throw new ArgumentException($"svd_rank {rank} exceeds min(out, in) = {System.Math.Min(outF, inF)} at module \"{path}\".");
        }
        var deltas = valid.Select(v => layer.DeltaWeight(v.Name)).ToArray();
        var factors = valid.Select(v => v.W * v.A.Scaling).ToArray();
        var d = Combine(deltas, factors, type, density, method, rng);
        var (u, s, vt) = Linalg.Svd(Array.ConvertAll(d, x => (double)x), outF, inF);
        int k = System.Math.Min(outF, inF);
        var a = target.A.Span;
        var b = target.B.Span;
        for (int j = 0; j < rank; j++)
        {
            for (int i = 0; i < inF; i++)
            {
                a[j * inF + i] = (float)vt[j * inF + i];
            }
            for (int o = 0; o < outF; o++)
            {
                b[o * rank + j] = (float)(u[o * k + j] * s[j]);
            }
        }
    }
}
