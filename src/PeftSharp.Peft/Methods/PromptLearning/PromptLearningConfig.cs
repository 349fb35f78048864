using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.PromptLearning;

/// <summary>
/// The fields every prompt-learning configuration shares (Hugging Face's PromptLearningConfig): the number of virtual
/// tokens and the model dimensions the adapter is sized by. Dimensions left null are taken from the model when the
/// adapter is added (<see cref="Resolve"/>), as PEFT does, and written to adapter_config.json. Prompt-learning
/// configurations have no target_modules: they adapt the model's input, not its layers.
/// </summary>
public abstract record PromptLearningConfig : AdapterConfig
{
    internal const string NumVirtualTokensField = "num_virtual_tokens";
    internal const string TokenDimField = "token_dim";
    internal const string NumTransformerSubmodulesField = "num_transformer_submodules";
    internal const string NumAttentionHeadsField = "num_attention_heads";
    internal const string NumLayersField = "num_layers";
    internal const string CausalLmTask = "CAUSAL_LM";

    /// <summary>Largest number of float32 values one adapter tensor may hold (1 GiB), so a hostile file cannot demand unbounded memory.</summary>
    internal const long MaxTensorElements = 1L << 28;

    /// <summary>num_virtual_tokens: how many virtual tokens the adapter prepends (required, ≥ 1).</summary>
    public int NumVirtualTokens { get; init; }

    /// <summary>token_dim: the width of one virtual token (the model's hidden size; key/value width for prefix tuning).</summary>
    public int? TokenDim { get; init; }

    /// <summary>num_transformer_submodules: 1 for decoder-only models (the only kind supported).</summary>
    public int? NumTransformerSubmodules { get; init; }

    /// <summary>num_attention_heads: the model's attention heads (key/value heads for prefix tuning).</summary>
    public int? NumAttentionHeads { get; init; }

    /// <summary>num_layers: the model's decoder layers.</summary>
    public int? NumLayers { get; init; }

    /// <summary>Checks the configuration on its own; <see cref="Resolve"/> checks it against a model.</summary>
    /// <exception cref="AdapterConfigException">A field is missing or out of range.</exception>
    public override void Validate()
    {
        if (NumVirtualTokens < 1)
        {
            throw new AdapterConfigException(NumVirtualTokensField, $"must be at least 1; got {NumVirtualTokens}.");
        }
        if (TaskType is not null && TaskType != CausalLmTask)
        {
            throw new AdapterConfigException(TaskTypeField, $"\"{TaskType}\" is not supported for {PeftType}; only \"{CausalLmTask}\" (decoder-only causal language models).");
        }
        if (NumTransformerSubmodules is { } sub && sub != 1)
        {
            throw new AdapterConfigException(NumTransformerSubmodulesField, $"is {sub}; only 1 (decoder-only models) is supported.");
        }
        Positive(TokenDimField, TokenDim);
        Positive(NumAttentionHeadsField, NumAttentionHeads);
        Positive(NumLayersField, NumLayers);
    }

    /// <summary>Throws when an optional integer field is present but not positive.</summary>
    protected static void Positive(string field, int? value)
    {
        if (value is < 1)
        {
            throw new AdapterConfigException(field, $"must be at least 1; got {value}.");
        }
    }

    /// <summary>
    /// This configuration with every dimension filled in from <paramref name="model"/> as PEFT fills it in, checked against
    /// the model: the values the adapter is built with and that are saved.
    /// </summary>
    /// <exception cref="AdapterConfigException">A given dimension does not match the model.</exception>
    public PromptLearningConfig Resolve(PromptModelShape model)
    {
        Validate();
        var c = this with
        {
            NumLayers = NumLayers ?? model.NumLayers,
            TokenDim = TokenDim ?? model.HiddenSize,
            NumAttentionHeads = NumAttentionHeads ?? model.NumAttentionHeads,
            NumTransformerSubmodules = NumTransformerSubmodules ?? 1,
        };
        c = c.ResolveMethod(model);
        c.CheckAgainst(model);
        return c;
    }

    /// <summary>Method-specific defaults (called by <see cref="Resolve"/> after the shared ones are filled in).</summary>
    protected virtual PromptLearningConfig ResolveMethod(PromptModelShape model) => this;

    /// <summary>Checks the resolved dimensions against the model (default: token_dim is the hidden size).</summary>
    protected virtual void CheckAgainst(PromptModelShape model)
    {
        if (TokenDim != model.HiddenSize)
        {
            throw new AdapterConfigException(TokenDimField, $"is {TokenDim} but the model's hidden size is {model.HiddenSize}.");
        }
        CheckSize((long)NumVirtualTokens * TokenDim!.Value);
    }

    /// <summary>Rejects adapter tensors beyond <see cref="MaxTensorElements"/> values.</summary>
    protected void CheckSize(long elements)
    {
        if (elements > MaxTensorElements)
        {
            throw new AdapterConfigException(NumVirtualTokensField, $"{NumVirtualTokens} virtual tokens need a tensor of {elements} values, more than the {MaxTensorElements} allowed.");
        }
    }

    /// <summary>Reads the shared prompt-learning fields. Call from a subclass reader before its own fields.</summary>
    protected static T ReadPrompt<T>(T config, ConfigReader r) where T : PromptLearningConfig =>
        ReadCommon(config, r) with
        {
            NumVirtualTokens = OptionalInt(r, NumVirtualTokensField) ?? 0,
            TokenDim = OptionalInt(r, TokenDimField),
            NumTransformerSubmodules = OptionalInt(r, NumTransformerSubmodulesField),
            NumAttentionHeads = OptionalInt(r, NumAttentionHeadsField),
            NumLayers = OptionalInt(r, NumLayersField),
        };

    /// <summary>An integer field that may be absent or null.</summary>
    protected static int? OptionalInt(ConfigReader r, string field)
    {
        double d = r.Number(field, double.NaN);
        if (double.IsNaN(d))
        {
            return null;
        }
        if (d != System.Math.Floor(d) || d < int.MinValue || d > int.MaxValue)
        {
            throw new AdapterConfigException(field, $"expected an integer; got {d.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        }
        return (int)d;
    }

    /// <summary>The shared fields as PEFT writes them (no target_modules: prompt learning has none).</summary>
    protected ConfigWriter WritePrompt() => new ConfigWriter(Preserved)
        .Set(PeftTypeField, PeftType)
        .Set(TaskTypeField, TaskType)
        .Set(BaseModelField, BaseModelNameOrPath ?? "")
        .Set(InferenceModeField, InferenceMode)
        .Set(NumVirtualTokensField, NumVirtualTokens)
        .Set(TokenDimField, Json(TokenDim))
        .Set(NumTransformerSubmodulesField, Json(NumTransformerSubmodules))
        .Set(NumAttentionHeadsField, Json(NumAttentionHeads))
        .Set(NumLayersField, Json(NumLayers));

    /// <summary>An optional integer as JSON (null when absent).</summary>
    protected static JsonNode? Json(int? value) => value is { } v ? JsonValue.Create(v) : null;
}
