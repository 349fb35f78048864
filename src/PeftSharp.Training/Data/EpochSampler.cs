using PeftSharp.Tensors;
using PeftSharp.Training.Checkpoints;

namespace PeftSharp.Training.Data;

/// <summary>Options of a shuffled batch source.</summary>
public sealed class BatchSourceOptions
{
    /// <summary>Examples per batch.</summary>
    public required int BatchSize { get; init; }

    /// <summary>Seed of the shuffles; epoch e uses a permutation derived from (seed, e) only.</summary>
    public ulong Seed { get; init; }

    /// <summary>Shuffle each epoch (false: file order every epoch).</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Drop an epoch's last batch when it is smaller than <see cref="BatchSize"/>.</summary>
    public bool DropLast { get; init; }

    /// <summary>Round padded lengths up to a multiple of this (e.g. 8); null for none.</summary>
    public int? PadToMultipleOf { get; init; }
}

/// <summary>
/// Which examples make up each batch: epoch e visits the examples in a permutation computed from (seed, e) alone, so a
/// position (epoch, batch) identifies the next batch without replaying earlier ones.
/// </summary>
internal sealed class EpochSampler
{
    private readonly int _count;
    private readonly int _batchSize;
    private readonly Func<long, int[]> _permutation;
    private long _epoch, _batch;
    private int[]? _order;
    private long _orderEpoch = -1;

    /// <summary>Orders each epoch by <see cref="Permutation"/> with the options' seed and shuffle setting.</summary>
    public EpochSampler(int count, BatchSourceOptions options)
        : this(count, NotNull(options).BatchSize, options.DropLast, epoch => Permutation(count, options.Seed, epoch, options.Shuffle))
    {
    }

    /// <summary>Orders epoch e by <paramref name="permutation"/>(e), which must be a permutation of 0..count-1 that depends on e alone.</summary>
    public EpochSampler(int count, int batchSize, bool dropLast, Func<long, int[]> permutation)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1, nameof(BatchSourceOptions.BatchSize));
        if (count == 0)
        {
            throw new ArgumentException("A batch source needs at least one example.");
        }
        _count = count;
        _batchSize = batchSize;
        _permutation = permutation;
        BatchesPerEpoch = dropLast ? count / batchSize : (count + batchSize - 1) / batchSize;
        if (BatchesPerEpoch == 0)
        {
            throw new ArgumentException($"{count} examples make no full batch of {batchSize} with drop-last on.");
        }
    }

    public int BatchesPerEpoch { get; }

    public DataPosition Position
    {
        get => new(_epoch, _batch);
        set
        {
            if (value.Epoch < 0 || value.Batch < 0 || value.Batch > BatchesPerEpoch)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"A position needs epoch ≥ 0 and 0 ≤ batch ≤ {BatchesPerEpoch} (batches per epoch).");
            }
            (_epoch, _batch) = (value.Epoch, value.Batch);
        }
    }

    /// <summary>Example indices of the next batch; advances the position (to the next epoch after the last batch).</summary>
    public ArraySegment<int> Next()
    {
        if (_batch >= BatchesPerEpoch)
        {
            _epoch++;
            _batch = 0;
        }
        var order = Order(_epoch);
        int start = (int)(_batch * _batchSize);
        int n = Math.Min(_batchSize, _count - start);
        _batch++;
        return new ArraySegment<int>(order, start, n);
    }

    /// <summary>The items of the next batch, in order; advances the position like <see cref="Next()"/>.</summary>
    public T[] Next<T>(IReadOnlyList<T> items)
    {
        var indices = Next();
        var rows = new T[indices.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            rows[i] = items[indices[i]];
        }
        return rows;
    }

    private int[] Order(long epoch)
    {
        if (_orderEpoch != epoch || _order is null)
        {
            _order = _permutation(epoch);
            _orderEpoch = epoch;
        }
        return _order;
    }

    private static BatchSourceOptions NotNull(BatchSourceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options;
    }

    /// <summary>Fisher–Yates over 0..n-1 with a generator seeded from (seed, epoch); identity when not shuffling.</summary>
    internal static int[] Permutation(int n, ulong seed, long epoch, bool shuffle)
    {
        var order = new int[n];
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
        }
        if (!shuffle)
        {
            return order;
        }
        var rng = new Rng(seed ^ (0x9E3779B97F4A7C15UL * (ulong)(epoch + 1)));
        for (int i = n - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
