using PeftSharp.Tensors;
using PeftSharp.Training.Checkpoints;
using PeftSharp.Training.Quickstart;

namespace PeftSharp.Training.Tests.Quickstart;

/// <summary>
/// The quickstart's batch order is part of what it reproduces (the shipped model was pretrained from it, and the quickstart's
/// scores depend on it): epoch e visits the items in a Fisher–Yates order drawn from <see cref="Random"/> seeded from
/// (seed, e), in full batches only. The reference below is that definition written out, independent of the sources.
/// </summary>
public class QuickstartBatchOrderTests
{
    /// <summary>Fisher–Yates from the front: position i swaps with a uniform j in [i, n).</summary>
    private static int[] FisherYates(int n, int seed)
    {
        var order = Enumerable.Range(0, n).ToArray();
        var random = new Random(seed);
        for (int i = 0; i < n - 1; i++)
        {
            int j = random.Next(i, n);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    private static int[] Ints(Tensor t) => t.ToIntArray();

    [Theory]
    [InlineData(0UL, 3, 2)]
    [InlineData(42UL, 4, 3)]
    [InlineData(ulong.MaxValue - 5, 5, 1)]
    public void PackedRows_FollowTheSeededFisherYatesOrder_AndResume(ulong seed, int batch, int rowLen)
    {
        const int rows = 23;
        var stream = Enumerable.Range(0, rows * rowLen + 2).ToArray(); // row r starts with token r·rowLen
        var source = new PackedRows(stream, rows, rowLen, batch, seed);
        int perEpoch = rows / batch;
        var seen = new List<int[]>();
        var positions = new List<DataPosition>();
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var order = FisherYates(rows, unchecked((int)(seed ^ (ulong)epoch * 0x9E3779B97F4A7C15UL)));
            for (int b = 0; b < perEpoch; b++)
            {
                positions.Add(source.Position);
                var ids = Ints(source.Next().Ids);
                seen.Add(ids);
                var expected = order.Skip(b * batch).Take(batch).SelectMany(r => Enumerable.Range(r * rowLen, rowLen));
                Assert.Equal(expected, ids);
            }
        }
        foreach (int start in new[] { perEpoch - 1, perEpoch, 2 * perEpoch + 1 })
        {
            var resumed = new PackedRows(stream, rows, rowLen, batch, seed) { Position = positions[start] };
            Assert.Equal(seen[start], Ints(resumed.Next().Ids));
        }
    }

    [Theory]
    [InlineData(7UL, 4)]
    [InlineData(123456789UL, 3)]
    public void ExampleBatches_FollowTheSeededFisherYatesOrder_AndResume(ulong seed, int batch)
    {
        const int count = 14;
        // Example i has i % 3 + 1 tokens, all equal to i, so a row's first id names its example.
        var examples = Enumerable.Range(0, count)
            .Select(i => new QuickstartRunner.Example(Enumerable.Repeat(i, i % 3 + 1).ToArray(), Enumerable.Repeat(i, i % 3 + 1).ToArray(), 0, i))
            .ToList();
        var source = new ExampleBatches(examples, batch, seed);
        int perEpoch = count / batch;
        var seen = new List<int[]>();
        var positions = new List<DataPosition>();
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var order = FisherYates(count, unchecked((int)(seed * 31 + (ulong)epoch)));
            for (int b = 0; b < perEpoch; b++)
            {
                positions.Add(source.Position);
                var next = source.Next();
                var ids = Ints(next.Ids);
                var labels = Ints(next.Labels);
                seen.Add(ids);
                var rows = order.Skip(b * batch).Take(batch).ToArray();
                int len = rows.Max(r => r % 3 + 1);
                Assert.Equal([batch, len], next.Ids.Shape.ToArray());
                var expectedIds = rows.SelectMany(r => Enumerable.Range(0, len).Select(t => t <= r % 3 ? r : 0));
                var expectedLabels = rows.SelectMany(r => Enumerable.Range(0, len).Select(t => t <= r % 3 ? r : -100));
                Assert.Equal(expectedIds, ids);
                Assert.Equal(expectedLabels, labels);
            }
        }
        foreach (int start in new[] { perEpoch - 1, perEpoch, 2 * perEpoch + 1 })
        {
            var resumed = new ExampleBatches(examples, batch, seed) { Position = positions[start] };
            Assert.Equal(seen[start], Ints(resumed.Next().Ids));
        }
    }
}
