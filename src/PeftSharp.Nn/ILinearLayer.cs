using PeftSharp.Tensors;

namespace PeftSharp.Nn;

/// <summary>
/// A module computing an affine map y = x·W + b with a two-dimensional weight registered as the parameter
/// "weight" and an optional bias registered as "bias". <see cref="WeightIsTransposed"/> tells in which layout the
/// weight is stored: (out, in) as torch.nn.Linear, or (in, out) as GPT-2's Conv1D. Adapters use this to read and
/// merge into the weight of any linear-like layer without knowing its type.
/// </summary>
public interface ILinearLayer
{
    /// <summary>Size of the last input dimension.</summary>
    int InFeatures { get; }

    /// <summary>Size of the last output dimension.</summary>
    int OutFeatures { get; }

    /// <summary>The weight, (out, in) or, when <see cref="WeightIsTransposed"/>, (in, out).</summary>
    Tensor Weight { get; }

    /// <summary>The bias (out), or null.</summary>
    Tensor? Bias { get; }

    /// <summary>True when <see cref="Weight"/> is stored (in, out).</summary>
    bool WeightIsTransposed { get; }
}
