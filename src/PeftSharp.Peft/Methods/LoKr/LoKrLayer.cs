using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.LoKr;

/// <summary>
/// LoKr (Yeh et al., 2023, "Navigating Text-To-Image Customization: From LyCORIS Fine-Tuning to Model Evaluation")
/// around a linear-like layer: ΔW = s · W1 ⊗ W2 (Kronecker product), out = a·b and in = c·d factored by
/// <see cref="LoKrFactors"/>, W1 (a, c), W2 (b, d), s = alpha / r. Either factor is itself a rank-r product when r is
/// small against its size (W1 only with decompose_both), as Hugging Face decides it.
/// The forward pass never builds ΔW: with x viewed as X (…, c, d), x·ΔWᵀ = s · W1·X·W2ᵀ viewed as (…, a·b).
/// </summary>
public sealed class LoKrLayer : DeltaWeightLayer<LoKrLayer.LoKrAdapter>
{
    internal const string W1Name = "lokr_w1";
    internal const string W1AName = "lokr_w1_a";
    internal const string W1BName = "lokr_w1_b";
    internal const string W2Name = "lokr_w2";
    internal const string W2AName = "lokr_w2_a";
    internal const string W2BName = "lokr_w2_b";

    /// <summary>One LoKr adapter: each Kronecker factor either whole (W1, W2) or as a rank-r product (…A·…B).</summary>
    public sealed class LoKrAdapter
    {
        public Tensor? W1 { get; init; }

        public Tensor? W1A { get; init; }

        public Tensor? W1B { get; init; }

        public Tensor? W2 { get; init; }

        public Tensor? W2A { get; init; }

        public Tensor? W2B { get; init; }

        public required float Scaling { get; init; }

        /// <summary>(a, b) with out = a·b and (c, d) with in = c·d.</summary>
        public required (int A, int B, int C, int D) Dims { get; init; }

        public Tensor Left() => W1 ?? Tensor.MatMul(W1A!, W1B!);     // (a, c)

        public Tensor Right() => W2 ?? Tensor.MatMul(W2A!, W2B!);    // (b, d)
    }

    public LoKrLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection, "LoKr")
    {
    }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, LoKrAdapter a)
    {
        foreach (var (key, t) in new[] { (W1Name, a.W1), (W1AName, a.W1A), (W1BName, a.W1B), (W2Name, a.W2), (W2AName, a.W2A), (W2BName, a.W2B) })
        {
            if (t is not null)
            {
                yield return new(key + "." + name, key, t);
            }
        }
    }

    internal void AddLoKr(string name, int r, double alpha, LoKrConfig config, Rng rng)
    {
        var (inM, inN) = LoKrFactors.Factorize(InFeatures, config.DecomposeFactor);
        var (outL, outK) = LoKrFactors.Factorize(OutFeatures, config.DecomposeFactor);
        int a = outL, b = outK, c = inM, d = inN;
        // Hugging Face: W1 is decomposed only with decompose_both and r < max(a, c) / 2; W2 whenever r < max(b, d) / 2.
        bool wholeW1 = !(config.DecomposeBoth && r < System.Math.Max(a, c) / 2.0);
        bool wholeW2 = !(r < System.Math.Max(b, d) / 2.0);
        var init = config.Init;
        // Default: the W1 side starts at zero; "lycoris": the W2 side (W2 or W2b); false: nothing does.
        Tensor Zero(int rows, int cols) => Trainable(Tensor.Zeros(rows, cols));
        var adapter = new LoKrAdapter
        {
            Scaling = (float)(alpha / r),
            Dims = (a, b, c, d),
            W1 = wholeW1 ? (init == LoKrInit.Default ? Zero(a, c) : KaimingUniform(a, c, rng)) : null,
            W1A = wholeW1 ? null : (init == LoKrInit.Default ? Zero(a, r) : KaimingUniform(a, r, rng)),
            W1B = wholeW1 ? null : KaimingUniform(r, c, rng),
            W2 = wholeW2 ? (init == LoKrInit.Lycoris ? Zero(b, d) : KaimingUniform(b, d, rng)) : null,
            W2A = wholeW2 ? null : KaimingUniform(b, r, rng),
            W2B = wholeW2 ? null : (init == LoKrInit.Lycoris ? Zero(r, d) : KaimingUniform(r, d, rng)),
        };
        AddAdapterRecord(name, adapter);
    }

    protected override Tensor Delta(LoKrAdapter a) => Tensor.Kron(a.Left(), a.Right()).Mul(a.Scaling);   // (a·b, c·d) = (out, in)

    protected override Tensor AdapterOutput(Tensor x, LoKrAdapter a)
    {
        var (da, db, dc, dd) = a.Dims;
        var lead = x.Shape[..^1].ToArray();
        int rows = x.Numel / InFeatures;
        // ΔW[(i·b + j), (k·d + l)] = s·W1[i, k]·W2[j, l], so with X[k, l] = x[k·d + l]:
        // (x·ΔWᵀ)[i·b + j] = s · Σ_k W1[i, k] · (X·W2ᵀ)[k, j]. Both products run as one GEMM over all rows.
        var y = Tensor.MatMul(x.Reshape(rows * dc, dd), a.Right().T);                 // (rows·c, b)
        y = y.Reshape(rows, dc, db).Transpose(1, 2).Reshape(rows * db, dc);           // (rows·b, c)
        y = Tensor.MatMul(y, a.Left().T);                                             // (rows·b, a)
        return y.Reshape(rows, db, da).Transpose(1, 2).Reshape([.. lead, OutFeatures]).Mul(a.Scaling);
    }
}

/// <summary>Hugging Face PEFT's LoKr factorisation of a layer dimension.</summary>
public static class LoKrFactors
{
    /// <summary>
    /// (m, n) with m·n = <paramref name="dimension"/> and m ≤ n. A positive <paramref name="factor"/> dividing the
    /// dimension gives (factor, dimension / factor) as is. Otherwise divisors m grow from 1 while m + n does not grow
    /// and m stays ≤ factor (−1: no bound), so −1 gives the divisor pair nearest √dimension.
    /// </summary>
    public static (int M, int N) Factorize(int dimension, int factor = -1)
    {
        if (factor > 0 && dimension % factor == 0)
        {
            return (factor, dimension / factor);
        }
        if (factor == -1)
        {
            factor = dimension;
        }
        int m = 1, n = dimension, length = m + n;
        while (m < n)
        {
            int newM = m + 1;
            while (dimension % newM != 0)
            {
                newM++;
            }
            int newN = dimension / newM;
            if (newM + newN > length || newM > factor)
            {
                break;
            }
            (m, n) = (newM, newN);
        }
        return m > n ? (n, m) : (m, n);
    }
}
