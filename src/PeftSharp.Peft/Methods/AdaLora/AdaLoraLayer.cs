using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.AdaLora;

/// <summary>
/// AdaLoRA (Zhang et al., 2023, "Adaptive Budget Allocation for Parameter-Efficient Fine-Tuning") around a linear
/// layer: an SVD-shaped update ΔW = B·(A ⊙ E)·α / (ranknum + 1e-5), with A (r, in) right and B (out, r) left
/// singular vectors, E (r, 1) singular values and ranknum = init_r. The rank allocator prunes triplets by zeroing E.
/// </summary>
public sealed class AdaLoraLayer : LinearAdapterLayer<AdaLoraLayer.AdaLoraAdapter>
{
    internal const string AName = "lora_A";
    internal const string BName = "lora_B";
    internal const string EName = "lora_E";

    /// <summary>One AdaLoRA adapter at one layer.</summary>
    public sealed class AdaLoraAdapter
    {
        public required Tensor A { get; init; }

        public required Tensor E { get; init; }

        public required Tensor B { get; init; }

        /// <summary>lora_alpha (or r when alpha ≤ 0), PEFT's "scaling".</summary>
        public required float Scaling { get; init; }

        /// <summary>PEFT's ranknum: init_r, also after pruning or resizing.</summary>
        public required float RankNum { get; init; }

        public float Dropout { get; init; }

        public Rng? DropoutRng { get; init; }

        /// <summary>The triplets the allocator kept (length = rank), once final; saving keeps only these.</summary>
        public bool[]? KeptMask { get; set; }

        public int Rank => A.Dim(0);

        /// <summary>The factor on B·(A ⊙ E): scaling / (ranknum + 1e-5), as PEFT computes it in float32.</summary>
        public float Factor => Scaling / (RankNum + 1e-5f);
    }

    public AdaLoraLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection, "AdaLoRA")
    {
    }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, AdaLoraAdapter a)
    {
        yield return new(AName + "." + name, AName, a.A);
        yield return new(BName + "." + name, BName, a.B);
        yield return new(EName + "." + name, EName, a.E);
    }

    internal void AddAdaLora(string name, AdaLoraConfig config, string modulePath, Rng rng)
    {
        var mask = config.RankMaskFor(modulePath);
        // A module with a saved allocation is created at its kept rank (PEFT's resize_modules_by_rank_pattern).
        int r = mask is null ? config.InitR : mask.Count(k => k);
        float std = config.InitLoraWeights ? 0.02f : 1f;
        var a = Tensor.Normal([r, InFeatures], 0f, std, rng);
        var b = Tensor.Normal([OutFeatures, r], 0f, std, rng);
        var e = config.InitLoraWeights ? Tensor.Zeros(r, 1) : Tensor.Normal([r, 1], 0f, 1f, rng);
        AddAdapterRecord(name, new AdaLoraAdapter
        {
            A = Trainable(a),
            E = Trainable(e),
            B = Trainable(b),
            Scaling = (float)(config.LoraAlpha > 0 ? config.LoraAlpha : config.InitR),
            RankNum = config.InitR,
            Dropout = (float)config.LoraDropout,
            DropoutRng = config.LoraDropout > 0 ? new Rng(rng.NextUInt64()) : null,
        });
    }

    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        foreach (var n in adapters)
        {
            var a = Adapter(n);
            var x = Training && a.Dropout > 0f ? input.Dropout(a.Dropout, a.DropoutRng!) : input;
            result = result.Add(Tensor.Linear(Tensor.Linear(x, a.A.Mul(a.E)), a.B).Mul(a.Factor));
        }
        return result;
    }

    /// <summary>ΔW (out, in) of one adapter, accumulated in float64.</summary>
    public float[] DeltaWeight(string name)
    {
        var a = Adapter(name);
        var av = a.A.ToArray();
        var ev = a.E.ToArray();
        var bv = a.B.ToArray();
        int r = a.Rank;
        var d = new float[OutFeatures * InFeatures];
        for (int o = 0; o < OutFeatures; o++)
        {
            for (int i = 0; i < InFeatures; i++)
            {
                double s = 0;
                for (int k = 0; k < r; k++)
                {
                    s += (double)bv[o * r + k] * ((double)av[k * InFeatures + i] * ev[k]);
                }
                d[o * InFeatures + i] = (float)s * a.Factor;
            }
        }
        return d;
    }

    protected override void MergeAdapter(string name) => Shift(name, 1f);

    protected override void UnmergeAdapter(string name) => Shift(name, -1f);

    private void Shift(string name, float sign)
    {
        var w = ReadWeightOutIn();
        var d = DeltaWeight(name);
        for (int i = 0; i < w.Length; i++)
        {
            w[i] += sign * d[i];
        }
        WriteWeightOutIn(w);
    }

    protected internal override Tensor SavedValue(string adapter, AdapterParameter p)
    {
        var a = Adapter(adapter);
        if (a.KeptMask is not { } mask || mask.Length != a.Rank || mask.All(k => k))
        {
            return p.Value;
        }
        // PEFT's resize_state_dict_by_rank_pattern: keep the rows of A and E and the columns of B of kept triplets.
        var kept = Enumerable.Range(0, mask.Length).Where(i => mask[i]).ToArray();
        var index = Tensor.FromInts(kept, kept.Length);
        using var _ = Tensors.Autograd.GradMode.NoGrad();
        return ReferenceEquals(p.Value, a.B) ? p.Value.IndexSelect(1, index) : p.Value.IndexSelect(0, index);
    }
}
