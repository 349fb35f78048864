using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.PromptLearning;

namespace PeftSharp.Peft.Methods.PrefixTuning;

/// <summary>
/// Prefix tuning configuration with Hugging Face PEFT's field names (PrefixTuningConfig). token_dim and
/// num_attention_heads describe the keys/values: with grouped-query attention PEFT rescales them to the key/value
/// heads (token_dim = token_dim / heads · kv_heads, heads = kv_heads), and so does <see cref="PromptLearningConfig.Resolve"/>.
/// </summary>
public sealed record PrefixTuningConfig : PromptLearningConfig
{
    internal const string EncoderHiddenSizeField = "encoder_hidden_size";
    internal const string PrefixProjectionField = "prefix_projection";

    public override string PeftType => PrefixTuningMethod.Type;

    /// <summary>encoder_hidden_size: the hidden width of the projection (default: token_dim).</summary>
    public int? EncoderHiddenSize { get; init; }

    /// <summary>prefix_projection: train a small embedding and a two-layer tanh MLP producing the prefix, instead of the prefix itself.</summary>
    public bool PrefixProjection { get; init; }

    public override void Validate()
    {
        base.Validate();
        Positive(EncoderHiddenSizeField, EncoderHiddenSize);
    }

    protected override PromptLearningConfig ResolveMethod(PromptModelShape model)
    {
        int heads = NumAttentionHeads!.Value;
        // PEFT (grouped-query attention): the prefix holds key/value heads only. Applying it again changes nothing.
        int tokenDim = TokenDim!.Value / heads * model.NumKeyValueHeads;
        return this with
        {
            TokenDim = tokenDim,
            NumAttentionHeads = model.NumKeyValueHeads,
            EncoderHiddenSize = EncoderHiddenSize ?? tokenDim,
        };
    }

    protected override void CheckAgainst(PromptModelShape model)
    {
        if (NumLayers != model.NumLayers)
        {
            throw new AdapterConfigException(NumLayersField, $"is {NumLayers} but the model has {model.NumLayers} layers.");
        }
        if (NumAttentionHeads != model.NumKeyValueHeads)
        {
            throw new AdapterConfigException(NumAttentionHeadsField, $"is {NumAttentionHeads} but the model has {model.NumKeyValueHeads} key/value heads.");
        }
        if (TokenDim != model.NumKeyValueHeads * model.HeadDim)
        {
            throw new AdapterConfigException(TokenDimField, $"is {TokenDim} but the model's keys are {model.NumKeyValueHeads} heads × {model.HeadDim} = {model.NumKeyValueHeads * model.HeadDim} wide.");
        }
        CheckSize((long)NumVirtualTokens * PrefixWidth);
        CheckSize((long)EncoderHiddenSize!.Value * PrefixWidth);
    }

    /// <summary>The width of one prefix row: num_layers · 2 · token_dim (keys and values of every layer).</summary>
    internal int PrefixWidth => NumLayers!.Value * 2 * TokenDim!.Value;

    internal static PrefixTuningConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadPrompt(new PrefixTuningConfig(), r);
        return c with
        {
            EncoderHiddenSize = OptionalInt(r, EncoderHiddenSizeField),
            PrefixProjection = r.Bool(PrefixProjectionField, false),
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson() => WritePrompt()
        .Set(EncoderHiddenSizeField, Json(EncoderHiddenSize))
        .Set(PrefixProjectionField, PrefixProjection)
        .ToJsonObject();
}
