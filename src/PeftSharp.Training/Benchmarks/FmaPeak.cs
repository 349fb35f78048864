using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Training.Benchmarks;

/// <summary>Measured float32 fused-multiply-add peak of this machine.</summary>
public sealed record FmaPeakResult(string Isa, double OneThreadGflops, double TwoThreadGflops)
{
    /// <summary>
    /// The peak of the threads training uses (at most 2 here): the larger of the 2-thread measurement and the
    /// 1-thread one times the thread count, because another process holding a core during the short 2-thread
    /// loop lowers that measurement (seen as 230 instead of 455 GFLOP/s) while the hardware peak is unchanged.
    /// </summary>
    public double PeakGflops => Math.Max(TwoThreadGflops, OneThreadGflops * Math.Min(2, PeftSharp.Tensors.Kernels.CpuPool.MaxThreads));
}

/// <summary>
/// The float32 FMA peak, measured by a tight loop of independent fused multiply-adds on registers (no memory
/// traffic): 16 accumulators, enough to cover the FMA latency × the number of FMA pipes of current x86 cores.
/// Uses 512-bit FMAs where AVX-512F is available, else 256-bit FMA, else 128-bit multiply-add (no FMA). One FMA
/// lane counts as 2 flops. The best of several runs is reported, on one thread and on two threads at once.
/// </summary>
public static class FmaPeak
{
    private const int Iterations = 20_000_000;

    /// <summary>The instruction set the loop uses on this machine.</summary>
    public static string Isa => Avx512F.IsSupported ? "avx512" : Fma.IsSupported ? "avx2-fma" : "sse";

    /// <summary>Runs the measurement (about a second).</summary>
    public static FmaPeakResult Measure(int rounds = 3)
    {
        double one = 0, two = 0;
        Run(1, Iterations / 10);   // JIT and clock warm-up
        for (int r = 0; r < rounds; r++)
        {
            one = Math.Max(one, Run(1, Iterations));
            two = Math.Max(two, Run(2, Iterations));
        }
        return new FmaPeakResult(Isa, one, two);
    }

    private static double Run(int threads, int iterations)
    {
        var workers = new Thread[threads];
        float sink = 0;
        using var start = new ManualResetEventSlim(false);
        for (int t = 0; t < threads; t++)
        {
            workers[t] = new Thread(() =>
            {
                start.Wait();
                float s = Loop(iterations);
                lock (workers)
                {
                    sink += s;
                }
            });
            workers[t].Start();
        }
        var sw = Stopwatch.StartNew();
        start.Set();
        foreach (var w in workers)
        {
            w.Join();
        }
        sw.Stop();
        GC.KeepAlive(sink);
        int lanes = Avx512F.IsSupported ? 16 : Fma.IsSupported ? 8 : 4;
        double flops = (double)threads * iterations * 16 * lanes * 2;
        return flops / sw.Elapsed.TotalSeconds / 1e9;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Loop(int iterations)
    {
        if (Avx512F.IsSupported)
        {
            var a = Vector512.Create(0.999999f);
            var b = Vector512.Create(1e-7f);
            Vector512<float> c0 = Vector512.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
            Vector512<float> c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
            for (int i = 0; i < iterations; i++)
            {
                c0 = Avx512F.FusedMultiplyAdd(c0, a, b); c1 = Avx512F.FusedMultiplyAdd(c1, a, b);
                c2 = Avx512F.FusedMultiplyAdd(c2, a, b); c3 = Avx512F.FusedMultiplyAdd(c3, a, b);
                c4 = Avx512F.FusedMultiplyAdd(c4, a, b); c5 = Avx512F.FusedMultiplyAdd(c5, a, b);
                c6 = Avx512F.FusedMultiplyAdd(c6, a, b); c7 = Avx512F.FusedMultiplyAdd(c7, a, b);
                c8 = Avx512F.FusedMultiplyAdd(c8, a, b); c9 = Avx512F.FusedMultiplyAdd(c9, a, b);
                c10 = Avx512F.FusedMultiplyAdd(c10, a, b); c11 = Avx512F.FusedMultiplyAdd(c11, a, b);
                c12 = Avx512F.FusedMultiplyAdd(c12, a, b); c13 = Avx512F.FusedMultiplyAdd(c13, a, b);
                c14 = Avx512F.FusedMultiplyAdd(c14, a, b); c15 = Avx512F.FusedMultiplyAdd(c15, a, b);
            }
            var s = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11 + c12 + c13 + c14 + c15;
            return Vector512.Sum(s);
        }
        if (Fma.IsSupported)
        {
            var a = Vector256.Create(0.999999f);
            var b = Vector256.Create(1e-7f);
            Vector256<float> c0 = Vector256.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
            Vector256<float> c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
            for (int i = 0; i < iterations; i++)
            {
                c0 = Fma.MultiplyAdd(c0, a, b); c1 = Fma.MultiplyAdd(c1, a, b);
                c2 = Fma.MultiplyAdd(c2, a, b); c3 = Fma.MultiplyAdd(c3, a, b);
                c4 = Fma.MultiplyAdd(c4, a, b); c5 = Fma.MultiplyAdd(c5, a, b);
                c6 = Fma.MultiplyAdd(c6, a, b); c7 = Fma.MultiplyAdd(c7, a, b);
                c8 = Fma.MultiplyAdd(c8, a, b); c9 = Fma.MultiplyAdd(c9, a, b);
                c10 = Fma.MultiplyAdd(c10, a, b); c11 = Fma.MultiplyAdd(c11, a, b);
                c12 = Fma.MultiplyAdd(c12, a, b); c13 = Fma.MultiplyAdd(c13, a, b);
                c14 = Fma.MultiplyAdd(c14, a, b); c15 = Fma.MultiplyAdd(c15, a, b);
            }
            var s = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11 + c12 + c13 + c14 + c15;
            return Vector256.Sum(s);
        }
        {
            var a = Vector128.Create(0.999999f);
            var b = Vector128.Create(1e-7f);
            Vector128<float> c0 = Vector128.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
            Vector128<float> c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
            for (int i = 0; i < iterations; i++)
            {
                c0 = c0 * a + b; c1 = c1 * a + b; c2 = c2 * a + b; c3 = c3 * a + b;
                c4 = c4 * a + b; c5 = c5 * a + b; c6 = c6 * a + b; c7 = c7 * a + b;
                c8 = c8 * a + b; c9 = c9 * a + b; c10 = c10 * a + b; c11 = c11 * a + b;
                c12 = c12 * a + b; c13 = c13 * a + b; c14 = c14 * a + b; c15 = c15 * a + b;
            }
            var s = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11 + c12 + c13 + c14 + c15;
            return Vector128.Sum(s);
        }
    }
}
