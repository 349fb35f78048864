using PeftSharp.Training.Checkpoints;
using PeftSharp.Training.Data;

namespace PeftSharp.Training.Tests.Data;

public sealed class BatchingTests
{
    private const int Ignore = ExampleTokenizer.IgnoreIndex;

    /// <summary>Example i has length 1 + i % 5 and ids 1000 i + j, so every token says where it came from.</summary>
    private static List<TokenizedExample> Examples(int n) =>
        Enumerable.Range(0, n).Select(i =>
        {
            var ids = Enumerable.Range(0, 1 + i % 5).Select(j => 1000 * i + j).ToArray();
            var labels = ids.Select((id, j) => j == 0 ? Ignore : id).ToArray();
            return new TokenizedExample(ids, labels, "f", i + 1);
        }).ToList();

    private static int[] Ints(PeftSharp.Tensors.Tensor t) => t.ToIntArray();

    [Fact]
    public void Collate_PadsRightWithMaskAndIgnoredLabels()
    {
        var batch = new BatchCollator(padId: 7).Collate([
            new TokenizedExample([1, 2, 3], [Ignore, 2, 3], "f", 1),
            new TokenizedExample([4], [4], "f", 2),
        ]);
        Assert.Equal([2, 3], batch.InputIds.Shape.ToArray());
        Assert.Equal([1, 2, 3, 4, 7, 7], Ints(batch.InputIds));
        Assert.Equal([1, 1, 1, 1, 0, 0], Ints(batch.AttentionMask));
        Assert.Equal([Ignore, 2, 3, 4, Ignore, Ignore], Ints(batch.Labels));
        Assert.Equal((4L, 3L), (batch.Tokens, batch.SupervisedTokens));
    }

    [Fact]
    public void Collate_PadToMultipleOf8()
    {
        var collator = new BatchCollator(0, padToMultipleOf: 8);
        Assert.Equal(8, collator.Collate([new TokenizedExample([1, 2, 3], [1, 2, 3], "f", 1)]).SequenceLength);
        Assert.Equal(16, collator.Collate([new TokenizedExample(new int[9], new int[9], "f", 1)]).SequenceLength);
        Assert.Equal(8, collator.Collate([new TokenizedExample(new int[8], new int[8], "f", 1)]).SequenceLength);
    }

    [Fact]
    public void Collate_Classification_LabelsAreOnePerRow()
    {
        var batch = new BatchCollator(0).Collate([new ClassificationExample([5, 6], 2, "f", 1), new ClassificationExample([5, 6, 7, 8], 0, "f", 2)]);
        Assert.Equal([2, 4], batch.InputIds.Shape.ToArray());
        Assert.Equal([2], batch.Labels.Shape.ToArray());
        Assert.Equal([2, 0], Ints(batch.Labels));
        Assert.Equal([1, 1, 0, 0, 1, 1, 1, 1], Ints(batch.AttentionMask));
    }

    [Fact]
    public void Packing_FillsFixedRowsAndKeepsEveryLabel()
    {
        var examples = Examples(7); // lengths 1,2,3,4,5,1,2 = 18 tokens
        var rows = Packing.Pack(examples, 8);
        Assert.Equal([8, 8, 2], rows.Select(r => r.Length));
        Assert.Equal(examples.SelectMany(e => e.InputIds), rows.SelectMany(r => r.InputIds));
        Assert.Equal(examples.SelectMany(e => e.Labels), rows.SelectMany(r => r.Labels));
        Assert.Equal([1L, 4L, 7L], rows.Select(r => r.Line));
        var batch = new BatchCollator(0).Collate(rows);
        Assert.Equal([1, 1, 0, 0, 0, 0, 0, 0], Ints(batch.AttentionMask)[16..]);
    }

    [Fact]
    public void Shuffle_EachEpochVisitsEveryExampleOnce_InASeededOrder()
    {
        var examples = Examples(23);
        var source = new ShuffledBatchSource(examples, 0, new BatchSourceOptions { BatchSize = 4, Seed = 11 });
        Assert.Equal(6, source.BatchesPerEpoch);
        var epoch0 = Enumerable.Range(0, 6).SelectMany(_ => FirstIds(source.Next())).ToList();
        Assert.Equal(new DataPosition(0, 6), source.Position);
        var epoch1 = Enumerable.Range(0, 6).SelectMany(_ => FirstIds(source.Next())).ToList();
        Assert.Equal(new DataPosition(1, 6), source.Position);
        var all = Enumerable.Range(0, 23).Select(i => 1000 * i).ToList();
        Assert.Equal(all, epoch0.Order());
        Assert.Equal(all, epoch1.Order());
        Assert.NotEqual(all, epoch0);
        Assert.NotEqual(epoch0, epoch1);

        var again = new ShuffledBatchSource(examples, 0, new BatchSourceOptions { BatchSize = 4, Seed = 11 });
        Assert.Equal(epoch0, Enumerable.Range(0, 6).SelectMany(_ => FirstIds(again.Next())));
        var otherSeed = new ShuffledBatchSource(examples, 0, new BatchSourceOptions { BatchSize = 4, Seed = 12 });
        Assert.NotEqual(epoch0, Enumerable.Range(0, 6).SelectMany(_ => FirstIds(otherSeed.Next())));
    }

