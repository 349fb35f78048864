using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Tensors.Tests.Ops;

public class IndexingTests
{
    private static Tensor R(params int[] shape) => GradCheck.Rand(new Rng((ulong)shape.Sum() * 17 + 3), shape);

    [Fact]
    public void Embedding_PicksRows_AndScattersGradients()
    {
        var w = R(7, 5);
        var ids = Tensor.FromInts([3, 0, 3, 6], 2, 2);
        var e = Tensor.Embedding(w, ids);
        Assert.Equal(new[] { 2, 2, 5 }, e.Shape.ToArray());
        Assert.Equal(w.Select(0, 3).ToArray(), e.Select(0, 0).Select(0, 0).ToArray());
        GradCheck.Check(x => Tensor.Embedding(x[0], ids), [R(7, 5)]);
    }

    [Fact]
    public void Embedding_OutOfRangeId_IsAClearError()
    {
        var ex = Assert.Throws<IndexOutOfRangeException>(() => Tensor.Embedding(R(7, 5), Tensor.FromInts([1, 7], 2)));
        Assert.Contains("index 7", ex.Message);
        Assert.Contains("vocabulary of 7", ex.Message);
        Assert.Throws<IndexOutOfRangeException>(() => Tensor.Embedding(R(7, 5), Tensor.FromInts([-1], 1)));
    }

    [Fact]
    public void IndexSelect_And_Gather_MatchFiniteDifferences()
    {
        var idx = Tensor.FromInts([2, 0, 2], 3);
        GradCheck.Check(x => x[0].IndexSelect(1, idx), [R(3, 5, 2)]);
        var g = Tensor.FromInts([0, 4, 4, 1, 2, 3], 2, 3);
        GradCheck.Check(x => x[0].Gather(1, g), [R(2, 5)]);
        var y = Tensor.FromArray([10f, 11f, 12f, 20f, 21f, 22f], 2, 3).Gather(1, Tensor.FromInts([2, 0], 2, 1));
        Assert.Equal(new[] { 12f, 20f }, y.ToArray());
        Assert.Throws<IndexOutOfRangeException>(() => R(2, 5).Gather(1, Tensor.FromInts([5], 1, 1)));
    }

    [Fact]
    public void Cat_Stack_Split_RoundTrip_AndDifferentiate()
    {
        var a = R(2, 3);
        var b = R(2, 5);
        var c = Tensor.Cat([a, b], 1);
        Assert.Equal(new[] { 2, 8 }, c.Shape.ToArray());
        var parts = c.Split([3, 5], 1);
        Assert.Equal(a.ToArray(), parts[0].ToArray());
        Assert.Equal(b.ToArray(), parts[1].ToArray());
        GradCheck.Check(x => Tensor.Cat([x[0], x[1]], 1), [R(2, 3), R(2, 5)]);
        GradCheck.Check(x => Tensor.Stack([x[0], x[1]], 0), [R(3, 1), R(3, 1)]);
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Cat([R(2, 3), R(3, 3)], 1));
        Assert.Contains("[2, 3]", ex.Message);
    }

    [Fact]
    public void Dropout_IsSeeded_Scaled_AndDifferentiable()
    {
        var x = Tensor.Ones(1000);
        var a = x.Dropout(0.3f, new Rng(5)).ToArray();
        var b = x.Dropout(0.3f, new Rng(5)).ToArray();
        Assert.Equal(a, b);
        Assert.All(a, v => Assert.True(v == 0f || Math.Abs(v - 1f / 0.7f) < 1e-6));
        double kept = a.Count(v => v != 0) / 1000.0;
        Assert.InRange(kept, 0.62, 0.78);
        GradCheck.Check(t => t[0].Dropout(0.5f, new Rng(9)), [R(17)]);
    }

    [Fact]
    public void Checkpoint_GivesTheSameGradientsAsTheFullGraph()
    {
        var w = R(5, 5);
        w.RequiresGrad = true;
        var x = R(3, 5);
        x.RequiresGrad = true;
        Func<Tensor[], Tensor> block = t => Tensor.Linear(t[0], w).Tanh().Mul(t[0]);

        block([x]).Sum().Backward();
        var gx = x.Grad!.ToArray();
        var gw = w.Grad!.ToArray();
        x.Grad = null;
        w.Grad = null;

        var y = Checkpoint.Run(block, x);
        Assert.True(y.RequiresGrad);
        y.Sum().Backward();
        Assert.Equal(gx, x.Grad!.ToArray());
        Assert.Equal(gw, w.Grad!.ToArray());
    }
}
