using System.Diagnostics;
using System.Globalization;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Benchmarks.Tensors;

/// <summary>
/// The flash-attention kernel on one thread with its packed AVX-512 tiles against its portable tiles, rounds
/// alternating so that both see the same machine load. Causal, (B, H, T, D) = (4, 12, T, 64) as in the training
/// benchmark. Run: <c>dotnet run -c Release --project bench/PeftSharp.Benchmarks -- attention [tokens] [rounds]</c>.
/// </summary>
/// <remarks>FLOPs counted: forward 2 products, backward 5 (the score recomputation included), each 2·T·S·D per head
/// over the causal half (T·(T+1)/2 pairs).</remarks>
public static class AttentionTiles
{
    public static int Run(string[] args)
    {
        int T = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 256;
        int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
        const int B = 4, H = 12, D = 64;
        var shape = new AttentionShape(B, H, H, T, T, D);
        var st = HeadStrides.Bthd(H, T, D);
        var rng = new Random(5);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        int n = B * H * T * D;
        float[] q = R(n), k = R(n), v = R(n), dout = R(n), o = new float[n], dq = new float[n], dk = new float[n], dv = new float[n];
        float[] lse = new float[B * H * T];
        float[] scratch = new float[Math.Max(Attention.ForwardScratchLength(D, T), Attention.BackwardScratchLength(D))];
        var causal = new AttentionMask { IsCausal = true };
        double pairs = (double)B * H * T * (T + 1) / 2;
        double fwdFlops = 2 * 2 * pairs * D, bwdFlops = 5 * 2 * pairs * D;
        Console.WriteLine($"Causal attention B={B} H={H} T=S={T} D={D}, one thread, packed tiles available: {Attention.CanUsePackedTiles(D)}");

        var best = new Dictionary<(bool Packed, bool Backward), double>();
        for (int round = 0; round < rounds + 1; round++)
        {
            foreach (bool packed in new[] { true, false })
            {
                var sw = Stopwatch.StartNew();
                Attention.ForwardTiles(shape, q, st, k, st, v, st, o, st, lse, causal, scratch, null, 0, B * H, packed);
                double f = sw.Elapsed.TotalSeconds;
                sw.Restart();
                Attention.BackwardTiles(shape, q, st, k, st, v, st, o, st, lse, dout, st, dq, st, dk, st, dv, st, causal, scratch, null, 0, B * H, packed);
                double b = sw.Elapsed.TotalSeconds;
                if (round == 0)
                {
                    continue; // warm-up
                }
                best[(packed, false)] = Math.Max(best.GetValueOrDefault((packed, false)), fwdFlops / f / 1e9);
                best[(packed, true)] = Math.Max(best.GetValueOrDefault((packed, true)), bwdFlops / b / 1e9);
            }
        }
        foreach (bool backward in new[] { false, true })
        {
            double p = best[(true, backward)], s = best[(false, backward)];
            Console.WriteLine($"{(backward ? "backward" : "forward "),-8}: packed {p,6:F1} GFLOP/s, portable {s,6:F1} GFLOP/s, ratio {p / s:F2}× (best of {rounds} alternating rounds)");
        }
        return 0;
    }
}
