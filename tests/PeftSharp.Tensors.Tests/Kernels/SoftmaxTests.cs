using PeftSharp.Tensors.Kernels;
using static PeftSharp.Tensors.Tests.Kernels.KernelTestData;

namespace PeftSharp.Tensors.Tests.Kernels;

public class SoftmaxTests
{
    internal static double[] RefSoftmax(ReadOnlySpan<float> x)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x)
        {
            max = Math.Max(max, v);
        }
        var p = new double[x.Length];
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            p[i] = Math.Exp(x[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < x.Length; i++)
        {
            p[i] /= sum;
        }
        return p;
    }

    public static TheoryData<int, int> Shapes() => new() { { 1, 1 }, { 3, 7 }, { 2, 17 }, { 5, 33 }, { 1, 65 }, { 2, 257 }, { 1, 3001 } };

    // Forward: exp (≤ 2 ulp), a float sum of n terms (relative error ≲ 1e-7·log2(n) with the blocked
    // accumulation order) and one divide: 2e-6 relative plus 1e-12 absolute for underflowing entries.
    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_MatchesFloat64(int rows, int n)
    {
        float[] x = Uniform(rows * n, rows * 100 + n, -20f, 20f);
        float[] y = new float[rows * n];
        float[] ly = new float[rows * n];
        Softmax.Forward(x, y, rows, n);
        Softmax.LogForward(x, ly, rows, n);
        for (int r = 0; r < rows; r++)
        {
            double[] p = RefSoftmax(x.AsSpan(r * n, n));
            for (int i = 0; i < n; i++)
            {
                AssertClose(p[i], y[r * n + i], 1e-12, 2e-6, $"softmax[{r},{i}]");
                // log-softmax: x − lse, absolute error ~ ulp(|x| + |lse|) ≈ 4e-6 for |x| ≤ 20.
                AssertClose(Math.Log(p[i]), ly[r * n + i], 8e-6, 1e-7, $"logsoftmax[{r},{i}]");
            }
        }
    }

    [Fact]
    public void Forward_IsStableForHugeLogits()
    {
        float[] x = [1e4f, 1e4f + 1f, 1e4f - 3f, -1e4f, 3e38f, 3e38f];
        float[] y = new float[6];
        Softmax.Forward(x.AsSpan(0, 3), y.AsSpan(0, 3), 1, 3);
        double[] p = RefSoftmax(x.AsSpan(0, 3));
        for (int i = 0; i < 3; i++)
        {
            AssertClose(p[i], y[i], 1e-12, 2e-6, "huge");
        }
        Softmax.Forward(x.AsSpan(3, 3), y.AsSpan(3, 3), 1, 3);
        Assert.Equal(0f, y[3]);
        Assert.Equal(0.5f, y[4]);
        Assert.Equal(0.5f, y[5]);
    }

    // Backward references are analytic float64 formulas evaluated at the float64 softmax; the reference
    // formulas themselves are checked against central differences below.
    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_MatchesAnalyticFloat64(int rows, int n)
    {
        float[] x = Uniform(rows * n, rows * 10 + n + 1, -6f, 6f);
        float[] dy = Uniform(rows * n, rows * 10 + n + 2, -1f, 1f);
        float[] y = new float[rows * n], ly = new float[rows * n], dx = new float[rows * n], ldx = new float[rows * n];
        Softmax.Forward(x, y, rows, n);
        Softmax.LogForward(x, ly, rows, n);
        Softmax.Backward(y, dy, dx, rows, n);
        Softmax.LogBackward(ly, dy, ldx, rows, n);
        for (int r = 0; r < rows; r++)
        {
            double[] p = RefSoftmax(x.AsSpan(r * n, n));
            double dot = 0, sum = 0;
            for (int i = 0; i < n; i++)
            {
                dot += dy[r * n + i] * p[i];
                sum += dy[r * n + i];
            }
            for (int i = 0; i < n; i++)
            {
                // softmax: y's 2e-6 relative error times |dy − dot| ≤ 2, plus dot's float error: 4e-7·p + 1e-9.
                AssertClose(p[i] * (dy[r * n + i] - dot), dx[r * n + i], 1e-9 + 5e-6 * p[i], 0, $"softmax dx[{r},{i}]");
                // log-softmax: dy − p·Σdy with |Σdy| ≤ n; p = e^y carries ~ulp(|y|)·p error.
                AssertClose(dy[r * n + i] - p[i] * sum, ldx[r * n + i], 1e-6 + 1e-5 * p[i] * Math.Abs(sum), 0, $"logsoftmax dx[{r},{i}]");
            }
        }
    }

    [Fact]
    public void ReferenceBackwardFormulas_MatchCentralDifferences()
    {
        float[] x = Uniform(7, 3, -2f, 2f);
        float[] dy = Uniform(7, 4, -1f, 1f);
        double[] p = RefSoftmax(x);
        double dot = 0, sum = 0;
        for (int i = 0; i < 7; i++)
        {
            dot += dy[i] * p[i];
            sum += dy[i];
        }
        for (int k = 0; k < 7; k++)
        {
            double h = 1e-3;
            float[] xp = (float[])x.Clone(), xm = (float[])x.Clone();
            xp[k] += (float)h;
            xm[k] -= (float)h;
            double hk = ((double)xp[k] - xm[k]) / 2; // the float step actually taken
            double[] pp = RefSoftmax(xp), pm = RefSoftmax(xm);
            double fd = 0, lfd = 0;
            for (int i = 0; i < 7; i++)
            {
                fd += dy[i] * (pp[i] - pm[i]) / (2 * hk);
                lfd += dy[i] * (Math.Log(pp[i]) - Math.Log(pm[i])) / (2 * hk);
            }
            Assert.True(Math.Abs(fd - p[k] * (dy[k] - dot)) < 1e-6, $"softmax k={k}");
            Assert.True(Math.Abs(lfd - (dy[k] - p[k] * sum)) < 1e-6, $"logsoftmax k={k}");
        }
    }

    [Fact]
    public void InPlace_AndDeterministic()
    {
        float[] x = Uniform(3 * 65, 9, -5, 5);
        float[] a = new float[x.Length], b = (float[])x.Clone();
        Softmax.Forward(x, a, 3, 65);
        Softmax.Forward(b, b, 3, 65);
        Assert.Equal(a, b);
        float[] dy = Uniform(x.Length, 10);
        float[] d1 = new float[x.Length], d2 = (float[])dy.Clone();
        Softmax.Backward(a, dy, d1, 3, 65);
        Softmax.Backward(a, d2, d2, 3, 65);
        Assert.Equal(d1, d2);
    }

    [Fact]
    public void WrongLengths_ThrowNamingShape()
    {
        var ex = Assert.Throws<ArgumentException>(() => Softmax.Forward(new float[20], new float[21], 4, 5));
        Assert.Contains("(rows=4, n=5)", ex.Message);
        Assert.Contains("y", ex.ParamName);
        Assert.Throws<ArgumentException>(() => Softmax.LogBackward(new float[20], new float[19], new float[20], 4, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => Softmax.Forward([], [], -1, 5));
    }
}
