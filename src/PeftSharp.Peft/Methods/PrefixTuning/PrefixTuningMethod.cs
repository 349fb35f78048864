using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.PromptLearning;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.PrefixTuning;

/// <summary>Prefix tuning in the registry: peft_type "PREFIX_TUNING"; trainable keys and values in front of every layer's.</summary>
public sealed class PrefixTuningMethod : PromptLearningMethod
{
    public const string Type = "PREFIX_TUNING";

    public static PrefixTuningMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => PrefixTuningConfig.Read(json);

    public override PromptEncoder CreateEncoder(PromptLearningConfig config, IPromptLearningHost model, Rng rng, bool weightsFollow) =>
        new PrefixEncoder((PrefixTuningConfig)config, rng);
}

/// <summary>
/// Prefix tuning's encoder (Hugging Face's PrefixEncoder). Its output has one row per virtual token of width
/// num_layers · 2 · kv_heads · head_dim; entry [n, ((l · 2 + s) · kv_heads + h) · head_dim + d] is the key (s = 0) or value
/// (s = 1) of layer l, head h, position n, component d. With prefix_projection (and not for inference) a (tokens,
/// token_dim) table passes through Linear → tanh → Linear ("transform.0", "transform.2"); otherwise the table is the output.
/// </summary>
public sealed class PrefixEncoder : PromptEncoder
{
    public const string TransformName = "transform";

    private readonly int _layers;
    private readonly int _kvHeads;
    private readonly int _headDim;

    public PrefixEncoder(PrefixTuningConfig config, Rng rng)
        : base(config.NumVirtualTokens, config.PrefixProjection && !config.InferenceMode ? config.TokenDim!.Value : config.PrefixWidth, rng)
    {
        _layers = config.NumLayers!.Value;
        _kvHeads = config.NumAttentionHeads!.Value;
        _headDim = config.TokenDim!.Value / _kvHeads;
        if (config.PrefixProjection && !config.InferenceMode)
        {
            int td = config.TokenDim!.Value, hidden = config.EncoderHiddenSize!.Value;
            RegisterModule(TransformName, new Sequential(new Linear(td, hidden, bias: true, rng), Activation.Tanh(), new Linear(hidden, config.PrefixWidth, bias: true, rng)));
        }
    }

    public override bool HasNetwork => HasChild(TransformName);

    public override Tensor Output() => HasNetwork ? Child(TransformName).Forward(Embedding.Weight) : Embedding.Weight;

    public override VirtualPrompt Prompt(int batch)
    {
        int n = Tokens;
        // (B, N, L·2, Hkv, D) → (L·2, B, Hkv, N, D): pair l is (keys, values) of layer l.
        var kv = Output().Reshape(1, n, _layers * 2, _kvHeads, _headDim).Expand(batch, n, _layers * 2, _kvHeads, _headDim).Permute(2, 0, 3, 1, 4);
        var layers = new (Tensor, Tensor)[_layers];
        for (int l = 0; l < _layers; l++)
        {
            layers[l] = (kv.Select(0, 2 * l), kv.Select(0, 2 * l + 1));
        }
        return VirtualPrompt.FromPrefix(layers);
    }
}
