using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Tensors.Tests.Ops;

/// <summary>The fused and memory-saving paths a LoRA training step takes, against their plain compositions.</summary>
public class TrainingPathTests
{
    private static Tensor R(ulong seed, params int[] shape) => GradCheck.Rand(new Rng(seed), shape);

    private static Tensor Composed(Tensor x, Tensor w, Tensor? bias, Tensor a, Tensor b, float s) =>
        Tensor.Linear(x, w, bias).Add(Tensor.Linear(Tensor.Linear(x, a), b).Mul(s));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LoraLinear_MatchesCompositionAndFiniteDifferences(bool withBias)
    {
        // Rows 2·70 and widths 40/24 cover full and edge GEMM tiles.
        var x = R(1, 2, 70, 40);
        var w = R(2, 24, 40);
        var bias = withBias ? R(3, 24) : null;
        var a = R(4, 3, 40);
        var b = R(5, 24, 3);
        const float s = 1.7f;
        var inputs = withBias ? new[] { x, w, bias!, a, b } : new[] { x, w, a, b };
        var (fusedY, fusedGrads) = ValueAndGrads(inputs, t => Tensor.LoraLinear(t[0], t[1], withBias ? t[2] : null, t[^2], t[^1], s));
        var (refY, refGrads) = ValueAndGrads(inputs, t => Composed(t[0], t[1], withBias ? t[2] : null, t[^2], t[^1], s));
        // Both are float32 with one different rounding order (s·B first): a few ulps of values of size ~10.
        GradCheck.AssertClose(refY, fusedY, 2e-5, 1e-5, "y");
        for (int i = 0; i < inputs.Length; i++)
        {
            GradCheck.AssertClose(refGrads[i], fusedGrads[i], 2e-5, 1e-5, $"grad of input {i}");
        }
        var small = withBias ? new[] { R(6, 2, 3, 5), R(7, 4, 5), R(8, 4), R(9, 2, 5), R(10, 4, 2) } : new[] { R(6, 2, 3, 5), R(7, 4, 5), R(9, 2, 5), R(10, 4, 2) };
        GradCheck.Check(t => Tensor.LoraLinear(t[0], t[1], withBias ? t[2] : null, t[^2], t[^1], s), small);
    }

    [Fact]
    public void LoraLinear_WithFrozenBf16Weight_MatchesComposition_AndSkipsTheWeightGradient()
    {
        var x = R(11, 33, 40);
        var w = R(12, 24, 40).ToHalfStorage(DType.BF16);
        var a = R(13, 4, 40);
        var b = R(14, 24, 4);
        foreach (var t in new[] { x, a, b })
        {
            t.RequiresGrad = true;
        }
        var y = Tensor.LoraLinear(x, w, null, a, b, 2f);
        using (GradMode.NoGrad())
        {
            GradCheck.AssertClose(Composed(x, w, null, a, b, 2f).ToArray(), y.ToArray(), 2e-5, 1e-5, "bf16 y");
        }
        y.Sum().Backward();
        Assert.NotNull(x.Grad);
        Assert.NotNull(a.Grad);
        Assert.NotNull(b.Grad);
        Assert.Null(w.Grad);
    }

