using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.PromptLearning;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.PTuning;

/// <summary>
/// P-tuning in the registry: peft_type "P_TUNING"; an MLP reparameterises the virtual token embeddings. The adapter file
/// holds only the MLP's output. Loading it for inference uses that output directly. Loading it trainable does what PEFT
/// 0.14 does: the saved output becomes the table the MLP reads and the MLP starts from fresh values, so the model's output
/// changes; continue training from the encoder's own parameters instead when they are available.
/// </summary>
public sealed class PTuningMethod : PromptLearningMethod
{
    public const string Type = "P_TUNING";

    public static PTuningMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => PTuningConfig.Read(json);

    public override PromptEncoder CreateEncoder(PromptLearningConfig config, IPromptLearningHost model, Rng rng, bool weightsFollow) =>
        new PTuningEncoder((PTuningConfig)config, rng);
}

/// <summary>
/// P-tuning's encoder (Hugging Face's PromptEncoder with the MLP reparameterisation): output = mlp_head(table) with
/// mlp_head = Linear(token_dim, h) → ReLU → Linear(h, h) → ReLU → Linear(h, token_dim) ("mlp_head.0", ".2", ".4"). For
/// inference it has no MLP and the table is the output.
/// </summary>
public sealed class PTuningEncoder : InputPromptEncoder
{
    public const string MlpHeadName = "mlp_head";

    public PTuningEncoder(PTuningConfig config, Rng rng) : base(config.NumVirtualTokens, config.TokenDim!.Value, rng)
    {
        if (!config.InferenceMode)
        {
            int td = config.TokenDim!.Value, h = config.EncoderHiddenSize!.Value;
            RegisterModule(MlpHeadName, new Sequential(
                new Linear(td, h, bias: true, rng), Activation.Relu(),
                new Linear(h, h, bias: true, rng), Activation.Relu(),
                new Linear(h, td, bias: true, rng)));
        }
    }

    public override bool HasNetwork => HasChild(MlpHeadName);

    public override Tensor Output() => HasNetwork ? Child(MlpHeadName).Forward(Embedding.Weight) : Embedding.Weight;
}
