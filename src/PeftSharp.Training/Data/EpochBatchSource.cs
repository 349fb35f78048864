using PeftSharp.Training.Checkpoints;

namespace PeftSharp.Training.Data;

/// <summary>
/// An endless stream of batches over a fixed list of examples: each epoch visits every example once in a seeded order
/// derived from (seed, epoch), then the next epoch starts with a new order. Setting <see cref="Position"/> restores the
/// exact stream. The sources differ only in how a batch's examples become tensors.
/// </summary>
/// <typeparam name="TExample">One example.</typeparam>
/// <typeparam name="TBatch">The tensors of one batch.</typeparam>
public abstract class EpochBatchSource<TExample, TBatch> : IBatchSource<TBatch>
{
    private readonly IReadOnlyList<TExample> _examples;
    private readonly EpochSampler _sampler;

    /// <exception cref="ArgumentException">No examples, or drop-last leaves no batch.</exception>
    private protected EpochBatchSource(IReadOnlyList<TExample> examples, BatchSourceOptions options)
    {
        ArgumentNullException.ThrowIfNull(examples);
        _examples = examples;
        _sampler = new EpochSampler(examples.Count, options);
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
    public TBatch Next() => Collate(_sampler.Next(_examples));

    /// <summary>The batch of these examples, in this order.</summary>
    private protected abstract TBatch Collate(TExample[] rows);
}
