using PeftSharp.Tensors;

namespace PeftSharp.Training.Data;

/// <summary>
/// Pads examples on the right to the longest in the batch (rounded up to <see cref="PadToMultipleOf"/> when set) and
/// builds int32 tensors: input ids (pad id on padding), attention mask (1 real, 0 padding) and labels (-100 on padding).
/// </summary>
public sealed class BatchCollator
{
    /// <summary>Creates a collator.</summary>
    /// <param name="padId">Id written at padded positions (they are masked out, so it only needs to be a valid id).</param>
    /// <param name="padToMultipleOf">Round the padded length up to a multiple of this (e.g. 8); null for none.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="padToMultipleOf"/> is less than 1, or <paramref name="padId"/> is negative.</exception>
    public BatchCollator(int padId, int? padToMultipleOf = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(padId);
        if (padToMultipleOf is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(padToMultipleOf), padToMultipleOf, "Pad-to-multiple must be at least 1.");
        }
        PadId = padId;
        PadToMultipleOf = padToMultipleOf;
    }

    public int PadId { get; }

    public int? PadToMultipleOf { get; }

    /// <summary>The padded length for sequences of at most <paramref name="longest"/> tokens (at least 1).</summary>
    public int PaddedLength(int longest)
    {
        int t = Math.Max(1, longest);
        if (PadToMultipleOf is { } m && t % m != 0)
        {
            t += m - t % m;
        }
        return t;
    }

    /// <summary>Builds a causal-LM batch.</summary>
    /// <exception cref="ArgumentException">No examples, or an example whose labels do not match its ids in length.</exception>
    public TokenBatch Collate(IReadOnlyList<TokenizedExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0)
        {
            throw new ArgumentException("A batch needs at least one example.", nameof(examples));
        }
        int b = examples.Count;
        int t = PaddedLength(examples.Max(e => e.Length));
        var ids = new int[b * t];
        var mask = new int[b * t];
        var labels = new int[b * t];
        long tokens = 0, supervised = 0;
        for (int r = 0; r < b; r++)
        {
            var e = examples[r];
            if (e.Labels.Length != e.InputIds.Length)
            {
                throw new ArgumentException($"Example from {e.Source} line {e.Line} has {e.InputIds.Length} ids but {e.Labels.Length} labels.", nameof(examples));
            }
            var rowIds = ids.AsSpan(r * t, t);
            var rowMask = mask.AsSpan(r * t, t);
            var rowLabels = labels.AsSpan(r * t, t);
            e.InputIds.CopyTo(rowIds);
            rowIds[e.Length..].Fill(PadId);
            rowMask[..e.Length].Fill(1);
            e.Labels.CopyTo(rowLabels);
            rowLabels[e.Length..].Fill(ExampleTokenizer.IgnoreIndex);
            tokens += e.Length;
            foreach (int l in e.Labels)
            {
                supervised += l != ExampleTokenizer.IgnoreIndex ? 1 : 0;
            }
        }
        return new TokenBatch(Tensor.FromInts(ids, b, t), Tensor.FromInts(mask, b, t), Tensor.FromInts(labels, b, t), tokens, supervised);
    }

    /// <summary>Builds a classification batch.</summary>
    /// <exception cref="ArgumentException">No examples.</exception>
    public ClassificationBatch Collate(IReadOnlyList<ClassificationExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0)
        {
            throw new ArgumentException("A batch needs at least one example.", nameof(examples));
        }
        int b = examples.Count;
        int t = PaddedLength(examples.Max(e => e.Length));
        var ids = new int[b * t];
        var mask = new int[b * t];
        var labels = new int[b];
        long tokens = 0;
        for (int r = 0; r < b; r++)
        {
            var e = examples[r];
            var rowIds = ids.AsSpan(r * t, t);
            e.InputIds.CopyTo(rowIds);
            rowIds[e.Length..].Fill(PadId);
            mask.AsSpan(r * t, e.Length).Fill(1);
            labels[r] = e.Label;
            tokens += e.Length;
        }
        return new ClassificationBatch(Tensor.FromInts(ids, b, t), Tensor.FromInts(mask, b, t), Tensor.FromInts(labels, b), tokens);
    }

    /// <summary>Consecutive batches of <paramref name="batchSize"/> in the given order (the last may be smaller), e.g. for validation.</summary>
    public IEnumerable<TokenBatch> Batches(IReadOnlyList<TokenizedExample> examples, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        for (int i = 0; i < examples.Count; i += batchSize)
        {
            yield return Collate(examples.Skip(i).Take(batchSize).ToList());
        }
    }

    /// <summary>Consecutive classification batches in the given order (the last may be smaller).</summary>
    public IEnumerable<ClassificationBatch> Batches(IReadOnlyList<ClassificationExample> examples, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        for (int i = 0; i < examples.Count; i += batchSize)
        {
            yield return Collate(examples.Skip(i).Take(batchSize).ToList());
        }
    }
}
