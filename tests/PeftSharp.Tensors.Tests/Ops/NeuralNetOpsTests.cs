using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Tensors.Tests.Ops;

public class NeuralNetOpsTests
{
    private static Tensor R(params int[] shape) => GradCheck.Rand(new Rng((ulong)shape.Sum() * 13 + (ulong)shape.Length), shape);

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(65)]
    public void Activations_MatchFiniteDifferences(int n)
    {
        GradCheck.Check(x => x[0].Gelu(), [R(n)]);
        GradCheck.Check(x => x[0].Gelu(tanhApproximation: true), [R(n)]);
        GradCheck.Check(x => x[0].Silu(), [R(n)]);
        GradCheck.Check(x => Tensor.SwiGlu(x[0], x[1]), [R(n), R(n)]);
    }

    [Fact]
    public void Gelu_MatchesDefinitionInFloat64()
    {
        var x = Tensor.Arange(-4f, 4f, 0.37f);
        var y = x.Gelu().ToArray();
        var yt = x.Gelu(true).ToArray();
        var xs = x.ToArray();
        for (int i = 0; i < xs.Length; i++)
        {
            double v = xs[i];
            double exact = 0.5 * v * (1 + Erf(v / Math.Sqrt(2)));
            double tanh = 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
            Assert.True(Math.Abs(exact - y[i]) < 2e-6, $"gelu({v}) = {y[i]}, expected {exact}");
            Assert.True(Math.Abs(tanh - yt[i]) < 2e-6, $"gelu_tanh({v}) = {yt[i]}, expected {tanh}");
        }
    }

    [Fact]
    public void Softmax_LogSoftmax_MatchFiniteDifferences_AndDefinition()
    {
        GradCheck.Check(x => x[0].Softmax(), [R(3, 7)]);
        GradCheck.Check(x => x[0].LogSoftmax(), [R(2, 17)]);
        var x = Tensor.FromArray([1f, 2f, 3f, 1000f, 1000f, 1000f], 2, 3);
        var y = x.Softmax().ToArray();
        double z = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        Assert.Equal(Math.Exp(1) / z, y[0], 6);
        Assert.Equal(1 / 3.0, y[4], 6);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.1f)]
    public void CrossEntropy_MatchesCompositeDefinition_AndGradients(float smoothing)
    {
        var logits = R(5, 7).Mul(3f);
        var targets = Tensor.FromInts([3, -100, 0, 6, 2], 5);
        var loss = Tensor.CrossEntropy(logits, targets, smoothing).Item();
        // Float64 reference: mean over counted rows of (1−ε)·nll + ε·mean_c(−log p_c).
        var l = logits.ToArray();
        double sum = 0;
        int counted = 0;
        var t = targets.ToIntArray();
        for (int r = 0; r < 5; r++)
        {
            if (t[r] == -100) continue;
            counted++;
            double max = l.Skip(r * 7).Take(7).Max();
            double lse = max + Math.Log(l.Skip(r * 7).Take(7).Sum(v => Math.Exp(v - max)));
            double nll = lse - l[r * 7 + t[r]];
            double uni = lse - l.Skip(r * 7).Take(7).Average();
            sum += (1 - smoothing) * nll + smoothing * uni;
        }
        Assert.Equal(sum / counted, loss, 5);
        GradCheck.Check(x => Tensor.CrossEntropy(x[0], targets, smoothing), [logits]);
    }

    [Fact]
    public void CrossEntropy_BadTarget_IsAClearError()
    {
        Assert.ThrowsAny<ArgumentException>(() => Tensor.CrossEntropy(R(2, 3), Tensor.FromInts([0, 3], 2)));
        Assert.Throws<ArgumentException>(() => Tensor.CrossEntropy(R(2, 3), Tensor.FromInts([0], 1)));
    }

    [Fact]
    public void Norms_MatchFiniteDifferences()
    {
        GradCheck.Check(x => Tensor.LayerNorm(x[0], x[1], x[2], 1e-5f), [R(3, 17), R(17), R(17)]);
        GradCheck.Check(x => Tensor.RmsNorm(x[0], x[1], 1e-6f), [R(2, 3, 33), R(33)]);
    }

    [Fact]
    public void Rope_RotatesPairsAndIsNormPreserving()
    {
        var x = R(1, 2, 3, 8);
        int d = 8;
        var cos = Tensor.Empty([1, 3, d]);
        var sin = Tensor.Empty([1, 3, d]);
        for (int t = 0; t < 3; t++)
            for (int i = 0; i < d; i++)
            {
                double inv = Math.Pow(10000, -(2.0 * (i % (d / 2))) / d);
                cos.Span[t * d + i] = (float)Math.Cos(t * inv);
                sin.Span[t * d + i] = (float)Math.Sin(t * inv);
            }
        var y = Tensor.RopeReference(x, cos, sin);
        // Pair (i, i + d/2) is rotated by angle t·inv_i: norms of pairs are preserved.
        for (int h = 0; h < 2; h++)
            for (int t = 0; t < 3; t++)
                for (int i = 0; i < d / 2; i++)
                {
                    double a = x.At(0, h, t, i), b = x.At(0, h, t, i + d / 2);
                    double ya = y.At(0, h, t, i), yb = y.At(0, h, t, i + d / 2);
                    Assert.Equal(a * a + b * b, ya * ya + yb * yb, 5);
                    double ang = t * Math.Pow(10000, -(2.0 * i) / d);
                    Assert.Equal(a * Math.Cos(ang) - b * Math.Sin(ang), ya, 5);
                }
        GradCheck.Check(t => Tensor.RopeReference(t[0], cos, sin), [R(1, 2, 3, 8)]);
    }

    [Fact]
    public void FusedRope_MatchesReference_OnTransposedViews_AndDifferentiates()
    {
        int b = 2, t = 5, h = 3, d = 8;
        var inv = PeftSharp.Tensors.Kernels.Rope.DefaultInverseFrequencies(d, 10000);
        var table = PeftSharp.Tensors.Kernels.RopeTable.Create(inv, 64);
        var pos = Tensor.FromInts([0, 1, 2, 3, 4, 7, 9, 11, 13, 63], b, t);
        var cos = Tensor.Empty([b, t, d]);
        var sin = Tensor.Empty([b, t, d]);
        var p = pos.ToIntArray();
        for (int r = 0; r < b * t; r++)
            for (int i = 0; i < d; i++)
            {
                float angle = p[r] * inv[i % (d / 2)];
                cos.Span[r * d + i] = MathF.Cos(angle);
                sin.Span[r * d + i] = MathF.Sin(angle);
            }
        var x = R(b, t, h, d).Transpose(1, 2); // (B, H, T, D) view of (B, T, H, D): read in place
        var fused = Tensor.Rope(x, pos, table);
        GradCheck.AssertClose(Tensor.RopeReference(x, cos, sin).ToArray(), fused.ToArray(), 1e-6, 1e-5, "rope");
        GradCheck.Check(v => Tensor.Rope(v[0].Transpose(1, 2), pos, table), [R(b, t, h, d)]);
        Assert.Throws<ArgumentException>(() => { Tensor.Rope(x, Tensor.FromInts([0, 1], 2), table); });
    }

    [Theory]
    [InlineData(4, 2, 7, 7, true)]
    [InlineData(2, 2, 5, 9, false)]
    [InlineData(3, 1, 1, 6, true)]
    public void Attention_MatchesNaiveReference(int h, int hkv, int t, int s, bool causal)
    {
        int b = 2, d = 5;
        var q = R(b, h, t, d);
        var k = R(b, hkv, s, d);
        var v = R(b, hkv, s, d);
        // Padding mask: batch row 1 cannot see its last 2 keys (float32 minimum, as Hugging Face builds it).
        var mask = Tensor.Zeros(b, 1, 1, s);
        mask.Span[s + s - 1] = float.MinValue;
        mask.Span[s + s - 2] = float.MinValue;
        var y = Tensor.ScaledDotProductAttention(q, k, v, mask, causal);
        var reference = NaiveAttention(q, k, v, mask, causal);
        GradCheck.AssertClose(reference, y.ToArray(), 1e-5, 1e-4, "attention");
        GradCheck.Check(x => Tensor.ScaledDotProductAttention(x[0], x[1], x[2], mask, causal), [R(b, h, t, d), R(b, hkv, s, d), R(b, hkv, s, d)]);
    }

    private static float[] NaiveAttention(Tensor q, Tensor k, Tensor v, Tensor mask, bool causal)
    {
        int b = q.Dim(0), h = q.Dim(1), t = q.Dim(2), d = q.Dim(3), hkv = k.Dim(1), s = k.Dim(2);
        var result = new float[b * h * t * d];
        double scale = 1 / Math.Sqrt(d);
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
            {
                int kh = hi / (h / hkv);
                for (int i = 0; i < t; i++)
                {
                    var sc = new double[s];
                    for (int j = 0; j < s; j++)
                    {
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += (double)q.At(bi, hi, i, c) * k.At(bi, kh, j, c);
                        sc[j] = dot * scale + mask.At(bi, 0, 0, j);
                        if (causal && j > i + (s - t)) sc[j] = double.NegativeInfinity;
                    }
                    double max = sc.Max();
                    double z = sc.Sum(x => Math.Exp(x - max));
                    for (int c = 0; c < d; c++)
                    {
                        double acc = 0;
                        for (int j = 0; j < s; j++) acc += Math.Exp(sc[j] - max) / z * v.At(bi, kh, j, c);
                        result[((bi * h + hi) * t + i) * d + c] = (float)acc;
                    }
                }
            }
        return result;
    }

    private static double Erf(double x)
    {
        // Abramowitz–Stegun 7.1.26 is too coarse; use the series / continued fraction split for float64 accuracy.
        if (Math.Abs(x) < 3)
        {
            double sum = x, term = x, x2 = x * x;
            for (int n = 1; n < 100; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17) break;
            }
            return 2 / Math.Sqrt(Math.PI) * sum;
        }
        return Math.Sign(x) * (1 - Math.Exp(-x * x) / (Math.Abs(x) * Math.Sqrt(Math.PI)) * (1 - 1 / (2 * x * x)));
    }
}

