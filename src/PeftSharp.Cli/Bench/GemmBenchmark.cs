using System.Diagnostics;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Cli.Bench;

/// <summary>One benchmarked product: C (M, N) = op(A) (M, K) · op(B) (K, N); B optionally stored as bf16.</summary>
internal sealed record GemmShape(string Name, string Group, int M, int N, int K, bool TransA, bool TransB, DType BType = DType.F32)
{
    public string Transpose => (TransA ? "T" : "N") + (TransB ? "T" : "N");

    public double Flops => 2.0 * M * N * K;

    /// <summary>
    /// The shapes of a transformer step at M = 1024 tokens (hidden 768): forward y = x·Wᵀ (NT), input gradient
    /// dX = dY·W (NN), weight gradient dW = dYᵀ·X (TN); LoRA-skinny products at rank 16; decode (M = 1, and 4 sequences at once); squares.
    /// </summary>
    public static IReadOnlyList<GemmShape> All { get; } =
    [
        new("square-256", "square", 256, 256, 256, false, false),
        new("square-512", "square", 512, 512, 512, false, false),
        new("square-1024", "square", 1024, 1024, 1024, false, false),
        new("square-2048", "square", 2048, 2048, 2048, false, false),
        new("fwd-768x768", "transformer", 1024, 768, 768, false, true),
        new("fwd-768x2048", "transformer", 1024, 2048, 768, false, true),
        new("fwd-2048x768", "transformer", 1024, 768, 2048, false, true),
        new("fwd-768x3072", "transformer", 1024, 3072, 768, false, true),
        new("dx-768x3072", "transformer", 1024, 768, 3072, false, false),
        new("dw-768x3072", "transformer", 3072, 768, 1024, true, false),
        new("fwd-768x3072-bf16", "transformer", 1024, 3072, 768, false, true, DType.BF16),
        new("lora-768x16", "lora", 1024, 16, 768, false, true),
        new("lora-16x768", "lora", 1024, 768, 16, false, true),
        new("decode-768x3072", "decode", 1, 3072, 768, false, true),
        new("decode-768x3072-bf16", "decode", 1, 3072, 768, false, true, DType.BF16),
        new("decode4-768x3072", "decode", 4, 3072, 768, false, true),
    ];

    /// <summary>Shapes whose name or group matches one of the comma-separated filters ("all" selects everything).</summary>
    public static IReadOnlyList<GemmShape> Select(string filter)
    {
        string[] parts = filter.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0 || parts.Contains("all", StringComparer.OrdinalIgnoreCase))
        {
            return All;
        }
        var chosen = All.Where(s => parts.Any(p => s.Name.Equals(p, StringComparison.OrdinalIgnoreCase) || s.Group.Equals(p, StringComparison.OrdinalIgnoreCase))).ToList();
        if (chosen.Count == 0)
        {
            throw new ArgumentException($"No GEMM shape matches '{filter}'. Known: all, {string.Join(", ", All.Select(s => s.Group).Distinct())}, {string.Join(", ", All.Select(s => s.Name))}.");
        }
        return chosen;
    }
}

/// <summary>One row of the report (the JSON field names are the stable interface).</summary>
/// <remarks><c>OursCpuGflops</c> divides by the process CPU time instead of wall time: on a shared machine it shows what
/// the kernel does with the cycles it actually got (with two threads, per core).</remarks>
internal sealed record GemmResult(string Name, int M, int N, int K, string Transpose, int Threads, double OursGflops, double? OpenBlasGflops,
    double MaxRelativeDifference, double OursCpuGflops);