    [Fact]
    public void Position_SetRestoresTheExactStream()
    {
        var examples = Examples(10);
        var options = new BatchSourceOptions { BatchSize = 3, Seed = 5, PadToMultipleOf = 2 };
        var reference = new ShuffledBatchSource(examples, 0, options);
        var positions = new List<DataPosition>();
        var batches = new List<int[]>();
        for (int i = 0; i < 13; i++)
        {
            positions.Add(reference.Position);
            batches.Add(Ints(reference.Next().InputIds));
        }
        foreach (int start in new[] { 0, 3, 4, 7, 12 })
        {
            var resumed = new ShuffledBatchSource(examples, 0, options) { Position = positions[start] };
            for (int i = start; i < 13; i++)
            {
                Assert.Equal(batches[i], Ints(resumed.Next().InputIds));
            }
        }
        // The end-of-epoch position (epoch, BatchesPerEpoch) continues with the next epoch.
        var atEnd = new ShuffledBatchSource(examples, 0, options) { Position = new DataPosition(0, 4) };
        Assert.Equal(batches[4], Ints(atEnd.Next().InputIds));
        Assert.Throws<ArgumentOutOfRangeException>(() => atEnd.Position = new DataPosition(0, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => atEnd.Position = new DataPosition(-1, 0));
    }

    [Fact]
    public void DynamicPadding_ToLongestInBatch_AndDropLast()
    {
        var examples = Examples(10);
        var keep = new ShuffledBatchSource(examples, 0, new BatchSourceOptions { BatchSize = 4, Shuffle = false });
        Assert.Equal(3, keep.BatchesPerEpoch);
        Assert.Equal([4, 4], keep.Next().InputIds.Shape.ToArray()); // lengths 1..4 → padded to 4
        keep.Next();
        Assert.Equal([2, 5], keep.Next().InputIds.Shape.ToArray()); // the small last batch: examples 8, 9 (lengths 4, 5)
        var drop = new ShuffledBatchSource(examples, 0, new BatchSourceOptions { BatchSize = 4, Shuffle = false, DropLast = true });
        Assert.Equal(2, drop.BatchesPerEpoch);
        drop.Next();
        drop.Next();
        Assert.Equal(0, Ints(drop.Next().InputIds)[0]); // next epoch starts again at example 0
        Assert.Throws<ArgumentException>(() => new ShuffledBatchSource(examples.Take(3).ToList(), 0, new BatchSourceOptions { BatchSize = 4, DropLast = true }));
        Assert.Throws<ArgumentException>(() => new ShuffledBatchSource([], 0, new BatchSourceOptions { BatchSize = 4 }));
    }

    [Fact]
    public void ClassificationSource_ResumesExactly()
    {
        var examples = Enumerable.Range(0, 9).Select(i => new ClassificationExample(Enumerable.Repeat(i, 1 + i % 3).ToArray(), i % 2, "f", i + 1)).ToList();
        var options = new BatchSourceOptions { BatchSize = 2, Seed = 3 };
        var a = new ClassificationBatchSource(examples, 0, options);
        var seen = Enumerable.Range(0, 8).Select(_ => Ints(a.Next().InputIds)).ToList();
        var b = new ClassificationBatchSource(examples, 0, options) { Position = new DataPosition(1, 2) };
        Assert.Equal(seen[7], Ints(b.Next().InputIds));
    }

    [Fact]
    public void ValidationSplit_IsDeterministicDisjointAndComplete()
    {
        var items = Enumerable.Range(0, 50).ToList();
        var (train, val) = DataSplit.Split(items, 0.1, null, seed: 42);
        Assert.Equal(5, val.Count);
        Assert.Equal(items, train.Concat(val).Order());
        Assert.Equal(train.Order(), train); // original order kept
        var (train2, val2) = DataSplit.Split(items, 0.1, null, seed: 42);
        Assert.Equal((train, val), (train2, val2), new PairComparer());
        var (_, val3) = DataSplit.Split(items, 0.1, null, seed: 43);
        Assert.NotEqual(val, val3);
        Assert.Equal(7, DataSplit.Split(items, null, 7, 1).Validation.Count);
        Assert.Single(DataSplit.Split(items.Take(3).ToList(), 0.01, null, 1).Validation);
        Assert.Throws<ArgumentException>(() => DataSplit.Split(items, null, 50, 1));
        Assert.Throws<ArgumentException>(() => DataSplit.Split(items, 1.0, null, 1));
        Assert.Throws<ArgumentException>(() => DataSplit.Split(items, 0.1, 3, 1));
    }

    private sealed class PairComparer : IEqualityComparer<(List<int>, List<int>)>
    {
        public bool Equals((List<int>, List<int>) x, (List<int>, List<int>) y) => x.Item1.SequenceEqual(y.Item1) && x.Item2.SequenceEqual(y.Item2);
        public int GetHashCode((List<int>, List<int>) obj) => obj.Item1.Count;
    }

    private static IEnumerable<int> FirstIds(TokenBatch batch)
    {
        var ids = Ints(batch.InputIds);
        int t = batch.SequenceLength;
        return Enumerable.Range(0, batch.BatchSize).Select(r => ids[r * t]);
    }
}
