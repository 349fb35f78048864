namespace PeftSharp.Models.Generation;

/// <summary>
/// How <see cref="Generator"/> picks tokens and when it stops. Defaults: greedy, 20 new tokens, the model's EOS ids.
/// Sampling applies, in the order transformers does: repetition penalty, temperature, top-k, top-p; greedy applies
/// only the repetition penalty and takes the arg-max (the first index on ties).
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>Upper bound on generated tokens per prompt (EOS and stop strings can end a row earlier).</summary>
    public int MaxNewTokens { get; init; } = 20;

    /// <summary>True: arg-max decoding; false: sample from the processed distribution.</summary>
    public bool Greedy { get; init; } = true;

    /// <summary>Logits are divided by it before sampling (sampling only; must be positive).</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>Keep the k most likely tokens (tokens tied with the k-th are kept too); 0 disables.</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of most likely tokens whose probability sums to at least P; 1 disables.</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Seed of the sampling stream: the same seed, prompts and options give the same tokens.</summary>
    public ulong Seed { get; init; }

    /// <summary>
    /// transformers' repetition penalty: the logit of every token already present in the row (prompt or generated) is
    /// divided by it when positive and multiplied by it when negative. 1 disables. Padding is not part of the row.
    /// </summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>Tokens that end a row (kept as its last generated token); null means the model config's eos_token_id.</summary>
    public IReadOnlyList<int>? EosTokenIds { get; init; }

    /// <summary>Strings that end a row once its decoded continuation contains one; needs <see cref="Decode"/>. The text is cut before it.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Turns generated ids into text (a tokenizer's decode); when set, results carry <see cref="GeneratedSequence.Text"/>.</summary>
    public Func<IReadOnlyList<int>, string>? Decode { get; init; }

    /// <summary>Id used for left padding and for rows that have finished; null: the config's pad_token_id, else the first EOS id, else 0.</summary>
    public int? PadTokenId { get; init; }

    /// <summary>Checks every field against <paramref name="vocabSize"/>.</summary>
    /// <exception cref="ArgumentException">A field is out of range; the message names it and its value.</exception>
    public void Validate(int vocabSize)
    {
        if (MaxNewTokens < 0)
        {
            throw new ArgumentException($"MaxNewTokens must be non-negative; got {MaxNewTokens}.");
        }
        if (!Greedy && !(Temperature > 0f && float.IsFinite(Temperature)))
        {
            throw new ArgumentException($"Temperature must be a positive finite number when sampling; got {Temperature}.");
        }
        if (TopK < 0)
        {
            throw new ArgumentException($"TopK must be non-negative (0 disables it); got {TopK}.");
        }
        if (!(TopP > 0f && TopP <= 1f))
        {
            throw new ArgumentException($"TopP must be in (0, 1]; got {TopP}.");
        }
        if (!(RepetitionPenalty > 0f && float.IsFinite(RepetitionPenalty)))
        {
            throw new ArgumentException($"RepetitionPenalty must be a positive finite number (1 disables it); got {RepetitionPenalty}.");
        }
        foreach (int id in EosTokenIds ?? [])
        {
            if (id < 0 || id >= vocabSize)
            {
                throw new ArgumentException($"EOS token id {id} is outside the vocabulary of {vocabSize}.");
            }
        }
        if (PadTokenId is int pad && (pad < 0 || pad >= vocabSize))
        {
            throw new ArgumentException($"PadTokenId {pad} is outside the vocabulary of {vocabSize}.");
        }
        if (StopStrings.Count > 0 && Decode is null)
        {
            throw new ArgumentException("StopStrings need a Decode function to turn generated ids into text.");
        }
        if (StopStrings.Any(string.IsNullOrEmpty))
        {
            throw new ArgumentException("Stop strings must not be empty.");
        }
    }
}

/// <summary>Why a row stopped.</summary>
public enum StopReason
{
    /// <summary>It produced <see cref="GenerationOptions.MaxNewTokens"/> tokens.</summary>
    MaxNewTokens,

    /// <summary>It produced an EOS token (the last of <see cref="GeneratedSequence.Tokens"/>).</summary>
    EosToken,

    /// <summary>Its decoded continuation contained a stop string.</summary>
    StopString,
}

/// <summary>
/// One prompt's continuation: the generated ids (an EOS that ended the row is included, as transformers does), why it
/// stopped, and — when a decoder was given — the decoded text, cut before the stop string that ended it.
/// </summary>
public sealed record GeneratedSequence(int[] Tokens, StopReason Reason, string? Text);
