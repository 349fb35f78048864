using PeftSharp.Training.Checkpoints;

namespace PeftSharp.Training.Data;

/// <summary>
/// An endless stream of padded causal-LM batches: each epoch visits every example once in a seeded order derived from
/// (seed, epoch), then the next epoch starts with a new order. Batches are padded to their longest row (dynamic
/// padding). Setting <see cref="Position"/> restores the exact stream.
/// </summary>
public sealed class ShuffledBatchSource : IBatchSource<TokenBatch>
{
    private readonly IReadOnlyList<TokenizedExample> _examples;
    private readonly EpochSampler _sampler;
    private readonly BatchCollator _collator;

    /// <summary>Creates the source.</summary>
    /// <exception cref="ArgumentException">No examples, or drop-last leaves no batch.</exception>
    public ShuffledBatchSource(IReadOnlyList<TokenizedExample> examples, int padId, BatchSourceOptions options)
    {
        ArgumentNullException.ThrowIfNull(examples);
        _examples = examples;
        _sampler = new EpochSampler(examples.Count, options);
        _collator = new BatchCollator(padId, options.PadToMultipleOf);
    }

    /// <summary>Batches in one epoch.</summary>
    public int BatchesPerEpoch => _sampler.BatchesPerEpoch;

    /// <summary>Examples in the source.</summary>
    public int Count => _examples.Count;

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException">Set: a negative epoch, or a batch index beyond <see cref="BatchesPerEpoch"/>.</exception>
    public DataPosition Position
    {
        get => _sampler.Position;
        set => _sampler.Position = value;
    }

    /// <inheritdoc />
    public TokenBatch Next()
    {
        var indices = _sampler.Next();
        var rows = new TokenizedExample[indices.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            rows[i] = _examples[indices[i]];
        }
        return _collator.Collate(rows);
    }
}

/// <summary>The classification twin of <see cref="ShuffledBatchSource"/>: labels are (B) class ids.</summary>
public sealed class ClassificationBatchSource : IBatchSource<ClassificationBatch>
{
    private readonly IReadOnlyList<ClassificationExample> _examples;
    private readonly EpochSampler _sampler;
    private readonly BatchCollator _collator;

    /// <summary>Creates the source.</summary>
    /// <exception cref="ArgumentException">No examples, or drop-last leaves no batch.</exception>
    public ClassificationBatchSource(IReadOnlyList<ClassificationExample> examples, int padId, BatchSourceOptions options)
    {
        ArgumentNullException.ThrowIfNull(examples);
        _examples = examples;
        _sampler = new EpochSampler(examples.Count, options);
        _collator = new BatchCollator(padId, options.PadToMultipleOf);
    }

    public int BatchesPerEpoch => _sampler.BatchesPerEpoch;

    public int Count => _examples.Count;

    /// <inheritdoc />
    public DataPosition Position
    {
        get => _sampler.Position;
        set => _sampler.Position = value;
    }

    /// <inheritdoc />
    public ClassificationBatch Next()
    {
        var indices = _sampler.Next();
        var rows = new ClassificationExample[indices.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            rows[i] = _examples[indices[i]];
        }
        return _collator.Collate(rows);
    }
}
