using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Tensors.Tests.Kernels;

public class CpuPoolTests
{
    private readonly struct CountAction(int[] hits) : IParallelAction
    {
        public void Invoke(int index) => Interlocked.Increment(ref hits[index]);
    }

    private readonly struct ThrowAt(int bad, int[] hits) : IParallelAction
    {
        public void Invoke(int index)
        {
            Interlocked.Increment(ref hits[index]);
            if (index == bad)
            {
                throw new InvalidOperationException($"index {index} failed");
            }
        }
    }

    private readonly struct Nested(int[] hits) : IParallelAction
    {
        public void Invoke(int index)
        {
            Assert.True(CpuPool.IsInsideParallelCall);
            int[] inner = new int[10];
            CpuPool.For(inner.Length, new CountAction(inner), 4);
            Assert.All(inner, h => Assert.Equal(1, h));
            Interlocked.Increment(ref hits[index]);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void For_RunsEveryIndexExactlyOnce(int threads)
    {
        foreach (int count in new[] { 1, 2, 3, 17, 1000 })
        {
            int[] hits = new int[count];
            CpuPool.For(count, new CountAction(hits), threads);
            Assert.All(hits, h => Assert.Equal(1, h));
        }
    }

    [Fact]
    public void For_RethrowsTheWorkerException_AndStaysUsable()
    {
        int[] hits = new int[10_000];
        var e = Assert.Throws<InvalidOperationException>(() => CpuPool.For(hits.Length, new ThrowAt(37, hits), 2));
        Assert.Equal("index 37 failed", e.Message);
        Assert.True(hits.Sum() < hits.Length, "indices kept being handed out after the failure");

        int[] again = new int[100];
        CpuPool.For(again.Length, new CountAction(again), 2);
        Assert.All(again, h => Assert.Equal(1, h));
    }

    [Fact]
    public void For_NestedCall_RunsInlineWithoutDeadlock()
    {
        int[] hits = new int[8];
        CpuPool.For(hits.Length, new Nested(hits), 2);
        Assert.All(hits, h => Assert.Equal(1, h));
        Assert.False(CpuPool.IsInsideParallelCall);
    }

    [Fact]
    public async Task For_ConcurrentCallers_AllComplete()
    {
        // Dedicated threads, so the callers really overlap; the pool serves one and runs the others inline.
        var tasks = Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(() =>
        {
            for (int round = 0; round < 200; round++)
            {
                int[] hits = new int[64];
                CpuPool.For(hits.Length, new CountAction(hits), 2);
                Assert.All(hits, h => Assert.Equal(1, h));
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void For_RejectsBadThreadCounts_AndIgnoresEmptyRanges()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuPool.For(10, new CountAction(new int[10]), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuPool.For(10, new CountAction(new int[10]), CpuPool.ThreadLimit + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuPool.MaxThreads = 0);
        CpuPool.For(0, new CountAction([]), 2);
        CpuPool.For(-3, new CountAction([]), 2);
    }

    [Fact]
    public void For_WithDelegate_RunsEveryIndex()
    {
        int[] hits = new int[50];
        CpuPool.For(hits.Length, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    /// <summary>
    /// Workers that poll for the next call and workers that block hand over every call exactly once, whatever the
    /// gap between calls (shorter than the polling budget, longer than it, or none): a wake-up signal left over from
    /// a call a polling worker already took must not start a phantom job or lose the next one.
    /// </summary>
    [Fact]
    public void IdleSpin_HandsOverEveryCallExactlyOnce_WithAndWithoutPolling()
    {
        int saved = CpuPool.IdleSpinMicroseconds;
        try
        {
            var rng = new Random(7);
            foreach (int spin in new[] { 1000, 0, 50 })
            {
                CpuPool.IdleSpinMicroseconds = spin;
                for (int call = 0; call < 300; call++)
                {
                    int gapUs = rng.Next(4) switch { 0 => 0, 1 => 20, 2 => 120, _ => 1500 };
                    if (gapUs > 0)
                    {
                        var until = System.Diagnostics.Stopwatch.GetTimestamp() + gapUs * System.Diagnostics.Stopwatch.Frequency / 1_000_000;
                        while (System.Diagnostics.Stopwatch.GetTimestamp() < until)
                        {
                            Thread.SpinWait(8);
                        }
                    }
                    int[] hits = new int[1 + rng.Next(9)];
                    CpuPool.For(hits.Length, new CountAction(hits), 3);
                    Assert.All(hits, h => Assert.Equal(1, h));
                }
            }
        }
        finally
        {
            CpuPool.IdleSpinMicroseconds = saved;
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuPool.IdleSpinMicroseconds = -1);
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuPool.IdleSpinMicroseconds = 1_000_001);
    }
}
