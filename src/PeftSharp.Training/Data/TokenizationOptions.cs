namespace PeftSharp.Training.Data;

/// <summary>How records become token sequences.</summary>
public sealed class TokenizationOptions
{
    /// <summary>
    /// Longest sequence; longer ones keep their start (the end is cut) and keep the tokenizer post-processor's closing
    /// special tokens (e.g. [SEP]). An end-of-sequence token appended by <see cref="AppendEos"/> is dropped with the cut
    /// text. Null: no truncation. With packing (<see cref="TrainingDataOptions.Packing"/>) examples are not cut; the
    /// joined stream is cut into rows of this length instead.
    /// </summary>
    public int? MaxLength { get; init; }

    /// <summary>
    /// Append the end-of-sequence token (tokenizer_config's <c>eos_token</c>) after text and completions, so the model
    /// learns to stop; not appended when the post-processor already ends the sequence with it, or when there is none.
    /// Chat records get what the chat template writes.
    /// </summary>
    public bool AppendEos { get; init; } = true;

    /// <summary>Named chat template to use (tokenizer_config with several); null for the default.</summary>
    public string? ChatTemplateName { get; init; }

    /// <summary>Extra chat-template variables (e.g. <c>enable_thinking</c>, <c>tools</c>).</summary>
    public IReadOnlyList<KeyValuePair<string, object?>>? ChatTemplateContext { get; init; }

    /// <summary>Roles whose message content is trained on (labels); everything else gets -100.</summary>
    public IReadOnlySet<string> AssistantRoles { get; init; } = new HashSet<string>(StringComparer.Ordinal) { "assistant" };
}
