using PeftSharp.Nn;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Peft.Core;

/// <summary>
/// An adapter layer around a linear-like module whose adapters add a weight update: y = base(x) + x·ΔWᵀ for each
/// active adapter, merged as W ← W + ΔW and unmerged as W ← W − ΔW. A method supplies ΔW (out, in) as a tensor on the
/// autograd tape and may override <see cref="AdapterOutput"/> with a cheaper factored product. Storage layout (GPT-2's
/// Conv1D keeps (in, out)) and 16-bit storage are handled here.
/// </summary>
public abstract class DeltaWeightLayer<TAdapter> : LinearAdapterLayer<TAdapter> where TAdapter : class
{
    protected DeltaWeightLayer(Module baseLayer, AdapterSelection selection, string methodName) : base(baseLayer, selection, methodName)
    {
    }

    /// <summary>ΔW (out, in) of one adapter, recorded on the tape so that its parameters receive gradients.</summary>
    protected abstract Tensor Delta(TAdapter adapter);

    /// <summary>The adapter's addition to the output for input x (..., in) → (..., out). Default: x·ΔWᵀ.</summary>
    protected virtual Tensor AdapterOutput(Tensor x, TAdapter adapter) => Tensor.Linear(x, Delta(adapter));

    /// <summary>ΔW (out, in) of adapter <paramref name="name"/> as float32 values, without gradient.</summary>
    public float[] DeltaWeight(string name)
    {
        using var _ = GradMode.NoGrad();
        return Delta(Adapter(name)).Contiguous().ToArray();
    }

    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        foreach (var name in adapters)
        {
            result = result.Add(AdapterOutput(input, Adapter(name)));
        }
        return result;
    }

    protected override void MergeAdapter(string name) => AddDelta(name, 1f);

    protected override void UnmergeAdapter(string name) => AddDelta(name, -1f);

    private void AddDelta(string name, float sign)
    {
        var delta = DeltaWeight(name);
        var w = ReadWeightOutIn();
        if (sign > 0)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(w, delta, w);
        }
        else
        {
            System.Numerics.Tensors.TensorPrimitives.Subtract(w, delta, w);
        }
        WriteWeightOutIn(w);
    }

    /// <summary>torch's nn.init.kaiming_uniform_(a = √5) on a (rows, fan_in) matrix: U(−1/√fan_in, 1/√fan_in).</summary>
    protected static Tensor KaimingUniform(int rows, int fanIn, Rng rng)
    {
        float bound = 1f / MathF.Sqrt(fanIn);
        return Trainable(Tensor.Uniform([rows, fanIn], -bound, bound, rng));
    }
}
