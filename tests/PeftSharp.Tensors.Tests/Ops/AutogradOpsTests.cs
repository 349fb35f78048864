using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Tensors.Tests.Ops;

public class AutogradOpsTests
{
    private static readonly Rng Seeded = new(1234);

    private static Tensor R(params int[] shape) => GradCheck.Rand(new Rng((ulong)shape.Sum() * 31 + (ulong)shape.Length), shape);

    public static TheoryData<int[], int[]> BroadcastPairs() => new()
    {
        { [7], [7] },
        { [1], [17] },
        { [7, 1], [1, 9] },
        { [3, 1, 5], [4, 1] },
        { [2, 7], [7] },
        { [65], [1] },
    };

    [Theory]
    [MemberData(nameof(BroadcastPairs))]
    public void Arithmetic_MatchesFiniteDifferences(int[] sa, int[] sb)
    {
        GradCheck.Check(x => x[0].Add(x[1]), [R(sa), R(sb)]);
        GradCheck.Check(x => x[0].Sub(x[1]), [R(sa), R(sb)]);
        GradCheck.Check(x => x[0].Mul(x[1]), [R(sa), R(sb)]);
        GradCheck.Check(x => x[0].Div(x[1].Abs().Add(0.5f)), [R(sa), R(sb)]);
    }

    [Fact]
    public void BroadcastForward_MatchesScalarDefinition()
    {
        var a = R(3, 1, 5);
        var b = R(4, 1);
        var c = a.Mul(b);
        Assert.Equal(new[] { 3, 4, 5 }, c.Shape.ToArray());
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 5; k++)
                    Assert.Equal(a.At(i, 0, k) * b.At(j, 0), c.At(i, j, k));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    public void Pointwise_MatchesFiniteDifferences(int n)
    {
        GradCheck.Check(x => x[0].Exp(), [R(n)]);
        GradCheck.Check(x => x[0].Abs().Add(0.5f).Log(), [R(n)]);
        GradCheck.Check(x => x[0].Abs().Add(0.5f).Sqrt(), [R(n)]);
        GradCheck.Check(x => x[0].Abs().Add(0.5f).Pow(2.5f), [R(n)]);
        GradCheck.Check(x => x[0].Sigmoid(), [R(n)]);
        GradCheck.Check(x => x[0].Tanh(), [R(n)]);
        GradCheck.Check(x => x[0].Mul(3f).Add(1f).Neg(), [R(n)]);
    }

    [Fact]
    public void Clamp_PassesGradientOnlyInside()
    {
        var x = Tensor.FromArray([-2f, -0.5f, 0.25f, 3f], 4);
        x.RequiresGrad = true;
        x.Clamp(-1f, 1f).Sum().Backward();
        Assert.Equal(new[] { 0f, 1f, 1f, 0f }, x.Grad!.ToArray());
    }

    [Theory]
    [InlineData(new[] { 7, 9 }, new[] { 0 }, false)]
    [InlineData(new[] { 7, 9 }, new[] { 1 }, true)]
    [InlineData(new[] { 3, 5, 7 }, new[] { 0, 2 }, false)]
    [InlineData(new[] { 3, 5, 7 }, new[] { -1 }, true)]
    [InlineData(new[] { 17 }, new[] { 0 }, false)]
    public void Sum_And_Mean_MatchFiniteDifferences(int[] shape, int[] dims, bool keep)
    {
        GradCheck.Check(x => x[0].Sum(dims, keep), [R(shape)]);
        GradCheck.Check(x => x[0].Mean(dims, keep), [R(shape)]);
    }

    [Fact]
    public void Sum_OverSquareDims_KeepsTheRightAxis()
    {
        // (3, 3): summing dim 0 vs dim 1 must route gradients differently.
        var x = Tensor.FromArray([1, 2, 3, 4, 5, 6, 7, 8, 9], 3, 3);
        x.RequiresGrad = true;
        x.Sum(0).Mul(Tensor.FromArray([1f, 10f, 100f], 3)).Sum().Backward();
        Assert.Equal(new float[] { 1, 10, 100, 1, 10, 100, 1, 10, 100 }, x.Grad!.ToArray());
        Assert.Equal(new float[] { 12, 15, 18 }, x.Detach().Sum(0).ToArray());
        Assert.Equal(new float[] { 6, 15, 24 }, x.Detach().Sum(1).ToArray());
    }

