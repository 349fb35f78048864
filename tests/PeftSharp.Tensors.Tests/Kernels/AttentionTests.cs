using PeftSharp.Tensors.Kernels;
using static PeftSharp.Tensors.Tests.Kernels.KernelTestData;

namespace PeftSharp.Tensors.Tests.Kernels;

public class AttentionTests
{
    /// <summary>A test problem with logical (B, H, T, D) / (B, Hkv, S, D) contents stored in the chosen layouts.</summary>
    private sealed class Problem
    {
        public required AttentionShape Shape;
        public required float[] Q, K, V, DO;
        public required HeadStrides QS, KS, VS, OS;
        public bool Causal;
        public float[]? Additive;  // (1|B, 1|H, T, S)
        public bool[]? Padding;    // (B, S)

        public AttentionMask Mask => new() { IsCausal = Causal, Additive = Additive, KeyPadding = Padding };

        public double Get(float[] a, HeadStrides s, int b, int h, int t, int d) => a[b * s.Batch + h * s.Head + t * s.Token + d];

        public double AdditiveAt(int b, int h, int i, int j)
        {
            if (Additive is null)
            {
                return 0;
            }
            int T = Shape.QueryLength, S = Shape.KeyLength;
            long ts = (long)T * S;
            long o = Additive.Length == ts ? 0 : Additive.Length == Shape.Batch * ts ? b * ts : (b * Shape.Heads + h) * ts;
            return Additive[o + (long)i * S + j];
        }

        public bool Admissible(int b, int i, int j)
            => (!Causal || j <= i + Shape.KeyLength - Shape.QueryLength) && (Padding is null || Padding[b * Shape.KeyLength + j]);
    }

    private static Problem Make(int B, int H, int Hkv, int T, int S, int D, bool causal, bool bthd, int seed)
    {
        var shape = new AttentionShape(B, H, Hkv, T, S, D);
        HeadStrides qs = bthd ? HeadStrides.Bthd(H, T, D) : HeadStrides.Bhtd(H, T, D);
        HeadStrides ks = bthd ? HeadStrides.Bthd(Hkv, S, D) : HeadStrides.Bhtd(Hkv, S, D);
        return new Problem
        {
            Shape = shape, Causal = causal,
            Q = Uniform(B * H * T * D, seed, -1.5f, 1.5f), K = Uniform(B * Hkv * S * D, seed + 1, -1.5f, 1.5f),
            V = Uniform(B * Hkv * S * D, seed + 2), DO = Uniform(B * H * T * D, seed + 3),
            QS = qs, KS = ks, VS = ks, OS = qs,
        };
    }

