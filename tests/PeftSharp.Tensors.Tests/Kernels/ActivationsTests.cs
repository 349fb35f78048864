using PeftSharp.Tensors.Kernels;
using static PeftSharp.Tensors.Tests.Kernels.KernelTestData;

namespace PeftSharp.Tensors.Tests.Kernels;

public class ActivationsTests
{
    /// <summary>float64 reference forward (PyTorch definitions).</summary>
    internal static double RefForward(Activation a, double x) => a switch
    {
        Activation.Relu => Math.Max(x, 0),
        Activation.Silu => x / (1 + Math.Exp(-x)),
        Activation.Sigmoid => 1 / (1 + Math.Exp(-x)),
        Activation.Tanh => Math.Tanh(x),
        Activation.Gelu => 0.5 * x * (1 + Erf(x / Math.Sqrt(2))),
        Activation.GeluTanh => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        _ => throw new ArgumentOutOfRangeException(nameof(a)),
    };

    /// <summary>float64 analytic derivative (checked against finite differences below).</summary>
    internal static double RefDerivative(Activation a, double x)
    {
        switch (a)
        {
            case Activation.Relu: return x > 0 ? 1 : 0;
            case Activation.Silu: { double s = 1 / (1 + Math.Exp(-x)); return s * (1 + x * (1 - s)); }
            case Activation.Sigmoid: { double s = 1 / (1 + Math.Exp(-x)); return s * (1 - s); }
            case Activation.Tanh: { double t = Math.Tanh(x); return 1 - t * t; }
            case Activation.Gelu: return 0.5 * (1 + Erf(x / Math.Sqrt(2))) + x * Math.Exp(-0.5 * x * x) / Math.Sqrt(2 * Math.PI);
            case Activation.GeluTanh:
                {
                    double k = Math.Sqrt(2 / Math.PI);
                    double t = Math.Tanh(k * (x + 0.044715 * x * x * x));
                    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
                }
            default: throw new ArgumentOutOfRangeException(nameof(a));
        }
    }

    // Forward tolerances follow the FastMath bounds: sigmoid/tanh carry ≤ 4 ulp relative; erf and tanh
    // carry ~1.2e-7–3e-7 absolute near ±1, which GELU multiplies by 0.5|x| (hence atol ∝ |x|).
    private static (double atol, double rtol) ForwardTolerance(Activation a, double x) => a switch
    {
        Activation.Relu => (0, 0),
        Activation.Gelu => (1e-7 * Math.Abs(x), 8e-7),
        Activation.GeluTanh => (2e-7 * Math.Abs(x), 8e-7),
        _ => (1e-38, 8e-7),
    };

    public static TheoryData<Activation> All() => new()
    {
        Activation.Relu, Activation.Silu, Activation.Sigmoid, Activation.Tanh, Activation.Gelu, Activation.GeluTanh,
    };

    [Theory]
    [MemberData(nameof(All))]
    public void Reference_DerivativeMatchesCentralDifferences(Activation a)
    {
        foreach (double x in new[] { -7.3, -2.1, -1.2785, -0.3, 0.013, 0.7, 1.9, 5.5 })
        {
            double h = 1e-5;
            double fd = (RefForward(a, x + h) - RefForward(a, x - h)) / (2 * h);
            Assert.True(Math.Abs(fd - RefDerivative(a, x)) < 1e-8, $"{a} at {x}: fd {fd} vs analytic {RefDerivative(a, x)}");
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void Forward_MatchesFloat64_AtEveryLength(Activation a)
    {
        for (int n = 0; n <= 257; n++)
        {
            float[] x = Uniform(n, 31 * n + 1, -12f, 12f);
            float[] y = new float[n + 2];
            y[n] = y[n + 1] = 7f;
            Activations.Forward(a, x, y.AsSpan(0, n));
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(Activations.Forward(a, x[i])), BitConverter.SingleToInt32Bits(y[i]));
                (double atol, double rtol) = ForwardTolerance(a, x[i]);
                AssertClose(RefForward(a, x[i]), y[i], atol, rtol, $"{a}({x[i]:R}) n={n}");
            }
            Assert.Equal(7f, y[n]);
            Assert.Equal(7f, y[n + 1]);
        }
    }

    // Backward: the derivative formulas chain 2–3 approximations (sigmoid, erf/tanh, exp) and can cancel
    // (silu' crosses zero at x ≈ −1.28), so the bound is absolute in the terms' magnitude (1 + |x|)·|dy|
    // at 4e-7 plus 2e-6 relative — still ~100× below the error of a wrong formula term.
    [Theory]
    [MemberData(nameof(All))]
    public void Backward_MatchesAnalyticFloat64_AtEveryLength(Activation a)
    {
        for (int n = 0; n <= 257; n++)
        {
            float[] x = Uniform(n, 17 * n + 5, -12f, 12f);
            float[] dy = Uniform(n, 19 * n + 3, -2f, 2f);
            float[] dx = new float[n];
            Activations.Backward(a, x, dy, dx);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(Activations.Backward(a, x[i], dy[i])), BitConverter.SingleToInt32Bits(dx[i]));
                double expected = RefDerivative(a, x[i]) * dy[i];
                AssertClose(expected, dx[i], 4e-7 * (1 + Math.Abs(x[i])) * Math.Abs(dy[i]), 2e-6, $"{a}'({x[i]:R}) n={n}");
            }
            float[] inPlace = (float[])dy.Clone();
            Activations.Backward(a, x, inPlace, inPlace);
            Assert.Equal(dx, inPlace);
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void ExtremeInputs_StayFinite(Activation a)
    {
        float[] x = [-1e30f, -100f, -30f, 30f, 100f, 1e30f, 0f, -0f, 1e-30f];
        float[] y = new float[x.Length];
        float[] dx = new float[x.Length];
        Activations.Forward(a, x, y);
        Activations.Backward(a, x, Enumerable.Repeat(1f, x.Length).ToArray(), dx);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.True(float.IsFinite(y[i]), $"{a}({x[i]}) = {y[i]}");
            Assert.True(float.IsFinite(dx[i]), $"{a}'({x[i]}) = {dx[i]}");
            AssertClose(RefForward(a, x[i]), y[i], 1e-6, 1e-6, $"{a}({x[i]})");
        }
    }

    [Fact]
    public void WrongLengths_Throw()
    {
        var ex = Assert.Throws<ArgumentException>(() => Activations.Backward(Activation.Silu, new float[8], new float[8], new float[9]));
        Assert.Contains("dx", ex.Message);
        Assert.Throws<ArgumentException>(() => Activations.Forward(Activation.Gelu, new float[3], new float[2]));
    }
}
