using PeftSharp.Tensors;

namespace PeftSharp.Training.Optimizers;

/// <summary>What the training loop needs from an optimizer.</summary>
public interface IOptimizer
{
    /// <summary>The parameter groups (learning rates are set per group by schedules).</summary>
    IReadOnlyList<ParameterGroup> Groups { get; }

    /// <summary>Every optimized parameter with its name, in group order.</summary>
    IReadOnlyList<(string Name, Tensor Parameter)> NamedParameters { get; }

    /// <summary>The first group's learning rate; setting it sets every group's learning rate.</summary>
    double LearningRate { get; set; }

    /// <summary>Updates every parameter that has a gradient; parameters whose <see cref="Tensor.Grad"/> is null are skipped.</summary>
    void Step();

    /// <summary>Clears gradients: fills them with zeros (keeping the buffers, so no allocation) or sets them to null.</summary>
    void ZeroGrad(bool setToNone = false);

    /// <summary>The per-parameter state as named tensors (safe to save with TensorFile).</summary>
    Dictionary<string, Tensor> StateDict();

    /// <summary>Restores state produced by <see cref="StateDict"/> for the same named parameters.</summary>
    void LoadStateDict(IReadOnlyDictionary<string, Tensor> state);
}