    /// <summary>
    /// float64 materialised reference. z = scale·q·k + additive over admissible keys; a row with none, or
    /// whose best z ≤ float.MinValue/2, is uniform over all S keys (PyTorch eager with a float32-min mask).
    /// Returns O (B, H, T, D) logical, and optionally the analytic dQ, dK, dV for upstream DO.
    /// </summary>
    private static (double[] O, double[] Lse, double[] DQ, double[] DK, double[] DV) Reference(Problem p, double[]? qOverride = null, double[]? kOverride = null, double[]? vOverride = null)
    {
        var sh = p.Shape;
        int B = sh.Batch, H = sh.Heads, Hkv = sh.KvHeads, T = sh.QueryLength, S = sh.KeyLength, D = sh.HeadDim, G = H / Hkv;
        double scale = 1 / Math.Sqrt(D);
        double Q(int b, int h, int t, int d) => qOverride?[((b * H + h) * T + t) * D + d] ?? p.Get(p.Q, p.QS, b, h, t, d);
        double K(int b, int h, int t, int d) => kOverride?[((b * Hkv + h) * S + t) * D + d] ?? p.Get(p.K, p.KS, b, h, t, d);
        double V(int b, int h, int t, int d) => vOverride?[((b * Hkv + h) * S + t) * D + d] ?? p.Get(p.V, p.VS, b, h, t, d);
        var o = new double[B * H * T * D];
        var lse = new double[B * H * T];
        var dq = new double[B * H * T * D];
        var dk = new double[B * Hkv * S * D];
        var dv = new double[B * Hkv * S * D];
        var z = new double[S];
        var prob = new double[S];
        var dp = new double[S];
        for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
        {
            int g = h / G;
            for (int i = 0; i < T; i++)
            {
                double max = double.NegativeInfinity;
                for (int j = 0; j < S; j++)
                {
                    double dot = 0;
                    for (int d = 0; d < D; d++)
                    {
                        dot += Q(b, h, i, d) * K(b, g, j, d);
                    }
                    z[j] = p.Admissible(b, i, j) ? dot * scale + p.AdditiveAt(b, h, i, j) : double.NegativeInfinity;
                    max = Math.Max(max, z[j]);
                }
                bool fully = max <= float.MinValue / 2.0;
                double sum = 0;
                for (int j = 0; j < S; j++)
                {
                    prob[j] = fully ? 1.0 / S : Math.Exp(z[j] - max);
                    sum += prob[j];
                }
                for (int j = 0; j < S; j++)
                {
                    prob[j] /= sum;
                }
                lse[(b * H + h) * T + i] = fully ? double.NegativeInfinity : max + Math.Log(sum);
                int orow = ((b * H + h) * T + i) * D;
                for (int j = 0; j < S; j++)
                for (int d = 0; d < D; d++)
                {
                    o[orow + d] += prob[j] * V(b, g, j, d);
                }
                // backward
                double delta = 0;
                for (int j = 0; j < S; j++)
                {
                    dp[j] = 0;
                    for (int d = 0; d < D; d++)
                    {
                        dp[j] += p.Get(p.DO, p.OS, b, h, i, d) * V(b, g, j, d);
                    }
                    delta += prob[j] * dp[j];
                }
                for (int j = 0; j < S; j++)
                {
                    double ds = fully ? 0 : prob[j] * (dp[j] - delta);
                    for (int d = 0; d < D; d++)
                    {
                        dv[((b * Hkv + g) * S + j) * D + d] += prob[j] * p.Get(p.DO, p.OS, b, h, i, d);
                        dq[orow + d] += scale * ds * K(b, g, j, d);
                        dk[((b * Hkv + g) * S + j) * D + d] += scale * ds * Q(b, h, i, d);
                    }
                }
            }
        }
        return (o, lse, dq, dk, dv);
    }

    private static (float[] O, float[] Lse, float[] DQ, float[] DK, float[] DV) Run(Problem p, int splits = 1, bool packed = true)
    {
        var sh = p.Shape;
        int B = sh.Batch, H = sh.Heads, Hkv = sh.KvHeads, T = sh.QueryLength, S = sh.KeyLength, D = sh.HeadDim;
        float[] o = new float[B * H * T * D], lse = new float[B * H * T];
        float[] dq = new float[o.Length], dk = new float[B * Hkv * S * D], dv = new float[dk.Length];
        float[] scratch = new float[Math.Max(Attention.ForwardScratchLength(D, S), Attention.BackwardScratchLength(D))];
        int units = B * H;
        for (int s = 0; s < splits; s++)
        {
            int a = units * s / splits, e = units * (s + 1) / splits;
            Attention.ForwardTiles(sh, p.Q, p.QS, p.K, p.KS, p.V, p.VS, o, p.OS, lse, p.Mask, scratch, null, a, e - a, packed);
        }
        units = B * Hkv;
        for (int s = 0; s < splits; s++)
        {
            int a = units * s / splits, e = units * (s + 1) / splits;
            Attention.BackwardTiles(sh, p.Q, p.QS, p.K, p.KS, p.V, p.VS, o, p.OS, lse, p.DO, p.OS, dq, p.OS, dk, p.KS, dv, p.VS, p.Mask, scratch, null, a, e - a, packed);
        }
        return (o, lse, dq, dk, dv);
    }

    /// <summary>Checks both tile paths (packed AVX-512 where the CPU and head dim allow it, and the portable one) against the float64 reference.</summary>
    private static void Compare(Problem p, string name)
    {
        var r = Reference(p);
        CompareTo(r, p, Run(p, packed: true), name + " (packed tiles)");
        CompareTo(r, p, Run(p, packed: false), name + " (portable tiles)");
    }

