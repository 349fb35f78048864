using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PeftSharp.Tensors.Kernels;

/// <summary>
/// Vectorised float32 transcendental functions (exp, tanh, erf, sigmoid) and the multi-accumulator
/// reductions the fused kernels share.
/// </summary>
/// <remarks>
/// Every vector function has a scalar twin written with the same operations in the same order (fused
/// multiply-adds included), so the two agree bit for bit: tails and machines without AVX2/FMA get exactly
/// the numbers the 8-lane path produces, and a result never depends on an element's position in a span.
/// The scalar twins are the specification; their accuracy against float64 is pinned by tests.
/// Lanes: one <see cref="Vector256{T}"/> holds 8 floats. The exp-bound loops (span exp, softmax,
/// cross-entropy, attention rows) also use 16-lane AVX-512 where present, with the same operations.
/// </remarks>
public static class FastMath
{
    /// <summary>True when the 8-lane AVX2 + FMA path is used.</summary>
    public static bool IsVectorized => Avx2.IsSupported && Fma.IsSupported;

    // exp: x = n·ln2 + r with |r| ≤ ln2/2, exp(x) = 2^n · P(r). Cody–Waite split of ln2 keeps r exact
    // enough for n up to 150; P is the Cephes expf minimax polynomial (≈1 ulp on the reduced range).
    private const float ExpLowerClamp = -104f; // exp(-104) ≈ 6.8e-46 rounds to +0 in float32
    private const float ExpUpperClamp = 89f;   // exp(89) > float.MaxValue, so the result is +∞
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693359375f;
    private const float Ln2Lo = -2.12194440e-4f;
    private const float ExpP0 = 1.9875691500e-4f;
    private const float ExpP1 = 1.3981999507e-3f;
    private const float ExpP2 = 8.3334519073e-3f;
    private const float ExpP3 = 4.1665795894e-2f;
    private const float ExpP4 = 1.6666665459e-1f;
    private const float ExpP5 = 5.0000001201e-1f;

    // tanh for |x| < 0.625: x + x·z·Q(z), z = x² (Cephes tanhf); above, 1 − 2/(exp(2|x|)+1).
    private const float TanhSmall = 0.625f;
    private const float TanhQ0 = -5.70498872745e-3f;
    private const float TanhQ1 = 2.06390887954e-2f;
    private const float TanhQ2 = -5.37397155531e-2f;
    private const float TanhQ3 = 1.33314422036e-1f;
    private const float TanhQ4 = -3.33332819422e-1f;

    // erf for |x| < 0.5: Maclaurin series through x^11 (truncation < 2e-8 relative there).
    // Above: erf = 1 − erfc with the Numerical Recipes Chebyshev fit erfc(x) = t·exp(−x² + R(t)),
    // t = 1/(1 + x/2), relative error < 1.2e-7 on erfc, i.e. ≤ 6e-8 absolute on erf for x ≥ 0.5.
    private const float ErfSmall = 0.5f;
    private const float ErfC0 = 1.12837916709551257f;   //  2/√π
    private const float ErfC1 = -0.376126389031837524f; // −2/(3√π)
    private const float ErfC2 = 0.112837916709551257f;  //  2/(10√π)
    private const float ErfC3 = -0.0268661706451312518f; // −2/(42√π)
    private const float ErfC4 = 0.00522397762544218784f; //  2/(216√π)
    private const float ErfC5 = -8.54832702345085282e-4f; // −2/(1320√π)
    private const float ErfR0 = -1.26551223f;
    private const float ErfR1 = 1.00002368f;
    private const float ErfR2 = 0.37409196f;
    private const float ErfR3 = 0.09678418f;
    private const float ErfR4 = -0.18628806f;
    private const float ErfR5 = 0.27886807f;
    private const float ErfR6 = -1.13520398f;
    private const float ErfR7 = 1.48851587f;
    private const float ErfR8 = -0.82215223f;
    private const float ErfR9 = 0.17087277f;

