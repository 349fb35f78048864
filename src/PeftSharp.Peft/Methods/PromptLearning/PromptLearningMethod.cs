using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.PromptLearning;

/// <summary>
/// A method that adds virtual tokens to the model's input instead of wrapping its layers (prompt tuning, p-tuning,
/// prefix tuning). It wraps no module; <see cref="PeftModel"/> keeps one <see cref="PromptEncoder"/> per adapter under
/// "prompt_encoder.&lt;adapter&gt;" and the model, an <see cref="IPromptLearningHost"/>, asks for the active one's tokens.
/// Merging does not apply to these methods.
/// </summary>
public abstract class PromptLearningMethod : PeftMethod
{
    /// <summary>Prompt learning adapts no module.</summary>
    public override bool CanAdapt(Module module) => false;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) =>
        throw new NotSupportedException($"{PeftType} adds virtual tokens to the input and wraps no module.");

    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng) =>
        throw new NotSupportedException($"{PeftType} adds virtual tokens to the input and wraps no module.");

    /// <summary>
    /// Creates the encoder of one adapter for a resolved configuration (<see cref="PromptLearningConfig.Resolve"/>). With
    /// <see cref="AdapterConfig.InferenceMode"/> it has no network (its table is the output, as saved files hold it).
    /// <paramref name="weightsFollow"/> is true when a file's values will overwrite the initial ones.
    /// </summary>
    public abstract PromptEncoder CreateEncoder(PromptLearningConfig config, IPromptLearningHost model, Rng rng, bool weightsFollow);
}
