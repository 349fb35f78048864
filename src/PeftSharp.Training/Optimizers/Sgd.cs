using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using PeftSharp.Tensors;

namespace PeftSharp.Training.Optimizers;

/// <summary>
/// Stochastic gradient descent with momentum, step for step as <c>torch.optim.SGD</c>:
/// <code>
/// d ← g + wd·p                                   (when wd ≠ 0)
/// b ← d on a parameter's first step, else μ·b + (1 − dampening)·d      (when μ ≠ 0)
/// d ← d + μ·b (nesterov) or d ← b
/// p ← p − lr·d
/// </code>
/// State name (only when momentum ≠ 0): <c>momentum_buffer</c>.
/// </summary>
public sealed class Sgd : Optimizer
{
    public const string MomentumBuffer = "momentum_buffer";

    /// <summary>Creates the optimizer over one group of named parameters.</summary>
    public Sgd(IEnumerable<(string Name, Tensor Parameter)> parameters, double learningRate, double momentum = 0, double dampening = 0,
        double weightDecay = 0, bool nesterov = false)
        : this([new ParameterGroup(parameters)], learningRate, momentum, dampening, weightDecay, nesterov)
    {
    }

    /// <summary>Creates the optimizer over parameter groups; unset group values take these defaults.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative or non-finite hyperparameters.</exception>
    /// <exception cref="ArgumentException">Nesterov without momentum or with dampening (as torch).</exception>
    public Sgd(IEnumerable<ParameterGroup> groups, double learningRate, double momentum = 0, double dampening = 0,
        double weightDecay = 0, bool nesterov = false)
        : base(groups, learningRate, weightDecay, momentum != 0 ? [MomentumBuffer] : [])
    {
        CheckNonNegativeFinite(momentum, "momentum");
        if (!double.IsFinite(dampening))
        {
            throw new ArgumentOutOfRangeException(nameof(dampening), dampening, "Dampening must be finite.");
        }
        if (nesterov && (momentum <= 0 || dampening != 0))
        {
            throw new ArgumentException($"Nesterov momentum needs momentum > 0 and dampening = 0; got momentum {momentum}, dampening {dampening}.");
        }
        Momentum = momentum;
        Dampening = dampening;
        Nesterov = nesterov;
    }

    public double Momentum { get; }

    public double Dampening { get; }

    public bool Nesterov { get; }

    /// <inheritdoc />
    protected override void Update(Slot slot, ReadOnlySpan<float> grad)
    {
        var k = new Coefficients
        {
            WeightDecay = (float)slot.Group.WeightDecay,
            Momentum = (float)Momentum,
            OneMinusDampening = (float)(1.0 - Dampening),
            NegLearningRate = (float)-slot.Group.LearningRate,
            HasDecay = slot.Group.WeightDecay != 0,
            HasMomentum = Momentum != 0,
            FirstStep = slot.Step == 1,
            Nesterov = Nesterov,
        };
        Kernel(slot.Parameter.Span, grad, k.HasMomentum ? slot.State[0]!.Span : default, k);
    }

    internal struct Coefficients
    {
        public float WeightDecay;
        public float Momentum;
        public float OneMinusDampening;
        public float NegLearningRate;
        public bool HasDecay;
        public bool HasMomentum;
        public bool FirstStep;
        public bool Nesterov;
    }

    /// <summary>
    /// The fused update. Lanes: 8 floats per Vector256; the tail runs <see cref="KernelScalar"/> (the
    /// specification), with the same operation order and no FMA, so both agree bitwise.
    /// <paramref name="buffer"/> is empty when momentum is 0.
    /// </summary>
    internal static void Kernel(Span<float> p, ReadOnlySpan<float> g, Span<float> buffer, in Coefficients k)
    {
        int n = p.Length;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            ref float rp = ref MemoryMarshal.GetReference(p);
            ref float rg = ref MemoryMarshal.GetReference(g);
            ref float rb = ref MemoryMarshal.GetReference(buffer);
            var wd = Vector256.Create(k.WeightDecay);
            var mu = Vector256.Create(k.Momentum);
            var damp = Vector256.Create(k.OneMinusDampening);
            var lr = Vector256.Create(k.NegLearningRate);
            int last = n - Vector256<float>.Count;
            for (; i <= last; i += Vector256<float>.Count)
            {
                nuint o = (nuint)i;
                var pi = Vector256.LoadUnsafe(ref rp, o);
                var d = Vector256.LoadUnsafe(ref rg, o);
                if (k.HasDecay)
                {
                    d += wd * pi;
                }
                if (k.HasMomentum)
                {
                    var b = k.FirstStep ? d : Vector256.LoadUnsafe(ref rb, o) * mu + damp * d;
                    b.StoreUnsafe(ref rb, o);
                    d = k.Nesterov ? d + mu * b : b;
                }
                (pi + lr * d).StoreUnsafe(ref rp, o);
            }
        }
        KernelScalar(p[i..], g[i..], k.HasMomentum ? buffer[i..] : default, k);
    }

    /// <summary>Scalar specification of <see cref="Kernel"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static void KernelScalar(Span<float> p, ReadOnlySpan<float> g, Span<float> buffer, in Coefficients k)
    {
        for (int i = 0; i < p.Length; i++)
        {
            float pi = p[i];
            float d = g[i];
            if (k.HasDecay)
            {
                d += k.WeightDecay * pi;
            }
            if (k.HasMomentum)
            {
                float b = k.FirstStep ? d : buffer[i] * k.Momentum + k.OneMinusDampening * d;
                buffer[i] = b;
                d = k.Nesterov ? d + k.Momentum * b : b;
            }
            p[i] = pi + k.NegLearningRate * d;
        }
    }
}
