using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.PromptLearning;

namespace PeftSharp.Peft.Methods.PromptTuning;

/// <summary>Prompt tuning configuration with Hugging Face PEFT's field names (PromptTuningConfig).</summary>
public sealed record PromptTuningConfig : PromptLearningConfig
{
    internal const string InitField = "prompt_tuning_init";
    internal const string InitTextField = "prompt_tuning_init_text";
    internal const string TokenizerField = "tokenizer_name_or_path";
    internal const string TokenizerKwargsField = "tokenizer_kwargs";

    /// <summary>prompt_tuning_init "RANDOM": the virtual tokens start as N(0, 1) draws.</summary>
    public const string RandomInit = "RANDOM";

    /// <summary>prompt_tuning_init "TEXT": the virtual tokens start as the word embeddings of a text's tokens.</summary>
    public const string TextInit = "TEXT";

    public override string PeftType => PromptTuningMethod.Type;

    /// <summary>prompt_tuning_init: <see cref="RandomInit"/> or <see cref="TextInit"/>.</summary>
    public string PromptTuningInit { get; init; } = RandomInit;

    /// <summary>prompt_tuning_init_text: the text whose tokens initialise the virtual tokens (TEXT only).</summary>
    public string? PromptTuningInitText { get; init; }

    /// <summary>tokenizer_name_or_path: the tokenizer of the init text (TEXT only).</summary>
    public string? TokenizerNameOrPath { get; init; }

    /// <summary>
    /// The token ids of <see cref="PromptTuningInitText"/> (not saved): this library does not tokenize, so a new TEXT-initialised
    /// adapter needs them. They are cut or repeated to the number of virtual tokens, as PEFT does.
    /// </summary>
    public IReadOnlyList<int>? InitTokenIds { get; init; }

    public override void Validate()
    {
        base.Validate();
        if (PromptTuningInit is not (RandomInit or TextInit))
        {
            throw new AdapterConfigException(InitField, $"\"{PromptTuningInit}\" is not supported; use \"{RandomInit}\" or \"{TextInit}\".");
        }
        if (PromptTuningInit == TextInit && string.IsNullOrEmpty(TokenizerNameOrPath))
        {
            throw new AdapterConfigException(TokenizerField, $"is required when prompt_tuning_init is \"{TextInit}\".");
        }
        if (PromptTuningInit == TextInit && PromptTuningInitText is null)
        {
            throw new AdapterConfigException(InitTextField, $"is required when prompt_tuning_init is \"{TextInit}\".");
        }
        if (PromptTuningInit != TextInit && Preserved[TokenizerKwargsField] is JsonObject { Count: > 0 })
        {
            throw new AdapterConfigException(TokenizerKwargsField, $"is only valid when prompt_tuning_init is \"{TextInit}\".");
        }
    }

    internal static PromptTuningConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadPrompt(new PromptTuningConfig(), r);
        return c with
        {
            PromptTuningInit = r.String(InitField, RandomInit)!,
            PromptTuningInitText = r.String(InitTextField),
            TokenizerNameOrPath = r.String(TokenizerField),
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson() => WritePrompt()
        .Set(InitField, PromptTuningInit)
        .Set(InitTextField, PromptTuningInitText)
        .Set(TokenizerField, TokenizerNameOrPath)
        .ToJsonObject();
}