    private static void CompareTo((double[] O, double[] Lse, double[] DQ, double[] DK, double[] DV) r, Problem p, (float[] O, float[] Lse, float[] DQ, float[] DK, float[] DV) k, string name)
    {
        var sh = p.Shape;
        int B = sh.Batch, H = sh.Heads, Hkv = sh.KvHeads, T = sh.QueryLength, S = sh.KeyLength, D = sh.HeadDim;
        // Forward: float32 dot products over D ≤ 65 terms of magnitude ≤ 2.25 and the scale give scores
        // within ~1e-6·|z|; exp adds 2 ulp and the weighted sum over S ≤ 129 values in [−1, 1] another
        // ~S·6e-8 → 3e-6 absolute on O and on the log-sum-exp.
        for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
        for (int i = 0; i < T; i++)
        {
            double el = r.Lse[(b * H + h) * T + i];
            float gl = k.Lse[(b * H + h) * T + i];
            if (double.IsNegativeInfinity(el))
            {
                Assert.Equal(float.NegativeInfinity, gl);
            }
            else
            {
                AssertClose(el, gl, 3e-6 * (1 + Math.Abs(el)), 0, $"{name} lse[{b},{h},{i}]");
            }
            for (int d = 0; d < D; d++)
            {
                AssertClose(r.O[((b * H + h) * T + i) * D + d], k.O[b * p.OS.Batch + h * p.OS.Head + i * p.OS.Token + d], 3e-6, 1e-5, $"{name} O[{b},{h},{i},{d}]");
                // Gradients chain two more tile products and the softmax Jacobian: sums over S and over the
                // G query heads sharing a kv head, each term ~1e-6 accurate → 2e-5 absolute, 1e-4 relative.
                AssertClose(r.DQ[((b * H + h) * T + i) * D + d], k.DQ[b * p.OS.Batch + h * p.OS.Head + i * p.OS.Token + d], 2e-5, 1e-4, $"{name} dQ[{b},{h},{i},{d}]");
            }
        }
        for (int b = 0; b < B; b++)
        for (int g = 0; g < Hkv; g++)
        for (int j = 0; j < S; j++)
        for (int d = 0; d < D; d++)
        {
            long at = b * p.KS.Batch + g * p.KS.Head + j * p.KS.Token + d;
            int ri = ((b * Hkv + g) * S + j) * D + d;
            AssertClose(r.DK[ri], k.DK[at], 2e-5, 1e-4, $"{name} dK[{b},{g},{j},{d}]");
            AssertClose(r.DV[ri], k.DV[at], 2e-5, 1e-4, $"{name} dV[{b},{g},{j},{d}]");
        }
    }

    [Fact]
    public void Trivial_OneQueryOneKey() => Compare(Make(1, 1, 1, 1, 1, 1, causal: false, bthd: false, 1), "1x1");

    [Fact]
    public void Causal_Gqa_StridedBthd_OddSizes() => Compare(Make(2, 4, 2, 33, 33, 17, causal: true, bthd: true, 2), "causal gqa");

    [Fact]
    public void NoMask_ManyKeyBlocks_TailDims() => Compare(Make(1, 3, 3, 65, 129, 33, causal: false, bthd: false, 3), "dense");

    // Head dims that are multiples of 16 take the packed AVX-512 tiles (where the CPU has them): partial query
    // and key blocks, several 64-dim chunks (128), 16-dim chunks only (48), and a decode-sized query count whose
    // forward stays on the portable tiles while its backward packs.
    [Fact]
    public void PackedTiles_CausalGqa_PartialBlocks() => Compare(Make(2, 4, 2, 70, 70, 64, causal: true, bthd: true, 11), "packed causal gqa d64");

    [Fact]
    public void PackedTiles_TwoDimChunks() => Compare(Make(1, 2, 2, 33, 33, 128, causal: true, bthd: false, 12), "packed d128");

    [Fact]
    public void PackedTiles_SixteenDimChunks_KvCacheLonger() => Compare(Make(1, 2, 1, 9, 130, 48, causal: true, bthd: true, 13), "packed d48 kv cache");

    [Fact]
    public void PackedTiles_FewQueries() => Compare(Make(1, 2, 2, 3, 70, 64, causal: true, bthd: false, 14), "packed d64 T=3");

    [Fact]
    public void PackedTiles_PaddingAndAdditiveMask()
    {
        Problem p = Make(2, 2, 2, 40, 100, 32, causal: false, bthd: true, 15);
        p.Padding = Enumerable.Range(0, 2 * 100).Select(i => !(i >= 100 && i < 100 + 13)).ToArray(); // batch 1: 13 left pads
        p.Additive = Uniform(2 * 40 * 100, 66, -2f, 2f); // (B, 1, T, S)
        Compare(p, "packed d32 masks");
    }

