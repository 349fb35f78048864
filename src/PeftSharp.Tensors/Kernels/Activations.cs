using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

/// <summary>The pointwise activations the kernels provide.</summary>
public enum Activation
{
    /// <summary>max(x, 0).</summary>
    Relu,
    /// <summary>x·sigmoid(x) (a.k.a. swish).</summary>
    Silu,
    /// <summary>1/(1+e^−x).</summary>
    Sigmoid,
    /// <summary>tanh(x).</summary>
    Tanh,
    /// <summary>Exact GELU: 0.5·x·(1 + erf(x/√2)) (Hugging Face "gelu").</summary>
    Gelu,
    /// <summary>Tanh GELU: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) ("gelu_new", "gelu_pytorch_tanh").</summary>
    GeluTanh,
}

/// <summary>
/// Pointwise activations, forward and backward, over flat spans of any length (shape (N) — callers pass
/// (B·T·C) buffers). Backward computes dx from the forward <em>input</em> x and the upstream gradient dy,
/// matching PyTorch's formulas. Outputs may alias inputs (each element is read before it is written).
/// </summary>
/// <remarks>8 lanes per step through <see cref="FastMath"/>; the 0–7 element tail runs the bitwise-identical
/// scalar twin, so results do not depend on an element's position.</remarks>
public static class Activations
{
    private const float GeluTanhBeta = 0.797884560802865355f; // √(2/π)
    private const float GeluTanhKappa = 0.044715f;
    private const float InvSqrt2 = 0.707106781186547524f;
    private const float InvSqrt2Pi = 0.398942280401432678f;   // 1/√(2π)

    /// <summary>y = act(x).</summary>
    /// <exception cref="ArgumentException">Lengths differ.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Unknown activation.</exception>
    public static void Forward(Activation activation, ReadOnlySpan<float> x, Span<float> y)
    {
        Elementwise.CheckSameLength(x.Length, y.Length, nameof(x), nameof(y));
        switch (activation)
        {
            case Activation.Relu: Elementwise.Map<ReluOp>(x, y); break;
            case Activation.Silu: Elementwise.Map<SiluOp>(x, y); break;
            case Activation.Sigmoid: Elementwise.Map<SigmoidOp>(x, y); break;
            case Activation.Tanh: Elementwise.Map<TanhOp>(x, y); break;
            case Activation.Gelu: Elementwise.Map<GeluOp>(x, y); break;
            case Activation.GeluTanh: Elementwise.Map<GeluTanhOp>(x, y); break;
            default: throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
        }
    }

    /// <summary>dx = act'(x)·dy.</summary>
    /// <exception cref="ArgumentException">Lengths differ.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Unknown activation.</exception>
    public static void Backward(Activation activation, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        Elementwise.CheckSameLength(x.Length, dy.Length, nameof(x), nameof(dy));
        Elementwise.CheckSameLength(x.Length, dx.Length, nameof(x), nameof(dx));
        switch (activation)
        {
            case Activation.Relu: Elementwise.Map<ReluGrad>(x, dy, dx); break;
            case Activation.Silu: Elementwise.Map<SiluGrad>(x, dy, dx); break;
            case Activation.Sigmoid: Elementwise.Map<SigmoidGrad>(x, dy, dx); break;
            case Activation.Tanh: Elementwise.Map<TanhGrad>(x, dy, dx); break;
            case Activation.Gelu: Elementwise.Map<GeluGrad>(x, dy, dx); break;
            case Activation.GeluTanh: Elementwise.Map<GeluTanhGrad>(x, dy, dx); break;
            default: throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
        }
    }

    /// <summary>Scalar act(x) (the specification of the span form).</summary>
    public static float Forward(Activation activation, float x) => activation switch
    {
        Activation.Relu => ReluOp.Invoke(x),
        Activation.Silu => SiluOp.Invoke(x),
        Activation.Sigmoid => SigmoidOp.Invoke(x),
        Activation.Tanh => TanhOp.Invoke(x),
        Activation.Gelu => GeluOp.Invoke(x),
        Activation.GeluTanh => GeluTanhOp.Invoke(x),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation."),
    };