    [Fact]
    public void Max_ReturnsFirstMaximumAndRoutesGradient()
    {
        var x = Tensor.FromArray([1f, 5f, 5f, 2f, 0f, -1f], 2, 3);
        x.RequiresGrad = true;
        var (v, i) = x.Max(1);
        Assert.Equal(new[] { 5f, 2f }, v.ToArray());
        Assert.Equal(new[] { 1, 0 }, i.ToIntArray());
        v.Sum().Backward();
        Assert.Equal(new[] { 0f, 1f, 0f, 1f, 0f, 0f }, x.Grad!.ToArray());
        GradCheck.Check(t => t[0].Max(0, keepDim: true).Values, [R(7, 5)]);
    }

    public static TheoryData<int, int, int> MatMulSizes() => new()
    {
        { 1, 1, 1 }, { 7, 9, 8 }, { 17, 1, 33 }, { 8, 65, 7 }, { 33, 17, 9 },
    };

    [Theory]
    [MemberData(nameof(MatMulSizes))]
    public void MatMul_AllTranspositions_MatchFiniteDifferences(int m, int k, int n)
    {
        GradCheck.Check(x => Tensor.MatMul(x[0], x[1]), [R(m, k), R(k, n)]);
        GradCheck.Check(x => Tensor.MatMul(x[0].T, x[1]), [R(k, m), R(k, n)]);
        GradCheck.Check(x => Tensor.MatMul(x[0], x[1].T), [R(m, k), R(n, k)]);
        GradCheck.Check(x => Tensor.MatMul(x[0].T, x[1].T), [R(k, m), R(n, k)]);
    }

    [Fact]
    public void MatMul_BatchBroadcast_MatchesPerBatchProducts()
    {
        var a = R(2, 1, 7, 5);
        var b = R(3, 5, 4);
        var c = Tensor.MatMul(a, b);
        Assert.Equal(new[] { 2, 3, 7, 4 }, c.Shape.ToArray());
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
            {
                var expected = Reference(a.Select(0, i).Select(0, 0), b.Select(0, j));
                GradCheck.AssertClose(expected, c.Select(0, i).Select(0, j).ToArray(), 1e-5, 1e-5);
            }
        GradCheck.Check(x => Tensor.MatMul(x[0], x[1]), [R(2, 1, 7, 5), R(3, 5, 4)]);
    }

    [Fact]
    public void MatMul_VectorOperands_FollowTorchRules()
    {
        var v = R(5);
        var m = R(5, 3);
        Assert.Equal(new[] { 3 }, Tensor.MatMul(v, m).Shape.ToArray());
        Assert.Equal(new[] { 5 }, Tensor.MatMul(m, R(3)).Shape.ToArray());
        Assert.Equal(0, Tensor.MatMul(v, v).Rank);
        GradCheck.Check(x => Tensor.MatMul(x[0], x[1]), [R(5), R(5, 3)]);
    }

