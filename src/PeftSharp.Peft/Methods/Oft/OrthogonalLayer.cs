using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Oft;

/// <summary>
/// What OFT and BOFT share: an orthogonal transform T (in, in) of the input and a learned scale s (out) of the output,
/// y = ((x·T)·Wᵀ) ⊙ s + b. Merged: W' = diag(s)·W·Tᵀ; unmerged: W = diag(1/s)·W'·T, since T is orthogonal. Several
/// active adapters compose: T = T_k⋯T_1, s = s_1⊙⋯⊙s_k. A method supplies T, applied to the input and to weight rows.
/// </summary>
public abstract class OrthogonalLayer<TAdapter> : LinearAdapterLayer<TAdapter> where TAdapter : class
{
    private protected OrthogonalLayer(Module baseLayer, AdapterSelection selection, string methodName) : base(baseLayer, selection, methodName)
    {
    }

    /// <summary>The adapter's output scale s (out, 1).</summary>
    private protected abstract Tensor Scale(TAdapter adapter);

    /// <summary>x·T for x (..., in), differentiable; in training with the adapter's multiplicative dropout on T's blocks.</summary>
    private protected abstract Tensor Rotate(Tensor x, TAdapter adapter);

    /// <summary>Rows v of <paramref name="w"/> (rows, in) become v·T, or v·Tᵀ when <paramref name="transpose"/>; in place, no dropout.</summary>
    private protected abstract void RotateRows(float[] w, int rows, TAdapter adapter, bool transpose);

    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        // x·T_k⋯T_1: the last adapter's transform touches the input first.
        var x = input;
        Tensor? scale = null;
        for (int i = adapters.Count - 1; i >= 0; i--)
        {
            var a = Adapter(adapters[i]);
            x = Rotate(x, a);
            var s = Scale(a).Reshape(OutFeatures);
            scale = scale is null ? s : scale.Mul(s);
        }
        // (base(x·T) − b) ⊙ s + b: the bias is not scaled.
        var y = BaseLayer.Forward(x);
        var bias = BaseWeights.BiasOf(BaseLayer);
        return bias is null ? y.Mul(scale!) : y.Sub(bias).Mul(scale!).Add(bias);
    }

    protected override void MergeAdapter(string name) => Apply(name, unmerge: false);

    protected override void UnmergeAdapter(string name) => Apply(name, unmerge: true);

    private void Apply(string name, bool unmerge)
    {
        var a = Adapter(name);
        var w = ReadWeightOutIn();
        var s = Scale(a).ToArray();
        // Merge: W·Tᵀ (rows v·Tᵀ), then row o times s[o]. Unmerge: W'·T, then row o divided by s[o].
        RotateRows(w, OutFeatures, a, transpose: !unmerge);
        for (int o = 0; o < OutFeatures; o++)
        {
            for (int i = 0; i < InFeatures; i++)
            {
                w[o * InFeatures + i] = unmerge ? w[o * InFeatures + i] * (1f / s[o]) : w[o * InFeatures + i] * s[o];
            }
        }
        WriteWeightOutIn(w);
    }
}