    [Fact]
    public void LoraLinear_RejectsShapesThatDoNotChain()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.LoraLinear(R(1, 2, 8), R(2, 6, 8), null, R(3, 4, 7), R(4, 6, 4), 1f));
        Assert.Contains("A [4, 7] must be (r, 8)", e.Message);
        Assert.Throws<ArgumentException>(() => Tensor.LoraLinear(R(1, 2, 9), R(2, 6, 8), null, R(3, 4, 8), R(4, 6, 4), 1f));
    }

    [Fact]
    public void BackwardInAScope_FreesConsumedGradients_WithoutChangingAnyResult()
    {
        // A graph with everything that shares storage in backward: an input used three times, add(h, h), reshape and
        // transpose views, a fused LoRA linear and a cross-entropy. Gradients computed inside a pooled scope (where
        // backward returns consumed buffers to the pool and reuses them) must equal those computed outside any scope
        // bit for bit, and the forward outputs must stay readable after backward.
        float[] Run(bool scoped, out float[] logitsAfter)
        {
            var x = R(21, 2, 6, 16);
            var w = R(22, 16, 16);
            var a = R(23, 4, 16);
            var b = R(24, 16, 4);
            var head = R(25, 10, 16);
            a.RequiresGrad = true;
            b.RequiresGrad = true;
            using var scope = scoped ? TensorScope.Begin() : null;
            var h = Tensor.LoraLinear(x, w, null, a, b, 2f);
            h = h.Add(h).Add(Tensor.LoraLinear(h, w, null, a, b, 2f));
            var t = h.Reshape(2, 6, 4, 4).Transpose(1, 2).Contiguous().Transpose(1, 2).Reshape(2, 6, 16);
            var logits = Tensor.Linear(t.Add(x), head);                    // (2, 6, 10)
            var loss = Tensor.CrossEntropy(logits.Reshape(12, 10), Tensor.FromInts([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, -100, 3], 12));
            loss.Backward();
            logitsAfter = logits.ToArray();
            return [.. a.Grad!.ToArray(), .. b.Grad!.ToArray(), loss.Item()];
        }

        var plain = Run(false, out var plainLogits);
        var scoped = Run(true, out var scopedLogits);
        Assert.Equal(plain, scoped);
        Assert.Equal(plainLogits, scopedLogits);
    }

    [Fact]
    public void CrossEntropy_SplitAcrossThreads_EqualsTheSingleThreadedKernel()
    {
        const int rows = 100, v = 37;   // 4 blocks of 32 rows, the last one partial
        var logits = R(31, rows, v);
        var ids = Enumerable.Range(0, rows).Select(i => i % 9 == 0 ? -100 : (i * 7) % v).ToArray();
        logits.RequiresGrad = true;
        var loss = Tensor.CrossEntropy(logits, Tensor.FromInts(ids, rows));
        loss.Backward();

        var x = logits.ToArray();
        var losses = new float[rows];
        var lse = new float[rows];
        int counted = PeftSharp.Tensors.Kernels.CrossEntropy.Forward(x, ids, losses, lse, rows, v);
        float expected = PeftSharp.Tensors.Kernels.CrossEntropy.Mean(losses, counted);
        var dx = new float[rows * v];
        PeftSharp.Tensors.Kernels.CrossEntropy.Backward(x, ids, lse, dx, rows, v, 1f / counted);
        Assert.Equal(expected, loss.Item());
        Assert.Equal(dx, logits.Grad!.ToArray());

        ids[70] = v;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.CrossEntropy(logits, Tensor.FromInts(ids, rows)));
        Assert.Contains("targets[70] = 37", e.Message);
    }

    [Fact]
    public void SwiGlu_SplitAcrossThreads_EqualsTheKernelOnTheWholeSpan()
    {
        const int n = 70001;   // two full 32768-element chunks and an odd tail
        var gate = R(51, n);
        var up = R(52, n);
        gate.RequiresGrad = true;
        up.RequiresGrad = true;
        var y = Tensor.SwiGlu(gate, up);
        var dy = R(53, n);
        y.Backward(dy);

        var expected = new float[n];
        PeftSharp.Tensors.Kernels.SwiGlu.Forward(gate.ToArray(), up.ToArray(), expected);
        var dGate = new float[n];
        var dUp = new float[n];
        PeftSharp.Tensors.Kernels.SwiGlu.Backward(gate.ToArray(), up.ToArray(), dy.ToArray(), dGate, dUp);
        Assert.Equal(expected, y.ToArray());
        Assert.Equal(dGate, gate.Grad!.ToArray());
        Assert.Equal(dUp, up.Grad!.ToArray());
    }

    [Fact]
    public void RopeBackward_OnAGradientInTokenMajorLayout_MatchesFiniteDifferences()
    {
        // The attention hands rope a gradient laid out (B, T, H, D); rope then writes dx in that layout so the
        // transpose and reshape in front of it stay views. Finite differences through the whole chain check it.
        int b = 2, t = 5, h = 3, d = 8;
        var table = PeftSharp.Tensors.Kernels.RopeTable.Create(PeftSharp.Tensors.Kernels.Rope.DefaultInverseFrequencies(d, 10000), 16);
        var pos = Tensor.FromInts(Enumerable.Range(0, b * t).Select(i => i % t + 1).ToArray(), b, t);
        GradCheck.Check(v => Tensor.Rope(v[0].Reshape(b, t, h, d).Transpose(1, 2), pos, table).Transpose(1, 2).Reshape(b, t, h * d), [R(41, b, t, h * d)]);
    }

    [Fact]
    public void OpProfiler_CountsEachRecordedOpForwardAndBackward_OnItsOwnThreadOnly()
    {
        var x = R(61, 8, 16);
        var w = R(62, 4, 16);
        w.RequiresGrad = true;
        OpProfiler.Start();
        IReadOnlyList<OpTime> ops;
        try
        {
            Assert.Throws<InvalidOperationException>(OpProfiler.Start);
            var other = new Thread(() => { var v = R(63, 4); v.RequiresGrad = true; v.Exp().Sum().Backward(); });
            other.Start();
            other.Join();
            Tensor.Linear(x, w).Silu().Sum().Backward();
        }
        finally
        {
            ops = OpProfiler.Stop();
        }
        var byName = ops.ToDictionary(o => o.Op);
        foreach (var name in new[] { "linear", "silu", "sum_all" })
        {
            Assert.Equal(1, byName[name].ForwardCalls);
            Assert.Equal(1, byName[name].BackwardCalls);
            Assert.True(byName[name].ForwardSeconds >= 0 && byName[name].BackwardSeconds >= 0);
        }
        Assert.False(byName.ContainsKey("exp"));   // recorded on another thread
    }

    private static (float[] Y, float[][] Grads) ValueAndGrads(Tensor[] inputs, Func<Tensor[], Tensor> f)
    {
        var copies = inputs.Select(t => { var c = Tensor.FromArray(t.ToArray(), t.ShapeArrayForTests()); c.RequiresGrad = true; return c; }).ToArray();
        var y = f(copies);
        var weights = R(99, y.ShapeArrayForTests());
        y.Mul(weights).Sum().Backward();
        return (y.ToArray(), copies.Select(c => c.Grad!.ToArray()).ToArray());
    }

    [Fact]
    public void ReleaseSince_FreesAStagesIntermediates_OnlyWithoutGradients()
    {
        var x = R(31, 4, 8);
        var w = R(32, 8, 8);
        float[] expected;
        using (GradMode.NoGrad())
        {
            expected = Tensor.Linear(Tensor.Linear(x, w).Relu(), w).ToArray();
        }

        using (GradMode.NoGrad())
        using (TensorScope.Begin())
        {
            var mark = TensorScope.Mark();
            var hidden = Tensor.Linear(x, w);
            var y = Tensor.Linear(hidden.Relu(), w);
            TensorScope.ReleaseSince(mark, y);
            Assert.Equal(expected, y.ToArray());                                   // the kept result is intact
            Assert.Throws<InvalidOperationException>(() => hidden.ToArray());      // the intermediate went back to the pool
        }

        // While gradients are recorded nothing is released: backward still needs the intermediates.
        using (TensorScope.Begin())
        {
            var wg = R(32, 8, 8);
            wg.RequiresGrad = true;
            var mark = TensorScope.Mark();
            var hidden = Tensor.Linear(x, wg);
            var y = Tensor.Linear(hidden.Relu(), wg);
            TensorScope.ReleaseSince(mark, y);
            Assert.Equal(expected, Tensor.Linear(hidden.Relu(), w).ToArray());
            y.Sum().Backward();
            Assert.NotNull(wg.Grad);
        }
    }
}
