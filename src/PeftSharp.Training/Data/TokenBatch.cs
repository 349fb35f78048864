using PeftSharp.Tensors;

namespace PeftSharp.Training.Data;

/// <summary>
/// A padded causal-LM batch. All tensors are int32. Padding is on the right: attention mask 0, label -100, input id
/// the pad id.
/// </summary>
/// <param name="InputIds">(B, T) token ids.</param>
/// <param name="AttentionMask">(B, T) 1 for real tokens, 0 for padding.</param>
/// <param name="Labels">(B, T) label ids aligned with the inputs (the loss shifts), -100 where no loss is taken.</param>
/// <param name="Tokens">Real (non-padding) tokens in the batch.</param>
/// <param name="SupervisedTokens">Positions with a label other than -100.</param>
public sealed record TokenBatch(Tensor InputIds, Tensor AttentionMask, Tensor Labels, long Tokens, long SupervisedTokens)
{
    /// <summary>Rows (B).</summary>
    public int BatchSize => InputIds.Shape[0];

    /// <summary>Padded length (T).</summary>
    public int SequenceLength => InputIds.Shape[1];
}

/// <summary>A padded classification batch (right padding). All tensors are int32.</summary>
/// <param name="InputIds">(B, T) token ids.</param>
/// <param name="AttentionMask">(B, T) 1 for real tokens, 0 for padding.</param>
/// <param name="Labels">(B) class ids.</param>
/// <param name="Tokens">Real (non-padding) tokens in the batch.</param>
public sealed record ClassificationBatch(Tensor InputIds, Tensor AttentionMask, Tensor Labels, long Tokens)
{
    /// <summary>Rows (B).</summary>
    public int BatchSize => InputIds.Shape[0];

    /// <summary>Padded length (T).</summary>
    public int SequenceLength => InputIds.Shape[1];
}
