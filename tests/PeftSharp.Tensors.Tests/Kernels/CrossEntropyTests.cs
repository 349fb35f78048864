using PeftSharp.Tensors.Kernels;
using static PeftSharp.Tensors.Tests.Kernels.KernelTestData;

namespace PeftSharp.Tensors.Tests.Kernels;

public class CrossEntropyTests
{
    /// <summary>float64 PyTorch-semantics mean loss (ignore_index −100, label smoothing ε).</summary>
    private static double RefMeanLoss(float[] logits, int[] targets, int rows, int v, double eps, out int counted)
    {
        double total = 0;
        counted = 0;
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] == -100)
            {
                continue;
            }
            counted++;
            total += RefRowLoss(logits.AsSpan(r * v, v), targets[r], eps);
        }
        return total / counted;
    }

    private static double RefRowLoss(ReadOnlySpan<float> x, int t, double eps)
    {
        double max = double.NegativeInfinity;
        foreach (float f in x)
        {
            max = Math.Max(max, f);
        }
        double s = 0, mean = 0;
        foreach (float f in x)
        {
            s += Math.Exp(f - max);
            mean += f;
        }
        double lse = max + Math.Log(s);
        mean /= x.Length;
        return (1 - eps) * (lse - x[t]) + eps * (lse - mean);
    }

    private static int[] Targets(int rows, int v, int seed)
    {
        var rng = new Random(seed);
        var t = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            t[r] = r % 3 == 1 ? -100 : rng.Next(v);
        }
        return t;
    }

    public static TheoryData<int, int, float> Cases() => new()
    {
        { 1, 1, 0f }, { 4, 7, 0f }, { 5, 17, 0.1f }, { 7, 33, 0f }, { 3, 65, 0.25f }, { 2, 257, 0.1f }, { 3, 1001, 0f },
    };

    // Per-row loss: lse = max + log(sum) in float carries ~2 ulp of |lse| (≤ ~40 here) ≈ 1e-5 absolute.
    [Theory]
    [MemberData(nameof(Cases))]
    public void Forward_MatchesFloat64(int rows, int v, float eps)
    {
        float[] x = Uniform(rows * v, rows * 7 + v, -15f, 15f);
        int[] t = Targets(rows, v, v);
        float[] losses = new float[rows], lse = new float[rows];
        int counted = CrossEntropy.Forward(x, t, losses, lse, rows, v, eps);
        double expected = RefMeanLoss(x, t, rows, v, eps, out int refCount);
        Assert.Equal(refCount, counted);
        for (int r = 0; r < rows; r++)
        {
            if (t[r] == -100)
            {
                Assert.Equal(0f, losses[r]);
            }
            else
            {
                AssertClose(RefRowLoss(x.AsSpan(r * v, v), t[r], eps), losses[r], 1e-5, 1e-6, $"row {r}");
            }
        }
        AssertClose(expected, CrossEntropy.Mean(losses, counted), 1e-5, 1e-6, "mean");
    }

    // Backward against central differences of the float64 mean loss (the independent definition),
    // step h = 1e-3: truncation error O(h²·|f'''|) ≲ 1e-6; kernel error from exp (2 ulp) ≲ 1e-7.
    [Theory]
    [MemberData(nameof(Cases))]
    public void Backward_MatchesCentralDifferences(int rows, int v, float eps)
    {
        if ((long)rows * v > 2000)
        {
            return; // finite differences cost rows·V float64 forward passes; the analytic test below covers large V
        }
        float[] x = Uniform(rows * v, rows * 11 + v, -4f, 4f);
        int[] t = Targets(rows, v, v + 1);
        float[] losses = new float[rows], lse = new float[rows], dx = new float[rows * v];
        int counted = CrossEntropy.Forward(x, t, losses, lse, rows, v, eps);
        CrossEntropy.Backward(x, t, lse, dx, rows, v, 1f / counted, eps);
        for (int k = 0; k < x.Length; k++)
        {
            float[] xp = (float[])x.Clone(), xm = (float[])x.Clone();
            xp[k] += 1e-3f;
            xm[k] -= 1e-3f;
            double h = ((double)xp[k] - xm[k]) / 2;
            double fd = (RefMeanLoss(xp, t, rows, v, eps, out _) - RefMeanLoss(xm, t, rows, v, eps, out _)) / (2 * h);
            AssertClose(fd, dx[k], 2e-6, 1e-4, $"dlogits[{k / v},{k % v}]");
        }
    }

    [Fact]
    public void Backward_LargeVocab_MatchesAnalyticFloat64_AndInPlace()
    {
        const int rows = 3, v = 32003;
        float[] x = Uniform(rows * v, 5, -10f, 10f);
        int[] t = [5, -100, v - 1];
        float[] losses = new float[rows], lse = new float[rows], dx = new float[rows * v];
        int counted = CrossEntropy.Forward(x, t, losses, lse, rows, v, 0.1f);
        Assert.Equal(2, counted);
        CrossEntropy.Backward(x, t, lse, dx, rows, v, 0.5f, 0.1f);
        for (int r = 0; r < rows; r++)
        {
            double[] p = SoftmaxTests.RefSoftmax(x.AsSpan(r * v, v));
            for (int c = 0; c < v; c++)
            {
                double expected = t[r] == -100 ? 0 : (p[c] - 0.1 / v - (c == t[r] ? 0.9 : 0)) * 0.5;
                // p·(lse's absolute error ~1e-6 + exp's 2 ulp) → 2e-6 relative to p, plus 1e-10 absolute.
                AssertClose(expected, dx[r * v + c], 1e-10, 2e-6, $"dlogits[{r},{c}]");
            }
        }
        float[] inPlace = (float[])x.Clone();
        CrossEntropy.Backward(inPlace, t, lse, inPlace, rows, v, 0.5f, 0.1f);
        Assert.Equal(dx, inPlace);
    }

    // Logits of magnitude 1e4–1e5 would overflow an unshifted exp. Float32 spacing at |lse| ≈ 1e5 is
    // 7.8e-3, which bounds both the loss error and (through e^(x − lse)) the relative gradient error: 4 spacings.
    [Fact]
    public void HugeLogits_AreStable()
    {
        float[] x = [3e4f, 3e4f - 2f, -3e4f, 1e5f, 1e5f - 1f, -1e5f];
        int[] t = [1, 0];
        float[] losses = new float[2], lse = new float[2], dx = new float[6];
        CrossEntropy.Forward(x, t, losses, lse, 2, 3);
        CrossEntropy.Backward(x, t, lse, dx, 2, 3, 1f);
        for (int r = 0; r < 2; r++)
        {
            double tol = 4 * (MathF.BitIncrement(MathF.Abs(lse[r])) - MathF.Abs(lse[r]));
            AssertClose(RefRowLoss(x.AsSpan(r * 3, 3), t[r], 0), losses[r], tol, 0, $"loss row {r}");
            double[] p = SoftmaxTests.RefSoftmax(x.AsSpan(r * 3, 3));
            for (int c = 0; c < 3; c++)
            {
                double expected = p[c] - (c == t[r] ? 1 : 0);
                AssertClose(expected, dx[r * 3 + c], 1e-30, tol, $"dlogits[{r},{c}]");
            }
        }
    }

    [Fact]
    public void AllIgnored_CountsZero_GradientZero_MeanNaN()
    {
        float[] x = Uniform(10, 1);
        int[] t = [-100, -100];
        float[] losses = new float[2], lse = new float[2], dx = Enumerable.Repeat(9f, 10).ToArray();
        Assert.Equal(0, CrossEntropy.Forward(x, t, losses, lse, 2, 5));
        Assert.True(float.IsNaN(CrossEntropy.Mean(losses, 0)));
        CrossEntropy.Backward(x, t, lse, dx, 2, 5, 1f);
        Assert.All(dx, d => Assert.Equal(0f, d));
    }

    [Fact]
    public void HostileInput_Throws()
    {
        float[] lse = new float[2], losses = new float[2];
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => CrossEntropy.Forward(new float[10], [1, 5], losses, lse, 2, 5));
        Assert.Contains("targets[1] = 5", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => CrossEntropy.Forward(new float[10], [-1, 0], losses, lse, 2, 5));
        var ex2 = Assert.Throws<ArgumentException>(() => CrossEntropy.Forward(new float[9], [1, 0], losses, lse, 2, 5));
        Assert.Contains("(rows=2, V=5)", ex2.Message);
        Assert.Throws<ArgumentException>(() => CrossEntropy.Forward(new float[10], [1], losses, lse, 2, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => CrossEntropy.Forward(new float[10], [1, 0], losses, lse, 2, 5, 1.5f));
        Assert.Throws<ArgumentException>(() => CrossEntropy.Backward(new float[10], [1, 0], lse, new float[9], 2, 5, 1f));
    }
}
