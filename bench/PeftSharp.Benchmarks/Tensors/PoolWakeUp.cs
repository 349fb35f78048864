using System.Diagnostics;
using System.Globalization;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Benchmarks.Tensors;

/// <summary>
/// What a parallel call costs when it follows a stretch of single-threaded work (as the kernels of a training step
/// follow elementwise ops), with the pool's workers polling for the next call against blocking at once
/// (<see cref="CpuPool.IdleSpinMicroseconds"/> 1000 vs 0), the two settings alternating. Each call runs two items of
/// ~50 µs of arithmetic; the time from the call to its return is reported (ideal: one item's time).
/// Run: <c>dotnet run -c Release --project bench/PeftSharp.Benchmarks -- pool [gapMicroseconds] [calls]</c>.
/// </summary>
public static class PoolWakeUp
{
    public static int Run(string[] args)
    {
        int gapUs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 300;
        int calls = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2000;
        Console.WriteLine($"{CpuPool.MaxThreads} threads; each call: 2 items of ~50 µs, after {gapUs} µs of single-threaded work; {calls} calls per setting and round");
        var work = new Work { Iterations = Calibrate(50) };
        long gapTicks = gapUs * Stopwatch.Frequency / 1_000_000;
        var results = new Dictionary<int, List<double>> { [0] = [], [1000] = [] };
        for (int round = 0; round < 4; round++)
        {
            foreach (int spin in new[] { 1000, 0 })
            {
                CpuPool.IdleSpinMicroseconds = spin;
                var times = new double[calls];
                for (int c = 0; c < calls; c++)
                {
                    long until = Stopwatch.GetTimestamp() + gapTicks;
                    while (Stopwatch.GetTimestamp() < until)
                    {
                        Thread.SpinWait(16); // the single-threaded stretch
                    }
                    long t0 = Stopwatch.GetTimestamp();
                    CpuPool.For(2, in work);
                    times[c] = (Stopwatch.GetTimestamp() - t0) * 1e6 / Stopwatch.Frequency;
                }
                Array.Sort(times);
                if (round > 0)
                {
                    results[spin].Add(times[calls / 2]);
                }
            }
        }
        CpuPool.IdleSpinMicroseconds = 1000;
        foreach (var (spin, medians) in results)
        {
            Console.WriteLine($"idle spin {spin,4} µs: median call {string.Join(" / ", medians.Select(m => m.ToString("F1", CultureInfo.InvariantCulture)))} µs (one item alone: ~50 µs)");
        }
        return 0;
    }

    private static int Calibrate(int microseconds)
    {
        var w = new Work { Iterations = 100_000 };
        for (int i = 0; i < 50; i++)
        {
            w.Invoke(0); // reach the optimised code first
        }
        var sw = Stopwatch.StartNew();
        w.Invoke(0);
        double perIteration = sw.Elapsed.TotalMicroseconds / 100_000;
        return Math.Max(1, (int)(microseconds / perIteration));
    }

    private struct Work : IParallelAction
    {
        public int Iterations;

        public readonly void Invoke(int index)
        {
            double x = index + 1;
            for (int i = 0; i < Iterations; i++)
            {
                x = x * 1.0000001 + 1e-9;
            }
            if (x == 0)
            {
                Console.Write(""); // keeps the loop from being removed
            }
        }
    }
}
