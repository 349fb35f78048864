using PeftSharp.Tensors;

namespace PeftSharp.Peft.Core;

/// <summary>
/// What a method does during training beyond its forward pass, for one trainable adapter: an extra loss term (e.g.
/// AdaLoRA's orthogonal regulariser) and work after each optimizer step (e.g. AdaLoRA's rank allocation). Created by
/// <see cref="PeftMethod.CreateTrainingHooks"/>; reached through <see cref="PeftModel.AuxiliaryLoss"/> and
/// <see cref="PeftModel.AfterOptimizerStep"/>.
/// </summary>
public interface IAdapterTrainingHooks
{
    /// <summary>A differentiable scalar to add to the task loss, or null when the method adds none.</summary>
    Tensor? AuxiliaryLoss();

    /// <summary>
    /// Runs after optimizer step <paramref name="step"/> (1 for the first step) has updated the parameters and before
    /// their gradients are cleared, so both the new values and the step's gradients are visible.
    /// </summary>
    void AfterOptimizerStep(long step);
}