    // ---------------------------------------------------------------- exp

    /// <summary>e^x for 8 lanes (requires AVX2 + FMA, see <see cref="IsVectorized"/>): ≤ 2 ulp for normal results; −∞ and x &lt; −104 give +0; x ≥ 89 gives +∞; NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        // maxps/minps return the second operand when either is NaN; with x second, NaN lanes stay NaN
        // through the clamp and the polynomial, so no separate NaN select is needed.
        Vector256<float> xc = Avx.Min(Vector256.Create(ExpUpperClamp), Avx.Max(Vector256.Create(ExpLowerClamp), x));
        Vector256<float> n = Avx.RoundToNearestInteger(Avx.Multiply(xc, Vector256.Create(Log2E)));
        Vector256<float> r = Fma.MultiplyAddNegated(n, Vector256.Create(Ln2Hi), xc);
        r = Fma.MultiplyAddNegated(n, Vector256.Create(Ln2Lo), r);
        Vector256<float> p = Fma.MultiplyAdd(Vector256.Create(ExpP0), r, Vector256.Create(ExpP1));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(ExpP2));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(ExpP3));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(ExpP4));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(ExpP5));
        Vector256<float> y = Avx.Add(Fma.MultiplyAdd(p, Avx.Multiply(r, r), r), Vector256<float>.One);
        // 2^n applied as 2^n1 · 2^n2 (n1 = n >> 1): both factors stay normal for n ∈ [−150, 129], so
        // subnormal results round once and overflow reaches +∞ instead of wrapping the exponent.
        Vector256<int> ni = Avx.ConvertToVector256Int32(n);
        Vector256<int> n1 = Avx2.ShiftRightArithmetic(ni, 1);
        Vector256<int> n2 = Avx2.Subtract(ni, n1);
        Vector256<float> s1 = Avx2.ShiftLeftLogical(Avx2.Add(n1, Vector256.Create(127)), 23).AsSingle();
        Vector256<float> s2 = Avx2.ShiftLeftLogical(Avx2.Add(n2, Vector256.Create(127)), 23).AsSingle();
        return Avx.Multiply(Avx.Multiply(y, s1), s2);
    }

    /// <summary>16-lane AVX-512 form of <see cref="Exp(Vector256{float})"/>: the same operations, so bitwise the same results.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp(Vector512<float> x)
    {
        Vector512<float> xc = Avx512F.Min(Vector512.Create(ExpUpperClamp), Avx512F.Max(Vector512.Create(ExpLowerClamp), x));
        Vector512<float> n = Avx512F.RoundScale(Avx512F.Multiply(xc, Vector512.Create(Log2E)), 0); // imm 0: nearest, ties to even
        Vector512<float> r = Avx512F.FusedMultiplyAddNegated(n, Vector512.Create(Ln2Hi), xc);
        r = Avx512F.FusedMultiplyAddNegated(n, Vector512.Create(Ln2Lo), r);
        Vector512<float> p = Avx512F.FusedMultiplyAdd(Vector512.Create(ExpP0), r, Vector512.Create(ExpP1));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(ExpP2));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(ExpP3));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(ExpP4));
        p = Avx512F.FusedMultiplyAdd(p, r, Vector512.Create(ExpP5));
        Vector512<float> y = Avx512F.Add(Avx512F.FusedMultiplyAdd(p, Avx512F.Multiply(r, r), r), Vector512<float>.One);
        Vector512<int> ni = Avx512F.ConvertToVector512Int32(n);
        Vector512<int> n1 = Avx512F.ShiftRightArithmetic(ni, 1);
        Vector512<int> n2 = Avx512F.Subtract(ni, n1);
        Vector512<float> s1 = Avx512F.ShiftLeftLogical(Avx512F.Add(n1, Vector512.Create(127)), 23).AsSingle();
        Vector512<float> s2 = Avx512F.ShiftLeftLogical(Avx512F.Add(n2, Vector512.Create(127)), 23).AsSingle();
        return Avx512F.Multiply(Avx512F.Multiply(y, s1), s2);
    }

    /// <summary>True when the exp-heavy loops (softmax, cross-entropy, exp) also run a 16-lane AVX-512 path.</summary>
    internal static bool IsVectorized512 => Avx512F.IsSupported && IsVectorized;

    /// <summary>Scalar twin of <see cref="Exp(Vector256{float})"/> (bitwise identical results).</summary>
    public static float Exp(float x)
    {
        if (float.IsNaN(x))
        {
            return x;
        }
        float xc = MathF.Min(MathF.Max(x, ExpLowerClamp), ExpUpperClamp);
        float n = MathF.Round(xc * Log2E, MidpointRounding.ToEven);
        float r = MathF.FusedMultiplyAdd(-n, Ln2Hi, xc);
        r = MathF.FusedMultiplyAdd(-n, Ln2Lo, r);
        float p = MathF.FusedMultiplyAdd(ExpP0, r, ExpP1);
        p = MathF.FusedMultiplyAdd(p, r, ExpP2);
        p = MathF.FusedMultiplyAdd(p, r, ExpP3);
        p = MathF.FusedMultiplyAdd(p, r, ExpP4);
        p = MathF.FusedMultiplyAdd(p, r, ExpP5);
        float y = MathF.FusedMultiplyAdd(p, r * r, r) + 1f;
        int ni = (int)n;
        int n1 = ni >> 1;
        int n2 = ni - n1;
        float s1 = BitConverter.Int32BitsToSingle((n1 + 127) << 23);
        float s2 = BitConverter.Int32BitsToSingle((n2 + 127) << 23);
        return y * s1 * s2;
    }

    // ---------------------------------------------------------------- tanh

    /// <summary>tanh for 8 lanes (requires AVX2 + FMA), ≤ 3 ulp (relative error ≤ 3e-7); ±∞ → ±1; NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x)
    {
        Vector256<float> signMask = Vector256.Create(-0f);
        Vector256<float> ax = Avx.AndNot(signMask, x);
        Vector256<float> z = Avx.Multiply(x, x);
        Vector256<float> q = Fma.MultiplyAdd(Vector256.Create(TanhQ0), z, Vector256.Create(TanhQ1));
        q = Fma.MultiplyAdd(q, z, Vector256.Create(TanhQ2));
        q = Fma.MultiplyAdd(q, z, Vector256.Create(TanhQ3));
        q = Fma.MultiplyAdd(q, z, Vector256.Create(TanhQ4));
        Vector256<float> small = Fma.MultiplyAdd(Avx.Multiply(q, z), x, x);
        Vector256<float> e = Exp(Avx.Add(ax, ax));
        Vector256<float> large = Avx.Subtract(Vector256<float>.One, Avx.Divide(Vector256.Create(2f), Avx.Add(e, Vector256<float>.One)));
        large = Avx.Or(large, Avx.And(x, signMask)); // large ≥ 0, so OR-ing the sign of x is copysign
        return Avx.BlendVariable(large, small, Avx.CompareLessThan(ax, Vector256.Create(TanhSmall)));
    }

    /// <summary>Scalar twin of <see cref="Tanh(Vector256{float})"/>.</summary>
    public static float Tanh(float x)
    {
        float ax = MathF.Abs(x);
        if (ax < TanhSmall)
        {
            float z = x * x;
            float q = MathF.FusedMultiplyAdd(TanhQ0, z, TanhQ1);
            q = MathF.FusedMultiplyAdd(q, z, TanhQ2);
            q = MathF.FusedMultiplyAdd(q, z, TanhQ3);
            q = MathF.FusedMultiplyAdd(q, z, TanhQ4);
            return MathF.FusedMultiplyAdd(q * z, x, x);
        }
        float e = Exp(ax + ax);
        float large = 1f - 2f / (e + 1f);
        return MathF.CopySign(large, x);
    }

    // ---------------------------------------------------------------- sigmoid

    /// <summary>1/(1+e^−x) for 8 lanes (requires AVX2 + FMA), relative error ≤ 4 ulp; x &lt; −88.7 gives +0 (the true value is subnormal or smaller).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sigmoid(Vector256<float> x)
    {
        Vector256<float> e = Exp(Avx.Xor(x, Vector256.Create(-0f)));
        return Avx.Divide(Vector256<float>.One, Avx.Add(Vector256<float>.One, e));
    }

    /// <summary>Scalar twin of <see cref="Sigmoid(Vector256{float})"/>.</summary>
    public static float Sigmoid(float x) => 1f / (1f + Exp(-x));

    // ---------------------------------------------------------------- erf

    /// <summary>erf for 8 lanes (requires AVX2 + FMA): absolute error ≤ 1.5e-7 (relative ≤ 2 ulp for |x| &lt; 0.5); ±∞ → ±1; NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Erf(Vector256<float> x)
    {
        Vector256<float> signMask = Vector256.Create(-0f);
        Vector256<float> ax = Avx.AndNot(signMask, x);
        Vector256<float> z = Avx.Multiply(x, x);
        Vector256<float> s = Fma.MultiplyAdd(Vector256.Create(ErfC5), z, Vector256.Create(ErfC4));
        s = Fma.MultiplyAdd(s, z, Vector256.Create(ErfC3));
        s = Fma.MultiplyAdd(s, z, Vector256.Create(ErfC2));
        s = Fma.MultiplyAdd(s, z, Vector256.Create(ErfC1));
        s = Fma.MultiplyAdd(s, z, Vector256.Create(ErfC0));
        Vector256<float> small = Avx.Multiply(s, x);
        Vector256<float> t = Avx.Divide(Vector256<float>.One, Fma.MultiplyAdd(Vector256.Create(0.5f), ax, Vector256<float>.One));
        Vector256<float> r = Fma.MultiplyAdd(Vector256.Create(ErfR9), t, Vector256.Create(ErfR8));
        r = Fma.MultiplyAdd(r, t, Vector256.Create(ErfR7));
        r = Fma.MultiplyAdd(r, t, Vector256.Create(ErfR6));
        r = Fma.MultiplyAdd(r, t, Vector256.Create(ErfR5));
        r = Fma.MultiplyAdd(r, t, Vector256.Create(ErfR4));
        r = Fma.MultiplyAdd(r, t, Vector256.Create(ErfR3));
        r = Fma.MultiplyAdd(r, t, Vector256.Create(ErfR2));
        r = Fma.MultiplyAdd(r, t, Vector256.Create(ErfR1));
        r = Fma.MultiplyAdd(r, t, Vector256.Create(ErfR0));
        Vector256<float> erfc = Avx.Multiply(t, Exp(Fma.MultiplyAddNegated(ax, ax, r)));
        Vector256<float> large = Avx.Subtract(Vector256<float>.One, erfc);
        large = Avx.Or(large, Avx.And(x, signMask));
        return Avx.BlendVariable(large, small, Avx.CompareLessThan(ax, Vector256.Create(ErfSmall)));
    }

    /// <summary>Scalar twin of <see cref="Erf(Vector256{float})"/>.</summary>
    public static float Erf(float x)
    {
        float ax = MathF.Abs(x);
        float z = x * x;
        if (ax < ErfSmall)
        {
            float s = MathF.FusedMultiplyAdd(ErfC5, z, ErfC4);
            s = MathF.FusedMultiplyAdd(s, z, ErfC3);
            s = MathF.FusedMultiplyAdd(s, z, ErfC2);
            s = MathF.FusedMultiplyAdd(s, z, ErfC1);
            s = MathF.FusedMultiplyAdd(s, z, ErfC0);
            return s * x;
        }
        float t = 1f / MathF.FusedMultiplyAdd(0.5f, ax, 1f);
        float r = MathF.FusedMultiplyAdd(ErfR9, t, ErfR8);
        r = MathF.FusedMultiplyAdd(r, t, ErfR7);
        r = MathF.FusedMultiplyAdd(r, t, ErfR6);
        r = MathF.FusedMultiplyAdd(r, t, ErfR5);
        r = MathF.FusedMultiplyAdd(r, t, ErfR4);
        r = MathF.FusedMultiplyAdd(r, t, ErfR3);
        r = MathF.FusedMultiplyAdd(r, t, ErfR2);
        r = MathF.FusedMultiplyAdd(r, t, ErfR1);
        r = MathF.FusedMultiplyAdd(r, t, ErfR0);
        float erfc = t * Exp(MathF.FusedMultiplyAdd(-ax, ax, r));
        float large = 1f - erfc;
        return MathF.CopySign(large, x);
    }

    // ---------------------------------------------------------------- span forms

    /// <summary>destination[i] = e^source[i]. <paramref name="destination"/> may alias <paramref name="source"/>.</summary>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static void Exp(ReadOnlySpan<float> source, Span<float> destination)
    {
        Elementwise.CheckSameLength(source.Length, destination.Length, nameof(source), nameof(destination));
        int i = 0;
        if (IsVectorized512)
        {
            ref float ps = ref MemoryMarshal.GetReference(source);
            ref float pd = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - 16; i += 16)
            {
                Exp(Vector512.LoadUnsafe(ref ps, (nuint)i)).StoreUnsafe(ref pd, (nuint)i);
            }
        }
        Elementwise.Map<ExpOp>(source[i..], destination[i..]);
    }

    /// <summary>destination[i] = tanh(source[i]). May alias.</summary>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static void Tanh(ReadOnlySpan<float> source, Span<float> destination)
    {
        Elementwise.CheckSameLength(source.Length, destination.Length, nameof(source), nameof(destination));
        Elementwise.Map<TanhOp>(source, destination);
    }

    /// <summary>destination[i] = erf(source[i]). May alias.</summary>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static void Erf(ReadOnlySpan<float> source, Span<float> destination)
    {
        Elementwise.CheckSameLength(source.Length, destination.Length, nameof(source), nameof(destination));
        Elementwise.Map<ErfOp>(source, destination);
    }

    /// <summary>destination[i] = sigmoid(source[i]). May alias.</summary>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static void Sigmoid(ReadOnlySpan<float> source, Span<float> destination)
    {
        Elementwise.CheckSameLength(source.Length, destination.Length, nameof(source), nameof(destination));
        Elementwise.Map<SigmoidOp>(source, destination);
    }

    private readonly struct ExpOp : IUnaryOp
    {
        public static float Invoke(float x) => Exp(x);
        public static Vector256<float> Invoke(Vector256<float> x) => Exp(x);
    }

    private readonly struct TanhOp : IUnaryOp
    {
        public static float Invoke(float x) => Tanh(x);
        public static Vector256<float> Invoke(Vector256<float> x) => Tanh(x);
    }

    private readonly struct ErfOp : IUnaryOp
    {
        public static float Invoke(float x) => Erf(x);
        public static Vector256<float> Invoke(Vector256<float> x) => Erf(x);
    }

    private readonly struct SigmoidOp : IUnaryOp
    {
        public static float Invoke(float x) => Sigmoid(x);
        public static Vector256<float> Invoke(Vector256<float> x) => Sigmoid(x);
    }

    // ---------------------------------------------------------------- reductions

    /// <summary>Horizontal sum of 8 lanes in a fixed order ((0+4)+(2+6))+((1+5)+(3+7)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float HorizontalSum(Vector256<float> v)
    {
        Vector128<float> s = Sse.Add(v.GetLower(), v.GetUpper());
        s = Sse.Add(s, Sse.MoveHighToLow(s, s));
        s = Sse.AddScalar(s, Sse.Shuffle(s, s, 0b01));
        return s.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float HorizontalMax(Vector256<float> v)
    {
        Vector128<float> s = Sse.Max(v.GetLower(), v.GetUpper());
        s = Sse.Max(s, Sse.MoveHighToLow(s, s));
        s = Sse.MaxScalar(s, Sse.Shuffle(s, s, 0b01));
        return s.ToScalar();
    }

    // The reductions below keep four independent 8-lane accumulators (32 elements per step) so the
    // FMA/add latency (4 cycles) is hidden; the order of additions is fixed, so results are deterministic.
    // Scalar equivalent: a plain loop (results differ from it only by summation order).

    /// <summary>Σ x[i].</summary>
    internal static float Sum(ReadOnlySpan<float> x)
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        int n = x.Length;
        int i = 0;
        float total = 0f;
        if (IsVectorized && n >= 8)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i <= n - 32; i += 32)
            {
                a0 = Avx.Add(a0, Vector256.LoadUnsafe(ref p, (nuint)i));
                a1 = Avx.Add(a1, Vector256.LoadUnsafe(ref p, (nuint)(i + 8)));
                a2 = Avx.Add(a2, Vector256.LoadUnsafe(ref p, (nuint)(i + 16)));
                a3 = Avx.Add(a3, Vector256.LoadUnsafe(ref p, (nuint)(i + 24)));
            }
            for (; i <= n - 8; i += 8)
            {
                a0 = Avx.Add(a0, Vector256.LoadUnsafe(ref p, (nuint)i));
            }
            total = HorizontalSum(Avx.Add(Avx.Add(a0, a1), Avx.Add(a2, a3)));
        }
        double tail = 0; // the scalar loop (tail, or the whole span without AVX2) accumulates in float64
        for (; i < n; i++)
        {
            tail += Unsafe.Add(ref p, i);
        }
        return (float)(total + tail);
    }

    /// <summary>Σ x[i]·y[i] (lengths must match; checked by callers).</summary>
    internal static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = x.Length;
        int i = 0;
        float total = 0f;
        if (IsVectorized && n >= 8)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i <= n - 32; i += 32)
            {
                a0 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)i), Vector256.LoadUnsafe(ref py, (nuint)i), a0);
                a1 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)(i + 8)), Vector256.LoadUnsafe(ref py, (nuint)(i + 8)), a1);
                a2 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)(i + 16)), Vector256.LoadUnsafe(ref py, (nuint)(i + 16)), a2);
                a3 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)(i + 24)), Vector256.LoadUnsafe(ref py, (nuint)(i + 24)), a3);
            }
            for (; i <= n - 8; i += 8)
            {
                a0 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)i), Vector256.LoadUnsafe(ref py, (nuint)i), a0);
            }
            total = HorizontalSum(Avx.Add(Avx.Add(a0, a1), Avx.Add(a2, a3)));
        }
        double tail = 0;
        for (; i < n; i++)
        {
            tail += (double)Unsafe.Add(ref px, i) * Unsafe.Add(ref py, i);
        }
        return (float)(total + tail);
    }

    /// <summary>Σ (x[i] − shift)² — the centred second moment used by LayerNorm.</summary>
    internal static float SumSquaredDeviation(ReadOnlySpan<float> x, float shift)
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        int n = x.Length;
        int i = 0;
        float total = 0f;
        if (IsVectorized && n >= 8)
        {
            Vector256<float> m = Vector256.Create(shift);
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i <= n - 32; i += 32)
            {
                Vector256<float> d0 = Avx.Subtract(Vector256.LoadUnsafe(ref p, (nuint)i), m);
                Vector256<float> d1 = Avx.Subtract(Vector256.LoadUnsafe(ref p, (nuint)(i + 8)), m);
                Vector256<float> d2 = Avx.Subtract(Vector256.LoadUnsafe(ref p, (nuint)(i + 16)), m);
                Vector256<float> d3 = Avx.Subtract(Vector256.LoadUnsafe(ref p, (nuint)(i + 24)), m);
                a0 = Fma.MultiplyAdd(d0, d0, a0);
                a1 = Fma.MultiplyAdd(d1, d1, a1);
                a2 = Fma.MultiplyAdd(d2, d2, a2);
                a3 = Fma.MultiplyAdd(d3, d3, a3);
            }
            for (; i <= n - 8; i += 8)
            {
                Vector256<float> d0 = Avx.Subtract(Vector256.LoadUnsafe(ref p, (nuint)i), m);
                a0 = Fma.MultiplyAdd(d0, d0, a0);
            }
            total = HorizontalSum(Avx.Add(Avx.Add(a0, a1), Avx.Add(a2, a3)));
        }
        double tail = 0;
        for (; i < n; i++)
        {
            double d = Unsafe.Add(ref p, i) - shift;
            tail += d * d;
        }
        return (float)(total + tail);
    }

    /// <summary>max x[i] (NaN handling follows maxps: do not rely on it); −∞ for an empty span.</summary>
    internal static float Max(ReadOnlySpan<float> x)
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        int n = x.Length;
        int i = 0;
        float best = float.NegativeInfinity;
        if (IsVectorized && n >= 8)
        {
            Vector256<float> a0 = Vector256.Create(float.NegativeInfinity), a1 = a0, a2 = a0, a3 = a0;
            for (; i <= n - 32; i += 32)
            {
                a0 = Avx.Max(a0, Vector256.LoadUnsafe(ref p, (nuint)i));
                a1 = Avx.Max(a1, Vector256.LoadUnsafe(ref p, (nuint)(i + 8)));
                a2 = Avx.Max(a2, Vector256.LoadUnsafe(ref p, (nuint)(i + 16)));
                a3 = Avx.Max(a3, Vector256.LoadUnsafe(ref p, (nuint)(i + 24)));
            }
            for (; i <= n - 8; i += 8)
            {
                a0 = Avx.Max(a0, Vector256.LoadUnsafe(ref p, (nuint)i));
            }
            best = HorizontalMax(Avx.Max(Avx.Max(a0, a1), Avx.Max(a2, a3)));
        }
        for (; i < n; i++)
        {
            best = MathF.Max(best, Unsafe.Add(ref p, i));
        }
        return best;
    }

    /// <summary>Σ e^(x[i] − shift) without storing the exponentials.</summary>
    internal static float SumExp(ReadOnlySpan<float> x, float shift)
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        int n = x.Length;
        int i = 0;
        float total = 0f;
        if (IsVectorized512 && n >= 16)
        {
            Vector512<float> m = Vector512.Create(shift);
            Vector512<float> a0 = Vector512<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                a0 = Avx512F.Add(a0, Exp(Avx512F.Subtract(Vector512.LoadUnsafe(ref p, (nuint)i), m)));
            }
            total = HorizontalSum(Avx.Add(a0.GetLower(), a0.GetUpper()));
        }
        if (IsVectorized && n - i >= 8)
        {
            Vector256<float> m = Vector256.Create(shift);
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0;
            for (; i <= n - 16; i += 16)
            {
                a0 = Avx.Add(a0, Exp(Avx.Subtract(Vector256.LoadUnsafe(ref p, (nuint)i), m)));
                a1 = Avx.Add(a1, Exp(Avx.Subtract(Vector256.LoadUnsafe(ref p, (nuint)(i + 8)), m)));
            }
            for (; i <= n - 8; i += 8)
            {
                a0 = Avx.Add(a0, Exp(Avx.Subtract(Vector256.LoadUnsafe(ref p, (nuint)i), m)));
            }
            total += HorizontalSum(Avx.Add(a0, a1));
        }
        double tail = 0;
        for (; i < n; i++)
        {
            tail += Exp(Unsafe.Add(ref p, i) - shift);
        }
        return (float)(total + tail);
    }
    /// <summary>y[i] = e^(x[i] − shift); returns Σ y[i]. y may alias x.</summary>
    internal static float ExpShiftStoreSum(ReadOnlySpan<float> x, float shift, Span<float> y)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = x.Length;
        int i = 0;
        float total = 0f;
        if (IsVectorized512 && n >= 16)
        {
            Vector512<float> m = Vector512.Create(shift);
            Vector512<float> a0 = Vector512<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                Vector512<float> e0 = Exp(Avx512F.Subtract(Vector512.LoadUnsafe(ref px, (nuint)i), m));
                e0.StoreUnsafe(ref py, (nuint)i);
                a0 = Avx512F.Add(a0, e0);
            }
            total = HorizontalSum(Avx.Add(a0.GetLower(), a0.GetUpper()));
        }
        if (IsVectorized && n - i >= 8)
        {
            Vector256<float> m = Vector256.Create(shift);
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0;
            for (; i <= n - 16; i += 16)
            {
                Vector256<float> e0 = Exp(Avx.Subtract(Vector256.LoadUnsafe(ref px, (nuint)i), m));
                Vector256<float> e1 = Exp(Avx.Subtract(Vector256.LoadUnsafe(ref px, (nuint)(i + 8)), m));
                e0.StoreUnsafe(ref py, (nuint)i);
                e1.StoreUnsafe(ref py, (nuint)(i + 8));
                a0 = Avx.Add(a0, e0);
                a1 = Avx.Add(a1, e1);
            }
            for (; i <= n - 8; i += 8)
            {
                Vector256<float> e0 = Exp(Avx.Subtract(Vector256.LoadUnsafe(ref px, (nuint)i), m));
                e0.StoreUnsafe(ref py, (nuint)i);
                a0 = Avx.Add(a0, e0);
            }
            total += HorizontalSum(Avx.Add(a0, a1));
        }
        double tail = 0;
        for (; i < n; i++)
        {
            float e = Exp(Unsafe.Add(ref px, i) - shift);
            Unsafe.Add(ref py, i) = e;
            tail += e;
        }
        return (float)(total + tail);
    }
}

