using System.Runtime.Intrinsics;
using PeftSharp.Tensors.Kernels;
using static PeftSharp.Tensors.Tests.Kernels.KernelTestData;

namespace PeftSharp.Tensors.Tests.Kernels;

public class FastMathTests
{
    private static IEnumerable<float> Sweep(float lo, float hi, int count)
    {
        for (int i = 0; i <= count; i++)
        {
            yield return (float)(lo + (hi - lo) * i / count);
        }
    }

    // float32 results of the form 2^n·P(r) carry the polynomial's ~1 ulp plus the rounding of r, so 2 ulp
    // is the documented bound; subnormal results lose relative precision, so there the bound is absolute
    // (a few units of the smallest subnormal, 1.4e-45).
    [Fact]
    public void Exp_MatchesFloat64WithinTwoUlp()
    {
        long worst = 0;
        foreach (float x in Sweep(-87.3f, 88.72f, 400_000))
        {
            float expected = (float)Math.Exp(x);
            float got = FastMath.Exp(x);
            long ulp = UlpDistance(expected, got);
            worst = Math.Max(worst, ulp);
            Assert.True(ulp <= 2, $"exp({x:R}) = {got:R}, float64 gives {expected:R} ({ulp} ulp)");
        }
        Assert.True(worst >= 0);
        foreach (float x in Sweep(-104f, -87.3f, 20_000))
        {
            AssertClose(Math.Exp(x), FastMath.Exp(x), 4 * float.Epsilon, 2.5e-7, $"exp({x:R})");
        }
    }

    [Fact]
    public void Exp_SpecialValues()
    {
        Assert.Equal(1f, FastMath.Exp(0f));
        Assert.Equal(0f, FastMath.Exp(float.NegativeInfinity));
        Assert.Equal(0f, FastMath.Exp(-1000f));
        Assert.Equal(0f, FastMath.Exp(-104f));
        Assert.Equal(float.PositiveInfinity, FastMath.Exp(float.PositiveInfinity));
        Assert.Equal(float.PositiveInfinity, FastMath.Exp(89f));
        Assert.Equal(float.PositiveInfinity, FastMath.Exp(1e30f));
        Assert.True(float.IsFinite(FastMath.Exp(88.72f)));
        Assert.True(float.IsNaN(FastMath.Exp(float.NaN)));
        if (!FastMath.IsVectorized)
        {
            return; // the 8-lane form needs AVX2 + FMA; the span tests cover the scalar path here
        }
        var v = FastMath.Exp(Vector256.Create(float.NegativeInfinity, float.PositiveInfinity, float.NaN, 0f, -1000f, 89f, 88.72f, -104f));
        Assert.Equal(0f, v[0]);
        Assert.Equal(float.PositiveInfinity, v[1]);
        Assert.True(float.IsNaN(v[2]));
        Assert.Equal(1f, v[3]);
        Assert.Equal(0f, v[4]);
        Assert.Equal(float.PositiveInfinity, v[5]);
        Assert.Equal(FastMath.Exp(88.72f), v[6]);
        Assert.Equal(0f, v[7]);
    }

    // tanh: the small-argument polynomial and 1 − 2/(e^{2|x|}+1) each carry ≤ 2–3 ulp; 3e-7 relative is
    // ~2.5 ulp at the top of each binade and leaves no room for a real defect.
    [Fact]
    public void Tanh_MatchesFloat64()
    {
        foreach (float x in Sweep(-12f, 12f, 200_000))
        {
            AssertClose(Math.Tanh(x), FastMath.Tanh(x), 1e-38, 3e-7, $"tanh({x:R})");
        }
        Assert.Equal(1f, FastMath.Tanh(float.PositiveInfinity));
        Assert.Equal(-1f, FastMath.Tanh(float.NegativeInfinity));
        Assert.Equal(-1f, FastMath.Tanh(-50f));
        Assert.True(float.IsNaN(FastMath.Tanh(float.NaN)));
        Assert.Equal(1e-20f, FastMath.Tanh(1e-20f));
    }

    // erf: for |x| ≥ 0.5, 1 − erfc with erfc's fit error < 1.2e-7 relative (≤ 6e-8 absolute) plus float
    // rounding of the exponent and the final subtraction: 1.2e-7 absolute (one ulp of values near 1).
    // Below 0.5 the series is relatively accurate (≤ 2 ulp ≈ 2.4e-7 relative).
    [Fact]
    public void Erf_MatchesFloat64()
    {
        foreach (float x in Sweep(-6f, 6f, 200_000))
        {
            double expected = Erf(x);
            if (Math.Abs(x) < 0.5)
            {
                AssertClose(expected, FastMath.Erf(x), 1e-40, 2.4e-7, $"erf({x:R})");
            }
            else
            {
                AssertClose(expected, FastMath.Erf(x), 1.2e-7, 0, $"erf({x:R})");
            }
        }
        Assert.Equal(1f, FastMath.Erf(float.PositiveInfinity));
        Assert.Equal(-1f, FastMath.Erf(float.NegativeInfinity));
        Assert.True(float.IsNaN(FastMath.Erf(float.NaN)));
        Assert.Equal(0f, FastMath.Erf(0f));
    }

