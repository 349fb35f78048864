using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.VbLora;

/// <summary>
/// VB-LoRA (Li et al., 2024, "VB-LoRA: Extreme Parameter Efficient Fine-Tuning with Vector Banks") around a linear-like
/// layer. Every layer of the adapter shares one trained bank of N vectors of length L. A and B are cut into sub-vectors
/// of length L, each a softmax-weighted mix of the top-k bank vectors under its own logits:
/// A (r, in) from logits_A (r, in/L, N), B (out, r) from logits_B (out/L, r, N) (sub-vectors run down B's columns),
/// y = base(x) + B·A·dropout(x), ΔW = B·A.
/// </summary>
public sealed class VbLoraLayer : DeltaWeightLayer<VbLoraLayer.VbLoraAdapter>
{
    internal const string LogitsAName = "vblora_logits_A";
    internal const string LogitsBName = "vblora_logits_B";
    internal const string BankName = "vblora_vector_bank";

    /// <summary>One VB-LoRA adapter at this layer: its logits and a reference to the adapter's shared bank.</summary>
    public sealed class VbLoraAdapter
    {
        public required Tensor LogitsA { get; init; }

        public required Tensor LogitsB { get; init; }

        /// <summary>The shared vector bank (N, L), the same object in every layer of the adapter.</summary>
        public required Tensor Bank { get; init; }

        /// <summary>True for the one layer that lists the bank among its parameters (so it is trained and counted once).</summary>
        public required bool ListsBank { get; init; }

        public required int Topk { get; init; }

        public float Dropout { get; init; }

        public Rng? DropoutRng { get; init; }
    }

    public VbLoraLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection, "VB-LoRA")
    {
    }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, VbLoraAdapter a)
    {
        yield return new(LogitsAName + "." + name, LogitsAName, a.LogitsA);
        yield return new(LogitsBName + "." + name, LogitsBName, a.LogitsB);
        if (a.ListsBank)
        {
            yield return new(BankName + "." + name, BankName, a.Bank);
        }
    }

    public override IEnumerable<SharedAdapterTensor> SharedTensors(string name)
    {
        yield return new(BankName, Adapter(name).Bank);
    }

    internal void AddVbLora(string name, VbLoraConfig config, Tensor bank, bool listsBank, string modulePath, Rng rng)
    {
        int l = config.VectorLength;
        if (InFeatures % l != 0 || OutFeatures % l != 0)
        {
            throw new AdapterConfigException(VbLoraConfig.VectorLengthField, $"{l} must divide in_features {InFeatures} and out_features {OutFeatures} of \"{modulePath}\".");
        }
        float std = (float)config.InitLogitsStd;
        AddAdapterRecord(name, new VbLoraAdapter
        {
            LogitsA = Trainable(Tensor.Normal([config.R, InFeatures / l, config.NumVectors], 0f, std, rng)),
            LogitsB = Trainable(Tensor.Normal([OutFeatures / l, config.R, config.NumVectors], 0f, std, rng)),
            Bank = bank,
            ListsBank = listsBank,
            Topk = config.Topk,
            Dropout = (float)config.VbLoraDropout,
            DropoutRng = config.VbLoraDropout > 0 ? new Rng(rng.NextUInt64()) : null,
        });
    }

    /// <summary>
    /// Each row of <paramref name="logits"/> (P, N) picks its top-k entries (largest first, as torch.topk); the result row
    /// is the softmax of those logits weighting the chosen bank vectors: (P, L). The choice itself has no gradient.
    /// </summary>
    internal static Tensor Compose(Tensor logits, Tensor bank, int topk)
    {
        int n = logits.Dim(-1), rows = logits.Numel / n;
        var flat = logits.Reshape(rows, n);
        var values = flat.Contiguous().ToArray();
        var picks = new int[rows * topk];
        var order = new int[n];
        for (int p = 0; p < rows; p++)
        {
            var row = values.AsSpan(p * n, n);
            for (int i = 0; i < n; i++)
            {
                order[i] = i;
            }
            // Partial selection: k passes of a max search keep the first-found index on ties, like a stable descending sort.
            for (int k = 0; k < topk; k++)
            {
                int best = k;
                for (int i = k + 1; i < n; i++)
                {
                    if (row[order[i]] > row[order[best]])
                    {
                        best = i;
                    }
                }
                (order[k], order[best]) = (order[best], order[k]);
                picks[p * topk + k] = order[k];
            }
        }
        var index = Tensor.FromInts(picks, rows, topk);
        var weights = flat.Gather(1, index).Softmax();                                         // (P, k)
        var vectors = bank.IndexSelect(0, index.Reshape(-1)).Reshape(rows, topk, bank.Dim(1)); // (P, k, L)
        return weights.Unsqueeze(2).Mul(vectors).Sum(1);                                       // (P, L)
    }

    private (Tensor A, Tensor B) Factors(VbLoraAdapter a)
    {
        int r = a.LogitsA.Dim(0), l = a.Bank.Dim(1);
        var factorA = Compose(a.LogitsA, a.Bank, a.Topk).Reshape(r, InFeatures);                   // (r, in/L·L)
        var factorB = Compose(a.LogitsB, a.Bank, a.Topk).Reshape(OutFeatures / l, r, l)
            .Transpose(1, 2).Reshape(OutFeatures, r);                                              // (out/L, L, r) → (out, r)
        return (factorA, factorB);
    }

    protected override Tensor Delta(VbLoraAdapter a)
    {
        var (fa, fb) = Factors(a);
        return Tensor.MatMul(fb, fa);
    }

    protected override Tensor AdapterOutput(Tensor x, VbLoraAdapter a)
    {
        var (fa, fb) = Factors(a);
        var h = Training && a.Dropout > 0f ? x.Dropout(a.Dropout, a.DropoutRng!) : x;
        return Tensor.Linear(Tensor.Linear(h, fa), fb);
    }
}
