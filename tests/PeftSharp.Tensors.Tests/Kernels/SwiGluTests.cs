using PeftSharp.Tensors.Kernels;
using static PeftSharp.Tensors.Tests.Kernels.KernelTestData;

namespace PeftSharp.Tensors.Tests.Kernels;

public class SwiGluTests
{
    private static double Silu(double g) => g / (1 + Math.Exp(-g));

    // Tolerances: silu carries sigmoid's ≤ 4 ulp, one more multiply → 8e-7 relative; backward chains
    // sigmoid and a possible cancellation in 1 + g(1 − s), bounded by 4e-7·(1+|g|)·|dout·up| absolute.
    [Fact]
    public void ForwardAndBackward_MatchFloat64_AtEveryLength()
    {
        for (int n = 0; n <= 257; n++)
        {
            float[] g = Uniform(n, 3 * n + 1, -9f, 9f);
            float[] u = Uniform(n, 5 * n + 2, -2f, 2f);
            float[] d = Uniform(n, 7 * n + 3, -2f, 2f);
            float[] o = new float[n];
            float[] dg = new float[n];
            float[] du = new float[n];
            SwiGlu.Forward(g, u, o);
            SwiGlu.Backward(g, u, d, dg, du);
            for (int i = 0; i < n; i++)
            {
                double s = 1 / (1 + Math.Exp(-(double)g[i]));
                AssertClose(Silu(g[i]) * u[i], o[i], 1e-30, 8e-7, $"out n={n} i={i}");
                AssertClose((double)d[i] * u[i] * s * (1 + g[i] * (1 - s)), dg[i], 4e-7 * (1 + Math.Abs(g[i])) * Math.Abs(d[i] * u[i]), 2e-6, $"dgate n={n} i={i}");
                AssertClose((double)d[i] * Silu(g[i]), du[i], 1e-30, 8e-7, $"dup n={n} i={i}");
            }
        }
    }

    [Fact]
    public void Backward_MatchesCentralDifferencesOfFloat64Forward()
    {
        // d/dg [silu(g)·u] and d/du by central differences in float64 on a few points, against the kernel.
        float[] g = [-4.2f, -1.3f, 0.2f, 2.7f];
        float[] u = [0.5f, -1.5f, 2f, 0.25f];
        float[] d = [1f, 1f, 1f, 1f];
        float[] dg = new float[4], du = new float[4];
        SwiGlu.Backward(g, u, d, dg, du);
        for (int i = 0; i < 4; i++)
        {
            double h = 1e-5;
            double fdG = (Silu(g[i] + h) * u[i] - Silu(g[i] - h) * u[i]) / (2 * h);
            double fdU = (Silu(g[i]) * (u[i] + h) - Silu(g[i]) * (u[i] - h)) / (2 * h);
            AssertClose(fdG, dg[i], 1e-6, 2e-6, "dgate");
            AssertClose(fdU, du[i], 1e-6, 2e-6, "dup");
        }
    }

    [Fact]
    public void IsDeterministic()
    {
        float[] g = Uniform(1001, 1, -5, 5), u = Uniform(1001, 2), a = new float[1001], b = new float[1001];
        SwiGlu.Forward(g, u, a);
        SwiGlu.Forward(g, u, b);
        Assert.Equal(a, b);
    }

    [Fact]
    public void WrongLengths_ThrowNamingTheBuffer()
    {
        var ex = Assert.Throws<ArgumentException>(() => SwiGlu.Forward(new float[4], new float[5], new float[4]));
        Assert.Contains("up", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => SwiGlu.Backward(new float[4], new float[4], new float[4], new float[4], new float[3]));
        Assert.Contains("dUp", ex.Message);
    }
}