    // sigmoid = 1/(1+e^{−x}): exp's 2 ulp, the add and the divide give ≤ 4 ulp (4.8e-7 relative).
    [Fact]
    public void Sigmoid_MatchesFloat64()
    {
        foreach (float x in Sweep(-87f, 40f, 200_000))
        {
            AssertClose(1 / (1 + Math.Exp(-(double)x)), FastMath.Sigmoid(x), 1e-44, 4.8e-7, $"sigmoid({x:R})");
        }
        Assert.Equal(0f, FastMath.Sigmoid(-200f));
        Assert.Equal(0f, FastMath.Sigmoid(float.NegativeInfinity));
        Assert.Equal(1f, FastMath.Sigmoid(float.PositiveInfinity));
        Assert.True(float.IsNaN(FastMath.Sigmoid(float.NaN)));
    }

    public static TheoryData<string> Functions() => new() { "exp", "tanh", "erf", "sigmoid" };

    /// <summary>The span form equals the scalar specification bit for bit at every length 0..257 (every
    /// tail), leaves the elements past the end untouched, and works in place.</summary>
    [Theory]
    [MemberData(nameof(Functions))]
    public void SpanForm_EqualsScalarBitwise_AtEveryLength(string name)
    {
        (Action<ReadOnlySpan<float>, Span<float>> span, Func<float, float> scalar) = name switch
        {
            "exp" => ((Action<ReadOnlySpan<float>, Span<float>>)FastMath.Exp, (Func<float, float>)FastMath.Exp),
            "tanh" => (FastMath.Tanh, FastMath.Tanh),
            "erf" => (FastMath.Erf, FastMath.Erf),
            _ => (FastMath.Sigmoid, FastMath.Sigmoid),
        };
        for (int n = 0; n <= 257; n++)
        {
            float[] x = Uniform(n, 1000 + n, -30f, 30f);
            if (n > 3)
            {
                x[0] = float.NegativeInfinity;
                x[1] = float.NaN;
                x[2] = 95f;
                x[n - 1] = -0f;
            }
            float[] y = new float[n + 3];
            y.AsSpan(n).Fill(42f);
            span(x, y.AsSpan(0, n));
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(scalar(x[i])), BitConverter.SingleToInt32Bits(y[i]));
            }
            Assert.All(y[n..], v => Assert.Equal(42f, v));
            float[] inPlace = (float[])x.Clone();
            span(inPlace, inPlace);
            Assert.Equal(y[..n], inPlace);
        }
    }

    [Fact]
    public void SpanForm_RejectsLengthMismatch()
    {
        var ex = Assert.Throws<ArgumentException>(() => FastMath.Exp(new float[5], new float[4]));
        Assert.Contains("5", ex.Message);
        Assert.Contains("4", ex.Message);
    }

    [Fact]
    public void Reductions_MatchFloat64AtEveryLength()
    {
        for (int n = 0; n <= 257; n++)
        {
            float[] x = Uniform(n, 7 + n, -3f, 3f);
            float[] y = Uniform(n, 9000 + n, -3f, 3f);
            double sum = 0, dot = 0, max = double.NegativeInfinity, dev = 0, se = 0;
            for (int i = 0; i < n; i++)
            {
                sum += x[i];
                dot += (double)x[i] * y[i];
                max = Math.Max(max, x[i]);
                dev += (x[i] - 0.25) * (x[i] - 0.25);
                se += Math.Exp(x[i] - 1.0);
            }
            // float accumulation of n ≤ 257 terms of magnitude ≤ 9: error ≤ ~n·ε·Σ|terms| in the worst case;
            // 1e-5 absolute per unit of n is far above the typical √n growth yet catches a dropped element.
            AssertClose(sum, FastMath.Sum(x), 1e-5 * (n + 1), 0, $"sum n={n}");
            AssertClose(dot, FastMath.Dot(x, y), 1e-5 * (n + 1), 0, $"dot n={n}");
            AssertClose(dev, FastMath.SumSquaredDeviation(x, 0.25f), 1e-5 * (n + 1), 1e-6, $"dev n={n}");
            AssertClose(se, FastMath.SumExp(x, 1f), 1e-5 * (n + 1), 1e-6, $"sumexp n={n}");
            Assert.Equal((float)max, FastMath.Max(x));
        }
    }
}