/// <summary>
/// Measures our SGEMM against OpenBLAS on the same operands in the same process. For every shape and thread count
/// the two are measured alternately <c>repeat</c> times and the best of each is kept, so a noisy neighbour slows both
/// rather than one. Before timing, the two results are compared.
/// </summary>
internal sealed class GemmBenchmark(OpenBlas? openBlas, int repeat, double minMilliseconds)
{
    public IEnumerable<GemmResult> Run(IReadOnlyList<GemmShape> shapes, IReadOnlyList<int> threadCounts)
    {
        foreach (GemmShape shape in shapes)
        {
            var operands = new Operands(shape);
            foreach (int threads in threadCounts)
            {
                CpuPool.MaxThreads = threads;
                openBlas?.SetThreads(threads);
                double difference = double.NaN;
                if (openBlas is not null)
                {
                    operands.RunOurs();
                    float[] ours = operands.C.ToArray();
                    operands.RunOpenBlas(openBlas);
                    difference = MaxRelativeDifference(ours, operands.C);
                }
                double best = 0, bestBlas = 0, bestCpu = 0;
                for (int round = 0; round < repeat; round++)
                {
                    (double wall, double cpu) = Measure(shape, operands.RunOurs);
                    best = Math.Max(best, wall);
                    bestCpu = Math.Max(bestCpu, cpu);
                    if (openBlas is not null)
                    {
                        bestBlas = Math.Max(bestBlas, Measure(shape, () => operands.RunOpenBlas(openBlas)).Wall);
                        Thread.Sleep(50); // OpenBLAS workers keep spinning for a while after a call; let them park
                    }
                }
                yield return new GemmResult(shape.Name, shape.M, shape.N, shape.K, shape.Transpose, threads,
                    Math.Round(best, 1), openBlas is null ? null : Math.Round(bestBlas, 1), difference, Math.Round(bestCpu, 1));
            }
        }
    }

    /// <summary>
    /// GFLOP/s of one timed batch (at least <c>minMilliseconds</c> of back-to-back calls after one warm-up call), by
    /// wall time and by process CPU time (per core busy).
    /// </summary>
    private (double Wall, double Cpu) Measure(GemmShape shape, Action call)
    {
        call();
        using var process = Process.GetCurrentProcess();
        TimeSpan cpuStart = process.TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        int calls = 0;
        TimeSpan elapsed;
        do
        {
            call();
            calls++;
            elapsed = Stopwatch.GetElapsedTime(start);
        }
        while (elapsed.TotalMilliseconds < minMilliseconds);
        process.Refresh();
        double cpuSeconds = (process.TotalProcessorTime - cpuStart).TotalSeconds;
        double work = shape.Flops * calls / 1e9;
        return (work / elapsed.TotalSeconds, cpuSeconds > 0 ? work / cpuSeconds : 0);
    }

    private static double MaxRelativeDifference(float[] x, float[] y)
    {
        double scale = 0, diff = 0;
        for (int i = 0; i < x.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(y[i]));
            diff = Math.Max(diff, Math.Abs(x[i] - y[i]));
        }
        return scale == 0 ? diff : diff / scale;
    }

    private sealed class Operands
    {
        private readonly GemmShape _shape;
        private readonly float[] _a, _b;
        private readonly ushort[]? _b16;
        private readonly int _lda, _ldb;

        public Operands(GemmShape shape)
        {
            _shape = shape;
            var rng = new Random(42);
            _a = Fill(rng, shape.M * shape.K);
            _b = Fill(rng, shape.K * shape.N);
            if (shape.BType != DType.F32)
            {
                // OpenBLAS gets the same values: the bf16 weights widened back to float32.
                _b16 = new ushort[_b.Length];
                LowPrecision.Narrow(shape.BType, _b, _b16);
                LowPrecision.Widen(shape.BType, _b16, _b);
            }
            _lda = shape.TransA ? shape.M : shape.K;
            _ldb = shape.TransB ? shape.K : shape.N;
            C = new float[shape.M * shape.N];
        }

        public float[] C { get; }

        public void RunOurs()
        {
            GemmShape s = _shape;
            if (_b16 is null)
            {
                Gemm.Sgemm(s.TransA, s.TransB, s.M, s.N, s.K, 1f, _a, _lda, _b, _ldb, 0f, C, s.N);
            }
            else
            {
                Gemm.Sgemm(s.TransA, s.TransB, s.M, s.N, s.K, 1f, _a, _lda, _b16, s.BType, _ldb, 0f, C, s.N);
            }
        }

        public void RunOpenBlas(OpenBlas blas)
            => blas.Sgemm(_shape.TransA, _shape.TransB, _shape.M, _shape.N, _shape.K, 1f, _a, _lda, _b, _ldb, 0f, C, _shape.N);

        private static float[] Fill(Random rng, int length)
        {
            var x = new float[length];
            for (int i = 0; i < length; i++)
            {
                x[i] = (float)(rng.NextDouble() * 2 - 1);
            }
            return x;
        }
    }
}
