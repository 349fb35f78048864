using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Ia3;

/// <summary>
/// IA3 (Liu et al., 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context
/// Learning"): a learned vector l rescales the layer. Attention-type targets scale the output, y = l ⊙ base(x)
/// (bias included), with l (out, 1); feed-forward targets scale the input, y = base(l ⊙ x), with l (1, in).
/// Several active adapters multiply.
/// </summary>
public sealed class Ia3Layer : LinearAdapterLayer<Ia3Layer.Ia3Adapter>
{
    internal const string VectorName = "ia3_l";

    /// <summary>One IA3 adapter: its vector and whether it scales the input.</summary>
    public sealed class Ia3Adapter
    {
        public required Tensor Vector { get; init; }

        public required bool IsFeedforward { get; init; }
    }

    public Ia3Layer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection, "IA3")
    {
    }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, Ia3Adapter a)
    {
        yield return new(VectorName + "." + name, VectorName, a.Vector);
    }

    internal void AddIa3(string name, bool feedforward, bool identityInit, Rng rng)
    {
        if (HasFeedforwardMismatch(feedforward))
        {
            throw new InvalidOperationException("All IA3 adapters of one layer must agree on feedforward.");
        }
        int[] shape = feedforward ? [1, InFeatures] : [OutFeatures, 1];
        var v = identityInit ? Tensor.Ones(shape) : Tensor.Normal(shape, 0f, 1f, rng);
        AddAdapterRecord(name, new Ia3Adapter { Vector = Trainable(v), IsFeedforward = feedforward });
    }

    private bool HasFeedforwardMismatch(bool feedforward) => AdapterNames.Any(n => Adapter(n).IsFeedforward != feedforward);

    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        Tensor? scale = null;
        foreach (var n in adapters)
        {
            var v = Adapter(n).Vector.Reshape(-1);
            scale = scale is null ? v : scale.Mul(v);
        }
        return Adapter(adapters[0]).IsFeedforward
            ? BaseLayer.Forward(input.Mul(scale!))
            : BaseLayer.Forward(input).Mul(scale!);
    }

    protected override void MergeAdapter(string name) => Scale(name, unmerge: false);

    protected override void UnmergeAdapter(string name) => Scale(name, unmerge: true);

    private void Scale(string name, bool unmerge)
    {
        var a = Adapter(name);
        var l = a.Vector.ToArray();
        if (unmerge)
        {
            // Hugging Face divides by l + 1e-8 so that a zero entry does not produce infinities.
            for (int i = 0; i < l.Length; i++)
            {
                l[i] += 1e-8f;
            }
        }
        bool transposed = BaseWeights.IsTransposed(BaseLayer);
        var w = BaseWeights.WeightOf(BaseLayer).ToArray();
        int rows = transposed ? InFeatures : OutFeatures, cols = transposed ? OutFeatures : InFeatures;
        // Output scaling touches the out index, input scaling the in index, wherever the storage puts it.
        bool scaleRows = a.IsFeedforward == transposed;
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                float f = l[scaleRows ? r : c];
                w[r * cols + c] = unmerge ? w[r * cols + c] / f : w[r * cols + c] * f;
            }
        }
        BaseWeights.Write(BaseLayer, BaseWeights.Weight, w);
        if (!a.IsFeedforward && BaseWeights.BiasOf(BaseLayer) is { } bias)
        {
            var bv = bias.ToArray();
            for (int i = 0; i < bv.Length; i++)
            {
                bv[i] = unmerge ? bv[i] / l[i] : bv[i] * l[i];
            }
            BaseWeights.Write(BaseLayer, BaseWeights.Bias, bv);
        }
    }
}
