using System.Diagnostics;
using System.Globalization;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Benchmarks.Tensors;

/// <summary>
/// What packing the frozen weight costs in the training step's products: each shape of the benchmark model's
/// LoRA step (1024 token rows) timed with B packed on every call against B packed once (<see cref="Gemm.PackB(bool, int, int, ReadOnlySpan{float}, int)"/>),
/// rounds alternating. Forward products are x·Wᵀ (B = Wᵀ, packed by transposing), input-gradient products dY·W
/// (B = W, packed by copying rows). Run: <c>dotnet run -c Release --project bench/PeftSharp.Benchmarks -- prepacked [rounds]</c>.
/// </summary>
public static class PrePackedGemm
{
    public static int Run(string[] args)
    {
        int rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
        const int M = 1024;
        var shapes = new (string Name, int N, int K, bool TransB)[]
        {
            ("fwd q/k/v/o 768→768", 768, 768, true),
            ("fwd gate/up 768→2048", 2048, 768, true),
            ("fwd down 2048→768", 768, 2048, true),
            ("fwd lm_head 768→32000", 32000, 768, true),
            ("dx q/k/v/o", 768, 768, false),
            ("dx gate/up", 768, 2048, false),
            ("dx down", 2048, 768, false),
            ("dx lm_head", 768, 32000, false),
        };
        Console.WriteLine($"M = {M} rows, {Environment.ProcessorCount} threads, best of {rounds} alternating rounds");
        var rng = new Random(3);
        foreach (var (name, n, k, transB) in shapes)
        {
            float[] a = Fill(M * k, rng), w = Fill(n * k, rng), c = new float[M * n];
            // W is stored (out, in) as a Linear weight: forward B = Wᵀ (k = in, n = out), backward B = W (k = out, n = in).
            int ldb = transB ? k : n;
            var packed = Gemm.PackB(transB, k, n, w, ldb);
            double flops = 2.0 * M * n * k;
            double bestEach = double.MaxValue, bestOnce = double.MaxValue;
            for (int r = 0; r <= rounds; r++)
            {
                var sw = Stopwatch.StartNew();
                Gemm.Sgemm(false, transB, M, n, k, 1f, a, k, w, ldb, 0f, c, n);
                double each = sw.Elapsed.TotalSeconds;
                sw.Restart();
                Gemm.Sgemm(false, M, 1f, a, k, packed, 0f, c, n);
                double once = sw.Elapsed.TotalSeconds;
                if (r > 0)
                {
                    bestEach = Math.Min(bestEach, each);
                    bestOnce = Math.Min(bestOnce, once);
                }
            }
            Console.WriteLine($"{name,-24} packed per call {flops / bestEach / 1e9,6:F1} GFLOP/s, pre-packed {flops / bestOnce / 1e9,6:F1} GFLOP/s, saves {(bestEach - bestOnce) * 1e3,6:F2} ms ({(1 - bestOnce / bestEach) * 100,5:F1} %)");
        }
        return 0;
    }

    private static float[] Fill(int n, Random rng)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        return x;
    }
}