    /// <summary>Scalar act'(x)·dy (the specification of the span form).</summary>
    public static float Backward(Activation activation, float x, float dy) => activation switch
    {
        Activation.Relu => ReluGrad.Invoke(x, dy),
        Activation.Silu => SiluGrad.Invoke(x, dy),
        Activation.Sigmoid => SigmoidGrad.Invoke(x, dy),
        Activation.Tanh => TanhGrad.Invoke(x, dy),
        Activation.Gelu => GeluGrad.Invoke(x, dy),
        Activation.GeluTanh => GeluTanhGrad.Invoke(x, dy),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation."),
    };

    // maxps(a, b) = a > b ? a : b, so max(0, x) keeps NaN and −0 exactly like the scalar twin.
    private readonly struct ReluOp : IUnaryOp
    {
        public static float Invoke(float x) => 0f > x ? 0f : x;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Invoke(Vector256<float> x) => Avx.Max(Vector256<float>.Zero, x);
    }

    private readonly struct ReluGrad : IBinaryOp
    {
        public static float Invoke(float x, float dy) => x > 0f ? dy : 0f;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> dy) => Avx.And(Avx.CompareGreaterThan(x, Vector256<float>.Zero), dy);
    }

    internal readonly struct SiluOp : IUnaryOp
    {
        public static float Invoke(float x) => x * FastMath.Sigmoid(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Invoke(Vector256<float> x) => Avx.Multiply(x, FastMath.Sigmoid(x));
    }

    /// <summary>d silu = s·(1 + x·(1 − s)), s = sigmoid(x).</summary>
    internal readonly struct SiluGrad : IBinaryOp
    {
        public static float Invoke(float x, float dy)
        {
            float s = FastMath.Sigmoid(x);
            return dy * (s * MathF.FusedMultiplyAdd(x, 1f - s, 1f));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> dy)
        {
            Vector256<float> s = FastMath.Sigmoid(x);
            return Avx.Multiply(dy, Avx.Multiply(s, Fma.MultiplyAdd(x, Avx.Subtract(Vector256<float>.One, s), Vector256<float>.One)));
        }
    }

    private readonly struct SigmoidOp : IUnaryOp
    {
        public static float Invoke(float x) => FastMath.Sigmoid(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Invoke(Vector256<float> x) => FastMath.Sigmoid(x);
    }

    private readonly struct SigmoidGrad : IBinaryOp
    {
        public static float Invoke(float x, float dy)
        {
            float s = FastMath.Sigmoid(x);
            return dy * (s * (1f - s));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> dy)
        {
            Vector256<float> s = FastMath.Sigmoid(x);
            return Avx.Multiply(dy, Avx.Multiply(s, Avx.Subtract(Vector256<float>.One, s)));
        }
    }

    private readonly struct TanhOp : IUnaryOp
    {
        public static float Invoke(float x) => FastMath.Tanh(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Invoke(Vector256<float> x) => FastMath.Tanh(x);
    }

    private readonly struct TanhGrad : IBinaryOp
    {
        public static float Invoke(float x, float dy)
        {
            float t = FastMath.Tanh(x);
            return dy * MathF.FusedMultiplyAdd(-t, t, 1f);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> dy)
        {
            Vector256<float> t = FastMath.Tanh(x);
            return Avx.Multiply(dy, Fma.MultiplyAddNegated(t, t, Vector256<float>.One));
        }
    }

    private readonly struct GeluOp : IUnaryOp
    {
        public static float Invoke(float x) => 0.5f * x * (1f + FastMath.Erf(x * InvSqrt2));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Invoke(Vector256<float> x)
        {
            Vector256<float> e = FastMath.Erf(Avx.Multiply(x, Vector256.Create(InvSqrt2)));
            return Avx.Multiply(Avx.Multiply(Vector256.Create(0.5f), x), Avx.Add(Vector256<float>.One, e));
        }
    }

    /// <summary>d gelu = Φ(x) + x·φ(x), Φ(x) = 0.5(1 + erf(x/√2)), φ(x) = e^(−x²/2)/√(2π).</summary>
    private readonly struct GeluGrad : IBinaryOp
    {
        public static float Invoke(float x, float dy)
        {
            float cdf = 0.5f * (1f + FastMath.Erf(x * InvSqrt2));
            float pdf = FastMath.Exp(-0.5f * (x * x)) * InvSqrt2Pi;
            return dy * MathF.FusedMultiplyAdd(x, pdf, cdf);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> dy)
        {
            Vector256<float> cdf = Avx.Multiply(Vector256.Create(0.5f), Avx.Add(Vector256<float>.One, FastMath.Erf(Avx.Multiply(x, Vector256.Create(InvSqrt2)))));
            Vector256<float> pdf = Avx.Multiply(FastMath.Exp(Avx.Multiply(Vector256.Create(-0.5f), Avx.Multiply(x, x))), Vector256.Create(InvSqrt2Pi));
            return Avx.Multiply(dy, Fma.MultiplyAdd(x, pdf, cdf));
        }
    }

    private readonly struct GeluTanhOp : IUnaryOp
    {
        public static float Invoke(float x)
        {
            float inner = GeluTanhBeta * MathF.FusedMultiplyAdd(GeluTanhKappa, x * x * x, x);
            return 0.5f * x * (1f + FastMath.Tanh(inner));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Invoke(Vector256<float> x)
        {
            Vector256<float> cube = Avx.Multiply(Avx.Multiply(x, x), x);
            Vector256<float> inner = Avx.Multiply(Vector256.Create(GeluTanhBeta), Fma.MultiplyAdd(Vector256.Create(GeluTanhKappa), cube, x));
            return Avx.Multiply(Avx.Multiply(Vector256.Create(0.5f), x), Avx.Add(Vector256<float>.One, FastMath.Tanh(inner)));
        }
    }

    /// <summary>
    /// PyTorch's formula: 0.5(1+t) + 0.5x·(1−t²)·β(1 + 3κx²), t = tanh(β(x + κx³)). x is clamped to ±10
    /// first: beyond |x| ≈ 5.5 t is exactly ±1 in float32 so the value is unchanged, and the clamp keeps
    /// x·(1−t²)·x² from becoming ∞·0 = NaN for huge |x|.
    /// </summary>
    private readonly struct GeluTanhGrad : IBinaryOp
    {
        private const float Clamp = 10f;

        public static float Invoke(float x, float dy)
        {
            x = MathF.Min(MathF.Max(x, -Clamp), Clamp);
            float x2 = x * x;
            float t = FastMath.Tanh(GeluTanhBeta * MathF.FusedMultiplyAdd(GeluTanhKappa, x2 * x, x));
            float left = 0.5f * (1f + t);
            float right = 0.5f * x * MathF.FusedMultiplyAdd(-t, t, 1f) * (GeluTanhBeta * MathF.FusedMultiplyAdd(3f * GeluTanhKappa, x2, 1f));
            return dy * (left + right);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> dy)
        {
            Vector256<float> half = Vector256.Create(0.5f);
            Vector256<float> one = Vector256<float>.One;
            x = Avx.Min(Avx.Max(x, Vector256.Create(-Clamp)), Vector256.Create(Clamp));
            Vector256<float> x2 = Avx.Multiply(x, x);
            Vector256<float> t = FastMath.Tanh(Avx.Multiply(Vector256.Create(GeluTanhBeta), Fma.MultiplyAdd(Vector256.Create(GeluTanhKappa), Avx.Multiply(x2, x), x)));
            Vector256<float> left = Avx.Multiply(half, Avx.Add(one, t));
            Vector256<float> slope = Avx.Multiply(Vector256.Create(GeluTanhBeta), Fma.MultiplyAdd(Vector256.Create(3f * GeluTanhKappa), x2, one));
            Vector256<float> right = Avx.Multiply(Avx.Multiply(Avx.Multiply(half, x), Fma.MultiplyAddNegated(t, t, one)), slope);
            return Avx.Multiply(dy, Avx.Add(left, right));
        }
    }
}
