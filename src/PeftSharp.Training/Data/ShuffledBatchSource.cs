namespace PeftSharp.Training.Data;

/// <summary>
/// An endless stream of padded causal-LM batches: each epoch visits every example once in a seeded order derived from
/// (seed, epoch), then the next epoch starts with a new order. Batches are padded to their longest row (dynamic
/// padding). Setting <see cref="EpochBatchSource{TExample, TBatch}.Position"/> restores the exact stream.
/// </summary>
public sealed class ShuffledBatchSource : EpochBatchSource<TokenizedExample, TokenBatch>
{
    private readonly BatchCollator _collator;

    /// <summary>Creates the source.</summary>
    /// <exception cref="ArgumentException">No examples, or drop-last leaves no batch.</exception>
    public ShuffledBatchSource(IReadOnlyList<TokenizedExample> examples, int padId, BatchSourceOptions options)
        : base(examples, options)
    {
        _collator = new BatchCollator(padId, options.PadToMultipleOf);
    }

    private protected override TokenBatch Collate(TokenizedExample[] rows) => _collator.Collate(rows);
}

/// <summary>The classification twin of <see cref="ShuffledBatchSource"/>: labels are (B) class ids.</summary>
public sealed class ClassificationBatchSource : EpochBatchSource<ClassificationExample, ClassificationBatch>
{
    private readonly BatchCollator _collator;

    /// <summary>Creates the source.</summary>
    /// <exception cref="ArgumentException">No examples, or drop-last leaves no batch.</exception>
    public ClassificationBatchSource(IReadOnlyList<ClassificationExample> examples, int padId, BatchSourceOptions options)
        : base(examples, options)
    {
        _collator = new BatchCollator(padId, options.PadToMultipleOf);
    }

    private protected override ClassificationBatch Collate(ClassificationExample[] rows) => _collator.Collate(rows);
}
