using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.LoHa;

/// <summary>
/// LoHa (Hyeon-Woo et al., 2022, "FedPara: Low-Rank Hadamard Product for Communication-Efficient Federated Learning")
/// around a linear-like layer: ΔW = s · (W1a·W1b) ⊙ (W2a·W2b) with W1a, W2a (out, r), W1b, W2b (r, in), s = alpha / r,
/// and y = base(x) + x·ΔWᵀ.
/// </summary>
public sealed class LoHaLayer : DeltaWeightLayer<LoHaLayer.LoHaAdapter>
{
    internal const string W1AName = "hada_w1_a";
    internal const string W1BName = "hada_w1_b";
    internal const string W2AName = "hada_w2_a";
    internal const string W2BName = "hada_w2_b";

    /// <summary>One LoHa adapter: its four factors and scale.</summary>
    public sealed class LoHaAdapter
    {
        public required Tensor W1A { get; init; }

        public required Tensor W1B { get; init; }

        public required Tensor W2A { get; init; }

        public required Tensor W2B { get; init; }

        public required float Scaling { get; init; }
    }

    public LoHaLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection, "LoHa")
    {
    }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, LoHaAdapter a)
    {
        yield return new(W1AName + "." + name, W1AName, a.W1A);
        yield return new(W1BName + "." + name, W1BName, a.W1B);
        yield return new(W2AName + "." + name, W2AName, a.W2A);
        yield return new(W2BName + "." + name, W2BName, a.W2B);
    }

    internal void AddLoHa(string name, int r, double alpha, bool identityInit, Rng rng)
    {
        // Hugging Face: Kaiming-uniform (a = √5) for every factor, except W2b = 0 with init_weights true.
        var adapter = new LoHaAdapter
        {
            W1A = KaimingUniform(OutFeatures, r, rng),
            W1B = KaimingUniform(r, InFeatures, rng),
            W2A = KaimingUniform(OutFeatures, r, rng),
            W2B = identityInit ? Trainable(Tensor.Zeros(r, InFeatures)) : KaimingUniform(r, InFeatures, rng),
            Scaling = (float)(alpha / r),
        };
        AddAdapterRecord(name, adapter);
    }

    protected override Tensor Delta(LoHaAdapter a) =>
        Tensor.MatMul(a.W1A, a.W1B).Mul(Tensor.MatMul(a.W2A, a.W2B)).Mul(a.Scaling);   // (out, in)
}
