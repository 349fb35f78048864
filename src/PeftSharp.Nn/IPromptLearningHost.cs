namespace PeftSharp.Nn;

/// <summary>
/// A model that prompt-learning adapters (prompt tuning, p-tuning, prefix tuning) can attach to. The adapter library
/// sets <see cref="PromptSource"/>; the model asks it for virtual tokens at the start of every forward pass and, when it
/// gets some, prepends them: input embeddings go before the token embeddings (attention mask extended with ones, labels
/// with −100, positions restarting at 0), prefix keys/values act as an already-computed key/value cache (attention mask
/// extended with ones, real tokens at positions N..N+T−1, no rotary applied to the prefix).
/// </summary>
public interface IPromptLearningHost
{
    /// <summary>The dimensions prompt adapters are sized by.</summary>
    PromptModelShape PromptShape { get; }

    /// <summary>The token embedding table (vocab, hidden).</summary>
    Embedding WordEmbeddings { get; }

    /// <summary>Where virtual tokens come from (null: none, the model runs unchanged).</summary>
    IPromptSource? PromptSource { get; set; }
}
