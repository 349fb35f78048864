using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using PeftSharp.Tensors;

namespace PeftSharp.Training.Optimizers;

/// <summary>
/// Adam with decoupled weight decay, step for step as <c>torch.optim.AdamW</c> (single-tensor path). For each
/// parameter, with t = its step count after increment:
/// <code>
/// p ← p·(1 − lr·wd)
/// m ← β1·m + (1 − β1)·g
/// v ← β2·v + (1 − β2)·g²
/// v̂max ← max(v̂max, v)                       (amsgrad only; then v is replaced by v̂max below)
/// p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
/// </code>
/// Scalars (1 − lr·wd, lr/(1 − β1ᵗ), √(1 − β2ᵗ)) are computed in double and rounded to float32 once, as torch
/// does with Python floats; the elementwise work is float32 in one fused pass over each parameter.
/// State names: <c>exp_avg</c>, <c>exp_avg_sq</c> and, with amsgrad, <c>max_exp_avg_sq</c>.
/// </summary>
public sealed class AdamW : Optimizer
{
    public const string ExpAvg = "exp_avg";
    public const string ExpAvgSq = "exp_avg_sq";
    public const string MaxExpAvgSq = "max_exp_avg_sq";

    /// <summary>Creates the optimizer over one group of named parameters.</summary>
    public AdamW(IEnumerable<(string Name, Tensor Parameter)> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double epsilon = 1e-8, double weightDecay = 1e-2, bool amsgrad = false)
        : this([new ParameterGroup(parameters)], learningRate, beta1, beta2, epsilon, weightDecay, amsgrad)
    {
    }

    /// <summary>Creates the optimizer over parameter groups; unset group values take these defaults.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A beta outside [0, 1), a negative or non-finite learning rate, epsilon or weight decay.</exception>
    public AdamW(IEnumerable<ParameterGroup> groups, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double epsilon = 1e-8, double weightDecay = 1e-2, bool amsgrad = false)
        : base(groups, learningRate, weightDecay, amsgrad ? [ExpAvg, ExpAvgSq, MaxExpAvgSq] : [ExpAvg, ExpAvgSq])
    {
        if (!(beta1 is >= 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(beta1), beta1, $"beta1 must be in [0, 1); got {beta1}.");
        }
        if (!(beta2 is >= 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(beta2), beta2, $"beta2 must be in [0, 1); got {beta2}.");
        }
        CheckNonNegativeFinite(epsilon, "epsilon");
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        Amsgrad = amsgrad;
    }

    public double Beta1 { get; }

    public double Beta2 { get; }

    public double Epsilon { get; }

    public bool Amsgrad { get; }

    /// <inheritdoc />
    protected override void Update(Slot slot, ReadOnlySpan<float> grad)
    {
        double lr = slot.Group.LearningRate;
        int t = slot.Step;
        var k = new Coefficients
        {
            Decay = (float)(1.0 - lr * slot.Group.WeightDecay),
            Beta1 = (float)Beta1,
            OneMinusBeta1 = (float)(1.0 - Beta1),
            Beta2 = (float)Beta2,
            OneMinusBeta2 = (float)(1.0 - Beta2),
            NegStepSize = (float)-(lr / (1.0 - Math.Pow(Beta1, t))),
            BiasCorrection2Sqrt = (float)Math.Sqrt(1.0 - Math.Pow(Beta2, t)),
            Epsilon = (float)Epsilon,
        };
        var state = slot.State;
        Kernel(slot.Parameter.Span, grad, state[0]!.Span, state[1]!.Span, Amsgrad ? state[2]!.Span : default, k);
    }

    /// <summary>The float32 scalars of one step.</summary>
    internal struct Coefficients
    {
        public float Decay;
        public float Beta1;
        public float OneMinusBeta1;
        public float Beta2;
        public float OneMinusBeta2;
        public float NegStepSize;
        public float BiasCorrection2Sqrt;
        public float Epsilon;
    }

    /// <summary>
    /// The fused update over one parameter. Lanes: 8 floats per Vector256; the tail (fewer than 8 left) runs the
    /// scalar twin <see cref="KernelScalar"/>, which is the specification. Both use separate multiply and add
    /// (no FMA) in the same order, so they agree bitwise. <paramref name="vMax"/> is empty without amsgrad.
    /// </summary>
    internal static void Kernel(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, Span<float> vMax, in Coefficients k)
    {
        int n = p.Length;
        bool ams = !vMax.IsEmpty;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            ref float rp = ref MemoryMarshal.GetReference(p);
            ref float rg = ref MemoryMarshal.GetReference(g);
            ref float rm = ref MemoryMarshal.GetReference(m);
            ref float rv = ref MemoryMarshal.GetReference(v);
            ref float rx = ref MemoryMarshal.GetReference(vMax);
            var decay = Vector256.Create(k.Decay);
            var b1 = Vector256.Create(k.Beta1);
            var c1 = Vector256.Create(k.OneMinusBeta1);
            var b2 = Vector256.Create(k.Beta2);
            var c2 = Vector256.Create(k.OneMinusBeta2);
            var step = Vector256.Create(k.NegStepSize);
            var bc2 = Vector256.Create(k.BiasCorrection2Sqrt);
            var eps = Vector256.Create(k.Epsilon);
            int last = n - Vector256<float>.Count;
            for (; i <= last; i += Vector256<float>.Count)
            {
                nuint o = (nuint)i;
                var gi = Vector256.LoadUnsafe(ref rg, o);
                var pi = Vector256.LoadUnsafe(ref rp, o) * decay;
                var mi = Vector256.LoadUnsafe(ref rm, o) * b1 + c1 * gi;
                var vi = Vector256.LoadUnsafe(ref rv, o) * b2 + c2 * gi * gi;
                mi.StoreUnsafe(ref rm, o);
                vi.StoreUnsafe(ref rv, o);
                if (ams)
                {
                    vi = Vector256.Max(Vector256.LoadUnsafe(ref rx, o), vi);
                    vi.StoreUnsafe(ref rx, o);
                }
                var denom = Vector256.Sqrt(vi) / bc2 + eps;
                (pi + step * (mi / denom)).StoreUnsafe(ref rp, o);
            }
        }
        KernelScalar(p[i..], g[i..], m[i..], v[i..], ams ? vMax[i..] : default, k);
    }

    /// <summary>Scalar specification of <see cref="Kernel"/>, element by element in torch's operation order.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static void KernelScalar(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, Span<float> vMax, in Coefficients k)
    {
        bool ams = !vMax.IsEmpty;
        for (int i = 0; i < p.Length; i++)
        {
            float gi = g[i];
            float pi = p[i] * k.Decay;
            float mi = m[i] * k.Beta1 + k.OneMinusBeta1 * gi;
            float vi = v[i] * k.Beta2 + k.OneMinusBeta2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            if (ams)
            {
                // Vector256.Max and MathF.Max agree for non-NaN inputs; a NaN moment poisons the run either way.
                vi = MathF.Max(vMax[i], vi);
                vMax[i] = vi;
            }
            float denom = MathF.Sqrt(vi) / k.BiasCorrection2Sqrt + k.Epsilon;
            p[i] = pi + k.NegStepSize * (mi / denom);
        }
    }
}