    [Fact]
    public void MatMul_ShapeMismatch_NamesBothShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.MatMul(R(3, 4), R(5, 6)));
        Assert.Contains("[3, 4]", ex.Message);
        Assert.Contains("[5, 6]", ex.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Linear_MatchesFiniteDifferences(bool bias)
    {
        var inputs = bias ? new[] { R(2, 7, 9), R(5, 9), R(5) } : new[] { R(7, 9), R(5, 9) };
        GradCheck.Check(x => Tensor.Linear(x[0], x[1], bias ? x[2] : null), inputs);
    }

    [Fact]
    public void Linear_FrozenWeight_GetsNoGradient()
    {
        var x = R(3, 4);
        var w = R(2, 4);
        x.RequiresGrad = true;
        Tensor.Linear(x, w).Sum().Backward();
        Assert.NotNull(x.Grad);
        Assert.Null(w.Grad);
    }

    [Fact]
    public void Linear_HalfStorageWeight_MatchesWidenedWeight()
    {
        var x = R(7, 9);
        var w = R(5, 9);
        foreach (var dtype in new[] { DType.BF16, DType.F16 })
        {
            var wh = w.ToHalfStorage(dtype);
            var expected = Tensor.Linear(x, wh.ToFloat32()).ToArray();
            var actual = Tensor.Linear(x, wh).ToArray();
            GradCheck.AssertClose(expected, actual, 1e-6, 1e-6, dtype.ToString());
        }
    }

    [Fact]
    public void Views_MatchFiniteDifferences()
    {
        GradCheck.Check(x => x[0].Transpose(0, 2).Reshape(7, -1).Narrow(1, 2, 5).Mul(x[0].Sum()), [R(3, 5, 7)]);
        GradCheck.Check(x => x[0].Permute(2, 0, 1).Contiguous().Unsqueeze(1).Squeeze(1), [R(3, 5, 7)]);
        GradCheck.Check(x => x[0].Expand(4, 7, 5).Mul(R(4, 7, 5)), [R(7, 1)]);
        GradCheck.Check(x => x[0].Select(1, 2), [R(3, 5, 7)]);
    }

    [Fact]
    public void Views_ShareStorage()
    {
        var x = Tensor.Arange(12).Reshape(3, 4);
        var t = x.T;
        Assert.False(t.IsContiguous);
        Assert.Equal(x.At(1, 2), t.At(2, 1));
        x.Span[6] = 100f;
        Assert.Equal(100f, t.At(2, 1));
        Assert.Equal(new float[] { 4, 5, 6, 7 }, Tensor.Arange(12).Reshape(3, 4).Narrow(0, 1, 1).ToArray());
    }

    [Fact]
    public void Where_And_MaskedFill_RouteGradients()
    {
        var mask = Tensor.FromArray([1f, 0f, 1f, 0f, 0f, 1f], 2, 3);
        GradCheck.Check(x => Tensor.Where(mask, x[0], x[1]), [R(2, 3), R(3)]);
        var y = Tensor.FromArray([1f, 2f, 3f], 3).MaskedFill(Tensor.FromArray([0f, 1f, 0f], 3), -9f);
        Assert.Equal(new[] { 1f, -9f, 3f }, y.ToArray());
    }

    [Fact]
    public void Gradients_AccumulateAcrossBackwardCalls()
    {
        var x = Tensor.FromArray([1f, 2f], 2);
        x.RequiresGrad = true;
        x.Mul(x).Sum().Backward();
        x.Mul(3f).Sum().Backward();
        Assert.Equal(new[] { 2f + 3f, 4f + 3f }, x.Grad!.ToArray());
    }

    [Fact]
    public void NoGrad_RecordsNothing()
    {
        var x = R(3);
        x.RequiresGrad = true;
        Tensor y;
        using (GradMode.NoGrad())
        {
            y = x.Mul(x).Sum();
        }
        Assert.False(y.RequiresGrad);
        Assert.Throws<InvalidOperationException>(() => y.Backward());
    }

    [Fact]
    public void Detach_CutsTheGraph()
    {
        var x = R(3);
        x.RequiresGrad = true;
        var y = x.Mul(2f).Detach().Mul(x).Sum();
        y.Backward();
        GradCheck.AssertClose(x.Detach().Mul(2f).ToArray(), x.Grad!.ToArray(), 1e-6, 0);
    }

    [Fact]
    public void DiamondGraph_SumsGradientsThatMeet()
    {
        var x = Tensor.FromArray([3f], 1);
        x.RequiresGrad = true;
        var a = x.Mul(2f);
        var b = a.Mul(a).Add(a); // 4x² + 2x → 8x + 2 = 26
        b.Sum().Backward();
        Assert.Equal(26f, x.Grad!.Item());
    }

    [Fact]
    public void OuterAndKron_MatchDefinitions()
    {
        var a = Tensor.FromArray([1f, 2f], 2, 1);
        var b = Tensor.FromArray([0f, 1f, 1f, 0f], 2, 2);
        Assert.Equal(new float[] { 0, 1, 1, 0, 0, 2, 2, 0 }, Tensor.Kron(a, b).ToArray());
        Assert.Equal(new[] { 4, 2 }, Tensor.Kron(a, b).Shape.ToArray());
        Assert.Equal(new float[] { 3, 4, 6, 8 }, Tensor.Outer(Tensor.FromArray([1f, 2f], 2), Tensor.FromArray([3f, 4f], 2)).ToArray());
        GradCheck.Check(x => Tensor.Kron(x[0], x[1]), [R(2, 3), R(3, 2)]);
    }

    [Fact]
    public void Norm_MatchesFiniteDifferences()
    {
        GradCheck.Check(x => x[0].Norm(), [R(7, 3)]);
        GradCheck.Check(x => x[0].Norm([1], keepDim: true), [R(7, 3)]);
    }

    [Fact]
    public void Scope_ReleasesPooledMemory_AndDetectsUseAfterEnd()
    {
        Tensor leaked;
        using (TensorScope.Begin())
        {
            leaked = Tensor.Ones(4, 4).Mul(2f);
            Assert.Equal(32f, leaked.Sum().Item());
        }
        Assert.Throws<InvalidOperationException>(() => leaked.ToArray());
        using (TensorScope.Begin())
        {
            var reused = Tensor.Zeros(4, 4); // same size: comes from the pool, must be zeroed
            Assert.All(reused.ToArray(), v => Assert.Equal(0f, v));
        }
    }

    private static float[] Reference(Tensor a, Tensor b)
    {
        int m = a.Dim(0), k = a.Dim(1), n = b.Dim(1);
        var r = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)a.At(i, p) * b.At(p, j);
                r[i * n + j] = (float)s;
            }
        return r;
    }
}
