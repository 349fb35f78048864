using PeftSharp.Tensors.Kernels;
using static PeftSharp.Tensors.Tests.Kernels.KernelTestData;

namespace PeftSharp.Tensors.Tests.Kernels;

public class NormsTests
{
    private const float Eps = 1e-5f;

    /// <summary>float64 LayerNorm (rms = false) or RMSNorm (rms = true) forward: the independent definition.</summary>
    private static double[] RefForward(double[] x, double[] w, double[]? b, int rows, int c, bool rms)
    {
        var y = new double[rows * c];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < c; i++)
            {
                mean += x[r * c + i];
            }
            mean = rms ? 0 : mean / c;
            for (int i = 0; i < c; i++)
            {
                var += (x[r * c + i] - mean) * (x[r * c + i] - mean);
            }
            double s = 1 / Math.Sqrt(var / c + Eps);
            for (int i = 0; i < c; i++)
            {
                y[r * c + i] = (x[r * c + i] - mean) * s * w[i] + (b is null ? 0 : b[i]);
            }
        }
        return y;
    }

    private static double Loss(double[] y, float[] dy)
    {
        double l = 0;
        for (int i = 0; i < y.Length; i++)
        {
            l += y[i] * dy[i];
        }
        return l;
    }

    private static double[] D(float[] a) => a.Select(v => (double)v).ToArray();

    public static TheoryData<int, int, bool> Shapes() => new()
    {
        { 1, 1, false }, { 3, 7, false }, { 2, 17, true }, { 1, 33, false }, { 3, 65, true }, { 2, 8, false }, { 2, 1, true }, { 1, 7, true },
    };

    // Forward: float sums over C ≤ 257 terms and one rsqrt keep |y − y64| below ~1e-6·(|x̂·w| + |b|);
    // 5e-6 absolute + 5e-6 relative for O(1) activations offset by 3 (which a one-pass E[x²] − m² would fail).
    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_MatchesFloat64(int rows, int c, bool rms)
    {
        float[] x = Uniform(rows * c, rows + c, 2f, 4f);
        float[] w = Uniform(c, c + 1, 0.5f, 1.5f);
        float[] b = Uniform(c, c + 2);
        float[] y = new float[rows * c], mean = new float[rows], rstd = new float[rows];
        if (rms)
        {
            Norms.RmsNormForward(x, w, y, rstd, rows, c, Eps);
        }
        else
        {
            Norms.LayerNormForward(x, w, b, y, mean, rstd, rows, c, Eps);
        }
        double[] expected = RefForward(D(x), D(w), rms ? null : D(b), rows, c, rms);
        for (int i = 0; i < y.Length; i++)
        {
            AssertClose(expected[i], y[i], 5e-6, 5e-6, $"y[{i / c},{i % c}]");
        }
    }

    // Backward against central differences of the float64 forward for L = Σ dy·y (h = 1e-5 in float64:
    // truncation and rounding ≲ 1e-9). Kernel error: float reductions over C terms with O(1) magnitudes
    // and rstd ≈ 1/std ≤ ~2 → 3e-5 absolute for dx, dW and dB (dW sums over rows).
    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_MatchesCentralDifferences(int rows, int c, bool rms)
    {
        float[] x = Uniform(rows * c, 3 * rows + c, -2f, 2f);
        float[] w = Uniform(c, c + 5, 0.5f, 1.5f);
        float[] b = Uniform(c, c + 6);
        float[] dy = Uniform(rows * c, rows * c + 7);
        float[] y = new float[rows * c], mean = new float[rows], rstd = new float[rows], dx = new float[rows * c];
        float[] dW = Uniform(c, 99), dB = Uniform(c, 98);
        float[] dW0 = (float[])dW.Clone(), dB0 = (float[])dB.Clone();
        if (rms)
        {
            Norms.RmsNormForward(x, w, y, rstd, rows, c, Eps);
            Norms.RmsNormBackward(x, w, rstd, dy, dx, dW, rows, c);
        }
        else
        {
            Norms.LayerNormForward(x, w, b, y, mean, rstd, rows, c, Eps);
            Norms.LayerNormBackward(x, w, mean, rstd, dy, dx, dW, dB, rows, c);
        }
        double[] xd = D(x), wd = D(w), bd = D(b);
        double[]? bias = rms ? null : bd;
        const double h = 1e-5;
        double Fd(double[] p, int k)
        {
            double keep = p[k];
            p[k] = keep + h;
            double lp = Loss(RefForward(xd, wd, bias, rows, c, rms), dy);
            p[k] = keep - h;
            double lm = Loss(RefForward(xd, wd, bias, rows, c, rms), dy);
            p[k] = keep;
            return (lp - lm) / (2 * h);
        }
        for (int k = 0; k < x.Length; k++)
        {
            AssertClose(Fd(xd, k), dx[k], 3e-5, 1e-5, $"dx[{k / c},{k % c}]");
        }
        for (int k = 0; k < c; k++)
        {
            AssertClose(dW0[k] + Fd(wd, k), dW[k], 3e-5, 1e-5, $"dW[{k}] (accumulated)");
            if (!rms)
            {
                AssertClose(dB0[k] + Fd(bd, k), dB[k], 3e-5, 1e-5, $"dB[{k}] (accumulated)");
            }
        }
    }

    [Fact]
    public void RmsNorm_Llama768_MatchesFloat64_AndIsDeterministic()
    {
        const int rows = 5, c = 768;
        float[] x = Uniform(rows * c, 1, -3f, 3f), w = Uniform(c, 2), y = new float[rows * c], y2 = new float[rows * c], rstd = new float[rows];
        Norms.RmsNormForward(x, w, y, rstd, rows, c, 1e-6f);
        Norms.RmsNormForward(x, w, y2, rstd, rows, c, 1e-6f);
        Assert.Equal(y, y2);
        for (int r = 0; r < rows; r++)
        {
            double ms = 0;
            for (int i = 0; i < c; i++)
            {
                ms += (double)x[r * c + i] * x[r * c + i];
            }
            double s = 1 / Math.Sqrt(ms / c + 1e-6);
            for (int i = 0; i < c; i++)
            {
                AssertClose(x[r * c + i] * s * w[i], y[r * c + i], 1e-6, 2e-6, $"y[{r},{i}]");
            }
        }
    }

    [Fact]
    public void LayerNorm_WithoutBias_And_InPlaceGradient()
    {
        const int rows = 2, c = 33;
        float[] x = Uniform(rows * c, 4), w = Uniform(c, 5), dy = Uniform(rows * c, 6);
        float[] y = new float[rows * c], m = new float[rows], s = new float[rows];
        Norms.LayerNormForward(x, w, [], y, m, s, rows, c, Eps);
        double[] expected = RefForward(D(x), D(w), null, rows, c, false);
        for (int i = 0; i < y.Length; i++)
        {
            AssertClose(expected[i], y[i], 5e-6, 5e-6, $"y[{i}]");
        }
        float[] dx = new float[rows * c], dW = new float[c], dW2 = new float[c], inPlace = (float[])dy.Clone();
        Norms.LayerNormBackward(x, w, m, s, dy, dx, dW, [], rows, c);
        Norms.LayerNormBackward(x, w, m, s, inPlace, inPlace, dW2, [], rows, c);
        Assert.Equal(dx, inPlace);
        Assert.Equal(dW, dW2);
    }

    [Fact]
    public void WrongShapes_ThrowNamingTheBuffer()
    {
        var ex = Assert.Throws<ArgumentException>(() => Norms.RmsNormForward(new float[12], new float[5], new float[12], new float[3], 3, 4, Eps));
        Assert.Equal("weight", ex.ParamName);
        Assert.Contains("(rows=3, C=4)", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Norms.LayerNormForward(new float[12], new float[4], new float[3], new float[12], new float[3], new float[3], 3, 4, Eps));
        Assert.Equal("bias", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Norms.LayerNormBackward(new float[12], new float[4], new float[3], new float[3], new float[12], new float[12], new float[4], new float[5], 3, 4));
        Assert.Equal("dBias", ex.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => Norms.RmsNormForward([], [], [], [], 0, 0, Eps));
        Assert.Throws<ArgumentOutOfRangeException>(() => Norms.RmsNormForward(new float[4], new float[4], new float[4], new float[1], 1, 4, float.NaN));
    }
}