public class FusedAttentionTests
{
    private static Tensor R(params int[] shape) => GradCheck.Rand(new Rng((ulong)shape.Sum() * 29 + 5), shape);

    [Theory]
    [InlineData(4, 2, 7, 7, true)]
    [InlineData(2, 2, 5, 9, false)]
    [InlineData(3, 1, 1, 6, true)]
    [InlineData(2, 1, 33, 33, true)]
    [InlineData(4, 4, 65, 65, true)]
    public void FusedAttention_MatchesComposedReference_ForwardAndBackward(int h, int hkv, int t, int s, bool causal)
    {
        int b = 2, d = 8;
        // Padding: batch row 1 cannot see its last 2 keys.
        var pad = Enumerable.Range(0, b * s).Select(i => i >= s && i >= 2 * s - 2 ? 0 : 1).ToArray();
        var keyPadding = Tensor.FromInts(pad, b, s);
        var additive = Tensor.Zeros(b, 1, 1, s);
        for (int i = 0; i < pad.Length; i++) additive.Span[i] = pad[i] == 0 ? float.MinValue : 0f;

        // q arrives as a transposed (B, T, H, D) projection, as in the models.
        var qBase = R(b, t, h, d);
        var k = R(b, hkv, s, d);
        var v = R(b, hkv, s, d);
        var go = R(b, h, t, d);
        foreach (var x in new[] { qBase, k, v }) x.RequiresGrad = true;
        var fused = Tensor.Attention(qBase.Transpose(1, 2), k, v, causal, keyPadding);
        fused.Mul(go).Sum().Backward();
        var (gq, gk, gv) = (qBase.Grad!.ToArray(), k.Grad!.ToArray(), v.Grad!.ToArray());
        foreach (var x in new[] { qBase, k, v }) x.Grad = null;

        var reference = Tensor.ScaledDotProductAttention(qBase.Transpose(1, 2).Contiguous(), k, v, additive, causal);
        GradCheck.AssertClose(reference.Detach().ToArray(), fused.ToArray(), 2e-6, 1e-5, "output");
        reference.Mul(go).Sum().Backward();
        GradCheck.AssertClose(qBase.Grad!.ToArray(), gq, 2e-6, 1e-4, "dq");
        GradCheck.AssertClose(k.Grad!.ToArray(), gk, 2e-6, 1e-4, "dk");
        GradCheck.AssertClose(v.Grad!.ToArray(), gv, 2e-6, 1e-4, "dv");
    }

    [Fact]
    public void FusedAttention_MatchesFiniteDifferences()
    {
        var pad = Tensor.FromInts([1, 1, 1, 1, 1, 1, 1, 0], 2, 4);
        GradCheck.Check(x => Tensor.Attention(x[0], x[1], x[2], causal: true, keyPadding: pad), [R(2, 4, 3, 5), R(2, 2, 4, 5), R(2, 2, 4, 5)]);
    }

    [Fact]
    public void FusedAttention_RejectsInconsistentShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => { Tensor.Attention(R(1, 3, 4, 8), R(1, 2, 4, 8), R(1, 2, 4, 8)); });
        Assert.Contains("[1, 3, 4, 8]", ex.Message);
    }
}