/// <summary>A function with bitwise-identical scalar and 8-lane forms.</summary>
internal interface IUnaryOp
{
    static abstract float Invoke(float x);
    static abstract Vector256<float> Invoke(Vector256<float> x);
}

/// <summary>A two-input function (e.g. a backward rule f(x, dy)) with bitwise-identical scalar and 8-lane forms.</summary>
internal interface IBinaryOp
{
    static abstract float Invoke(float x, float y);
    static abstract Vector256<float> Invoke(Vector256<float> x, Vector256<float> y);
}

/// <summary>The single elementwise loop: 8 lanes per step, the scalar twin for the 0–7 element tail.</summary>
internal static class Elementwise
{
    internal static void CheckSameLength(int a, int b, string nameA, string nameB)
    {
        if (a != b)
        {
            throw new ArgumentException($"Length mismatch: {nameA} has {a} elements but {nameB} has {b}.", nameB);
        }
    }

    internal static void Map<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IUnaryOp
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = x.Length;
        int i = 0;
        if (FastMath.IsVectorized)
        {
            for (; i <= n - 8; i += 8)
            {
                TOp.Invoke(Vector256.LoadUnsafe(ref px, (nuint)i)).StoreUnsafe(ref py, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            Unsafe.Add(ref py, i) = TOp.Invoke(Unsafe.Add(ref px, i));
        }
    }

    internal static void Map<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> z) where TOp : struct, IBinaryOp
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        ref float pz = ref MemoryMarshal.GetReference(z);
        int n = x.Length;
        int i = 0;
        if (FastMath.IsVectorized)
        {
            for (; i <= n - 8; i += 8)
            {
                TOp.Invoke(Vector256.LoadUnsafe(ref px, (nuint)i), Vector256.LoadUnsafe(ref py, (nuint)i)).StoreUnsafe(ref pz, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            Unsafe.Add(ref pz, i) = TOp.Invoke(Unsafe.Add(ref px, i), Unsafe.Add(ref py, i));
        }
    }
}