    [Fact]
    public void Causal_KvCacheLongerThanQueries_PaddingAndAdditiveMask()
    {
        Problem p = Make(2, 3, 1, 7, 65, 8, causal: true, bthd: true, 4);
        p.Padding = Enumerable.Range(0, 2 * 65).Select(i => !(i >= 65 && i < 65 + 9)).ToArray(); // batch 1: 9 left pads
        p.Additive = Uniform(2 * 7 * 65, 44, -2f, 2f); // (B, 1, T, S)
        Compare(p, "kv cache");
    }

    [Fact]
    public void PerHeadAdditiveMask() 
    {
        Problem p = Make(2, 2, 1, 17, 17, 7, causal: false, bthd: false, 5);
        p.Additive = Uniform(2 * 2 * 17 * 17, 55, -3f, 3f); // (B, H, T, S)
        Compare(p, "per-head additive");
    }

    /// <summary>Left padding + causal leaves the padded query rows with no admissible key.</summary>
    [Fact]
    public void FullyMaskedRows_AreUniformOverAllKeys_WithoutNaN()
    {
        const int B = 2, H = 2, T = 65, D = 64;
        Problem p = Make(B, H, 2, T, T, D, causal: true, bthd: false, 6);
        p.Padding = Enumerable.Range(0, B * T).Select(i => i >= 5).ToArray(); // batch 0: 5 left pads
        var k = Run(p);
        Assert.All(k.O, v => Assert.True(float.IsFinite(v)));
        Assert.All(k.DQ.Concat(k.DK).Concat(k.DV), v => Assert.True(float.IsFinite(v)));
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(float.NegativeInfinity, k.Lse[i]);
            for (int d = 0; d < D; d++)
            {
                double mean = 0;
                for (int j = 0; j < T; j++)
                {
                    mean += p.Get(p.V, p.VS, 0, 0, j, d) / T;
                }
                AssertClose(mean, k.O[i * D + d], 1e-6, 0, $"O[0,0,{i},{d}] = mean of V");
                Assert.Equal(0f, k.DQ[i * D + d]);
            }
        }
        Compare(p, "fully masked");
    }

    /// <summary>A Hugging Face additive mask (0 / float32 min, causal and padding folded in) gives the same
    /// result as the boolean masks, including the fully masked rows.</summary>
    [Fact]
    public void HuggingFaceMinValueMask_MatchesBooleanMasks()
    {
        const int B = 2, T = 17;
        Problem boolean = Make(B, 2, 1, T, T, 9, causal: true, bthd: false, 7);
        boolean.Padding = Enumerable.Range(0, B * T).Select(i => i % T >= 3 || i >= T).ToArray();
        Problem additive = Make(B, 2, 1, T, T, 9, causal: false, bthd: false, 7);
        additive.Additive = new float[B * T * T];
        for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++)
        {
            additive.Additive[(b * T + i) * T + j] = boolean.Admissible(b, i, j) ? 0f : float.MinValue;
        }
        var x = Run(boolean);
        var y = Run(additive);
        Assert.Equal(x.Lse, y.Lse);
        for (int i = 0; i < x.O.Length; i++)
        {
            AssertClose(x.O[i], y.O[i], 1e-6, 0, $"O[{i}]");
            AssertClose(x.DQ[i], y.DQ[i], 1e-6, 0, $"dQ[{i}]");
        }
        for (int i = 0; i < x.DK.Length; i++)
        {
            AssertClose(x.DK[i], y.DK[i], 1e-6, 0, $"dK[{i}]");
            AssertClose(x.DV[i], y.DV[i], 1e-6, 0, $"dV[{i}]");
        }
        Compare(additive, "hf mask");
    }

    /// <summary>The float64 analytic backward used above agrees with central differences of the float64
    /// forward (including a fully masked row), so the gradient tests rest on the definition.</summary>
    [Fact]
    public void ReferenceBackward_MatchesCentralDifferences()
    {
        Problem p = Make(1, 2, 1, 5, 7, 3, causal: true, bthd: false, 8);
        p.Padding = [false, false, false, true, true, true, true]; // with S − T = 2, query 0 sees keys 0..2: all padded
        var r = Reference(p);
        Assert.True(double.IsNegativeInfinity(r.Lse[0]));
        double[] q = new double[p.Q.Length], k = new double[p.K.Length], v = new double[p.V.Length];
        for (int i = 0; i < q.Length; i++) q[i] = p.Q[i];
        for (int i = 0; i < k.Length; i++) k[i] = p.K[i];
        for (int i = 0; i < v.Length; i++) v[i] = p.V[i];
        double Loss()
        {
            var o = Reference(p, q, k, v).O;
            double l = 0;
            for (int i = 0; i < o.Length; i++)
            {
                l += o[i] * p.DO[i];
            }
            return l;
        }
        void Check(double[] x, double[] grad, string name)
        {
            for (int i = 0; i < x.Length; i++)
            {
                double keep = x[i];
                x[i] = keep + 1e-6;
                double lp = Loss();
                x[i] = keep - 1e-6;
                double lm = Loss();
                x[i] = keep;
                Assert.True(Math.Abs((lp - lm) / 2e-6 - grad[i]) < 1e-6, $"{name}[{i}]: fd {(lp - lm) / 2e-6} vs {grad[i]}");
            }
        }
        Check(q, r.DQ, "dQ");
        Check(k, r.DK, "dK");
        Check(v, r.DV, "dV");
    }

    [Fact]
    public void IsDeterministic_AndRangeSplitsMatchOneCall()
    {
        Problem p = Make(2, 4, 2, 33, 40, 16, causal: true, bthd: true, 9);
        var a = Run(p);
        var b = Run(p);
        var c = Run(p, splits: 3);
        Assert.Equal(a.O, b.O);
        Assert.Equal(a.DQ, b.DQ);
        Assert.Equal(a.DK, b.DK);
        Assert.Equal(a.O, c.O);
        Assert.Equal(a.Lse, c.Lse);
        Assert.Equal(a.DQ, c.DQ);
        Assert.Equal(a.DK, c.DK);
        Assert.Equal(a.DV, c.DV);
    }

    [Fact]
    public void HostileInput_ThrowsNamingShapes()
    {
        var shape = new AttentionShape(1, 2, 1, 3, 4, 8);
        float[] q = new float[48], kv = new float[32], o = new float[48], lse = new float[6];
        float[] scratch = new float[Attention.ForwardScratchLength(8, 8)];
        HeadStrides qs = HeadStrides.Bhtd(2, 3, 8), ks = HeadStrides.Bhtd(1, 4, 8);
        var ex = Assert.Throws<ArgumentException>(() => Attention.Forward(shape, new float[47], qs, kv, ks, kv, ks, o, qs, lse, default, scratch));
        Assert.Contains("(1, 2, 3, 8)", ex.Message);
        Assert.Equal("q", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Attention.Forward(shape, q, qs, kv, ks, new float[31], ks, o, qs, lse, default, scratch));
        Assert.Equal("v", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Attention.Forward(shape, q, qs, kv, ks, kv, ks, o, qs, new float[5], default, scratch));
        Assert.Equal("logSumExp", ex.ParamName);
        Assert.Throws<ArgumentException>(() => Attention.Forward(shape, q, qs, kv, ks, kv, ks, o, qs, lse, new AttentionMask { Additive = new float[13] }, scratch));
        Assert.Throws<ArgumentException>(() => Attention.Forward(shape, q, qs, kv, ks, kv, ks, o, qs, lse, new AttentionMask { KeyPadding = new bool[3] }, scratch));
        Assert.Throws<ArgumentException>(() => Attention.Forward(shape, q, qs, kv, ks, kv, ks, o, qs, lse, default, new float[10]));
        Assert.Throws<ArgumentException>(() => Attention.Forward(shape with { KvHeads = 3, Heads = 4 }, q, qs, kv, ks, kv, ks, o, qs, lse, default, scratch));
        Assert.Throws<ArgumentOutOfRangeException>(() => Attention.Forward(shape, q, qs, kv, ks, kv, ks, o, qs, lse, default, scratch, null, 1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Attention.Forward(shape with { HeadDim = 0 }, q, qs, kv, ks, kv, ks, o, qs, lse, default, scratch));
    }
}
