using PeftSharp.Tensors;
using PeftSharp.Training.Optimizers;

namespace PeftSharp.Training.Tests.Optimizers;

public class GradientToolsTests
{
    private static Tensor WithGrad(float[] grad)
    {
        var p = Tensor.Zeros(grad.Length);
        p.RequiresGrad = true;
        p.Grad = Tensor.FromArray(grad, grad.Length);
        return p;
    }

    [Fact]
    public void ClipGradNorm_ScalesToMaxNorm_AndReturnsTheNormBefore()
    {
        var rng = new Rng(8);
        var grads = new[] { 1, 7, 8, 9, 257 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.NextNormal()).ToArray()).ToArray();
        var ps = grads.Select(WithGrad).ToArray();
        double exact = Math.Sqrt(grads.Sum(g => g.Sum(x => (double)x * x)));
        float norm = GradientTools.ClipGradNorm(ps, 1.0);
        // Float32 rounding of the per-tensor norms and of the total: a few ulps.
        Assert.True(Math.Abs(norm - exact) <= 1e-6 * exact, $"norm {norm} vs float64 {exact}");
        double coef = 1.0 / (norm + 1e-6);
        for (int k = 0; k < ps.Length; k++)
        {
            var after = ps[k].Grad!.ToArray();
            for (int i = 0; i < after.Length; i++)
            {
                Assert.True(Math.Abs(after[i] - grads[k][i] * coef) <= 1e-6 * Math.Abs(grads[k][i] * coef) + 1e-12);
            }
        }
        double clipped = Math.Sqrt(ps.Sum(p => p.Grad!.ToArray().Sum(x => (double)x * x)));
        Assert.True(Math.Abs(clipped - 1.0) < 1e-5, $"clipped norm {clipped}");
    }

    [Fact]
    public void ClipGradNorm_LeavesSmallGradientsAlone_AndSkipsMissingGrads()
    {
        var a = WithGrad([0.3f, 0.4f]);
        var none = Tensor.Zeros(4);
        float norm = GradientTools.ClipGradNorm([a, none], 1.0);
        Assert.Equal(0.5f, norm, 6);
        Assert.Equal(new[] { 0.3f, 0.4f }, a.Grad!.ToArray());
    }

    [Fact]
    public void NonFiniteGradients_AreDetected_AndNotScaled()
    {
        var a = WithGrad([1f, float.NaN, 3f]);
        Assert.False(GradientTools.AllFinite([a]));
        Assert.True(float.IsNaN(GradientTools.ClipGradNorm([a], 1.0)));
        Assert.Equal(1f, a.Grad!.ToArray()[0]);
        var b = WithGrad([float.PositiveInfinity, 0f]);
        Assert.False(GradientTools.AllFinite([b]));
        Assert.True(GradientTools.AllFinite([WithGrad([1e30f, -1e30f])]));
        Assert.Throws<ArgumentOutOfRangeException>(() => GradientTools.ClipGradNorm([a], 0));
    }
}
