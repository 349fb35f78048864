using PeftSharp.Tensors;
using PeftSharp.Tensors.Kernels;

namespace PeftSharp.Tensors.Tests.Ops;

/// <summary>The same seed gives bitwise-identical results, run to run and at any thread count.</summary>
public class DeterminismTests
{
    private static (float[] Loss, float[] GradW, float[] GradX) Run(ulong seed)
    {
        var rng = new Rng(seed);
        var x = Tensor.Normal([2, 4, 9, 16], 0f, 1f, rng); // (B, H, T, D)
        var w = Tensor.Normal([48, 16], 0f, 0.2f, rng);
        x.RequiresGrad = true;
        w.RequiresGrad = true;
        var h = Tensor.Linear(x, w).Gelu().Dropout(0.1f, rng);          // (B, H, T, 48)
        var q = h.Narrow(3, 0, 16);
        var k = h.Narrow(3, 16, 16).Contiguous();
        var v = h.Narrow(3, 32, 16).Contiguous();
        var a = Tensor.ScaledDotProductAttention(q.Contiguous(), k, v, causal: true);
        var logits = Tensor.RmsNorm(a, null, 1e-6f).Reshape(-1, 16);
        var targets = Tensor.FromInts(Enumerable.Range(0, logits.Dim(0)).Select(i => i % 16).ToArray(), logits.Dim(0));
        var loss = Tensor.CrossEntropy(logits, targets);
        loss.Backward();
        return ([loss.Item()], w.Grad!.ToArray(), x.Grad!.ToArray());
    }

    [Fact]
    public void SameSeed_GivesBitwiseIdenticalForwardAndBackward()
    {
        var a = Run(42);
        var b = Run(42);
        Assert.Equal(a.Loss, b.Loss);
        Assert.Equal(a.GradW, b.GradW);
        Assert.Equal(a.GradX, b.GradX);
        var c = Run(43);
        Assert.NotEqual(a.Loss, c.Loss);
    }

    [Fact]
    public void ThreadCount_DoesNotChangeAnyBit()
    {
        int saved = CpuPool.MaxThreads;
        try
        {
            CpuPool.MaxThreads = 1;
            var one = Run(7);
            CpuPool.MaxThreads = Math.Max(2, Environment.ProcessorCount);
            var many = Run(7);
            Assert.Equal(one.Loss, many.Loss);
            Assert.Equal(one.GradW, many.GradW);
            Assert.Equal(one.GradX, many.GradX);
        }
        finally
        {
            CpuPool.MaxThreads = saved;
        }
    }
}
