namespace PeftSharp.Training.Schedules;

/// <summary>
/// A learning-rate multiplier as a function of the optimizer step, with the semantics of transformers'
/// <c>get_*_schedule_with_warmup</c> (a <c>LambdaLR</c>): the k-th optimizer step (k = 0, 1, ...) uses
/// <c>initial_lr · Multiplier(k)</c>. During warmup (k &lt; W) the multiplier is k / max(1, W).
/// </summary>
public abstract class LearningRateSchedule
{
    /// <summary>Names accepted by <see cref="Create"/>.</summary>
    public static readonly IReadOnlyList<string> Names = ["constant", "constant_with_warmup", "linear", "cosine"];

    private protected LearningRateSchedule(string kind, long warmupSteps, long trainingSteps)
    {
        if (warmupSteps < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "Warmup steps cannot be negative.");
        }
        if (trainingSteps < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(trainingSteps), trainingSteps, "Training steps cannot be negative.");
        }
        Kind = kind;
        WarmupSteps = warmupSteps;
        TrainingSteps = trainingSteps;
    }

    /// <summary>The schedule's name, as transformers spells it ("linear", "cosine", ...).</summary>
    public string Kind { get; }

    /// <summary>Warmup length W in optimizer steps.</summary>
    public long WarmupSteps { get; }

    /// <summary>Total optimizer steps N (0 for schedules that do not use it).</summary>
    public long TrainingSteps { get; }

    /// <summary>The multiplier of the initial learning rate at optimizer step <paramref name="step"/> (0-based).</summary>
    public abstract double Multiplier(long step);

    /// <summary>k / max(1, W): the warmup ramp shared by every schedule with warmup.</summary>
    protected double Warmup(long step) => (double)step / Math.Max(1L, WarmupSteps);

    /// <summary>λ = 1.</summary>
    public static LearningRateSchedule Constant() => new ConstantSchedule();

    /// <summary>λ = k/W during warmup, then 1.</summary>
    public static LearningRateSchedule ConstantWithWarmup(long warmupSteps) => new ConstantWithWarmupSchedule(warmupSteps);

    /// <summary>λ = k/W during warmup, then max(0, (N − k) / max(1, N − W)).</summary>
    public static LearningRateSchedule Linear(long warmupSteps, long trainingSteps) => new LinearSchedule(warmupSteps, trainingSteps);

    /// <summary>λ = k/W during warmup, then max(0, ½(1 + cos(π · 2c · (k − W) / max(1, N − W)))), c = <paramref name="cycles"/> (0.5: one half-cosine to 0).</summary>
    public static LearningRateSchedule Cosine(long warmupSteps, long trainingSteps, double cycles = 0.5) => new CosineSchedule(warmupSteps, trainingSteps, cycles);

    /// <summary>A schedule by name (<see cref="Names"/>).</summary>
    /// <exception cref="ArgumentException">Unknown name (the message lists the known ones).</exception>
    public static LearningRateSchedule Create(string name, long warmupSteps, long trainingSteps) => name switch
    {
        "constant" => Constant(),
        "constant_with_warmup" => ConstantWithWarmup(warmupSteps),
        "linear" => Linear(warmupSteps, trainingSteps),
        "cosine" => Cosine(warmupSteps, trainingSteps),
        _ => throw new ArgumentException($"Unknown learning-rate schedule '{name}'; expected one of: {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <inheritdoc />
    public override string ToString() => $"{Kind}(warmup={WarmupSteps}, steps={TrainingSteps})";

    private sealed class ConstantSchedule() : LearningRateSchedule("constant", 0, 0)
    {
        public override double Multiplier(long step) => 1.0;
    }

    private sealed class ConstantWithWarmupSchedule(long warmup) : LearningRateSchedule("constant_with_warmup", warmup, 0)
    {
        public override double Multiplier(long step) => step < WarmupSteps ? Warmup(step) : 1.0;
    }

    private sealed class LinearSchedule(long warmup, long total) : LearningRateSchedule("linear", warmup, total)
    {
        public override double Multiplier(long step) =>
            step < WarmupSteps ? Warmup(step) : Math.Max(0.0, (double)(TrainingSteps - step) / Math.Max(1L, TrainingSteps - WarmupSteps));
    }

    private sealed class CosineSchedule : LearningRateSchedule
    {
        private readonly double _cycles;

        public CosineSchedule(long warmup, long total, double cycles) : base("cosine", warmup, total)
        {
            if (!double.IsFinite(cycles) || cycles <= 0)
            {
                throw new ArgumentOutOfRangeException(nameof(cycles), cycles, "Cosine cycles must be a positive finite number.");
            }
            _cycles = cycles;
        }

        public override double Multiplier(long step)
        {
            if (step < WarmupSteps)
            {
                return Warmup(step);
            }
            double progress = (double)(step - WarmupSteps) / Math.Max(1L, TrainingSteps - WarmupSteps);
            return Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * _cycles * 2.0 * progress)));
        }
    }
}
