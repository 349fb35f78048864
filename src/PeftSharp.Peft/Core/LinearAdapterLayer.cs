using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Core;

/// <summary>
/// An adapter layer around a linear-like module (<see cref="ILinearLayer"/>: Linear, or GPT-2's Conv1D that stores its
/// weight (in, out)). It knows the layer's sizes and reads and writes the base weight as (out, in) whatever the
/// storage, so a method's merge works in one layout.
/// </summary>
public abstract class LinearAdapterLayer<TAdapter> : AdapterLayer<TAdapter> where TAdapter : class
{
    /// <exception cref="NotSupportedException"><paramref name="baseLayer"/> is not linear-like.</exception>
    protected LinearAdapterLayer(Module baseLayer, AdapterSelection selection, string methodName) : base(baseLayer, selection)
    {
        var l = baseLayer as ILinearLayer ?? throw new NotSupportedException($"{methodName} adapts linear layers; got {baseLayer.Describe()}.");
        InFeatures = l.InFeatures;
        OutFeatures = l.OutFeatures;
    }

    public int InFeatures { get; }

    public int OutFeatures { get; }

    /// <summary>The base weight as (out, in) float32, whatever its storage layout and type.</summary>
    private protected float[] ReadWeightOutIn()
    {
        var w = BaseWeights.WeightOf(BaseLayer).ToArray();
        return BaseWeights.IsTransposed(BaseLayer) ? BaseWeights.Transpose(w, InFeatures, OutFeatures) : w;
    }

    /// <summary>Writes an (out, in) weight back in the base layer's storage layout and type.</summary>
    private protected void WriteWeightOutIn(float[] outIn)
    {
        var stored = BaseWeights.IsTransposed(BaseLayer) ? BaseWeights.Transpose(outIn, OutFeatures, InFeatures) : outIn;
        BaseWeights.Write(BaseLayer, BaseWeights.Weight, stored);
    }

    /// <summary>A fresh float32 leaf tensor holding <paramref name="t"/>'s values, trainable.</summary>
    protected static Tensor Trainable(Tensor t)
    {
        var p = Tensor.Wrap(t.ToArray(), t.Shape.ToArray());
        p.RequiresGrad = true;
        return p;
    }
}
