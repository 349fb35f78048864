using System.Text.Json.Serialization;
using PeftSharp.Training.Schedules;

namespace PeftSharp.Training.Checkpoints;

/// <summary>Where a batch source stands: the epoch and the number of batches already taken in it.</summary>
public readonly record struct DataPosition(long Epoch, long Batch)
{
    /// <inheritdoc />
    public override string ToString() => $"epoch {Epoch}, batch {Batch}";
}

/// <summary>
/// Everything besides tensors that a resumed run needs to continue exactly, saved as <c>trainer_state.json</c>
/// (snake_case keys). RNG states are the raw generator words, as JSON numbers.
/// </summary>
public sealed class TrainerState
{
    /// <summary>Version of this layout; readers reject versions they do not know.</summary>
    public int FormatVersion { get; set; } = CurrentFormatVersion;

    /// <summary>The layout version this library writes.</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>Optimizer steps completed.</summary>
    public long Step { get; set; }

    /// <summary>The epoch of <see cref="DataPosition"/>, repeated for readers.</summary>
    public long Epoch { get; set; }

    /// <summary>The batch source's position after the last completed step.</summary>
    public DataPosition DataPosition { get; set; }

    /// <summary>The learning-rate scheduler's state.</summary>
    public SchedulerState? Scheduler { get; set; }

    /// <summary>Named generator states (e.g. dropout), each the four words of <see cref="PeftSharp.Tensors.Rng.State"/>.</summary>
    public Dictionary<string, ulong[]> RngStates { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The best validation loss so far (null before the first evaluation).</summary>
    public double? BestMetric { get; set; }

    /// <summary>The step at which <see cref="BestMetric"/> was reached.</summary>
    public long? BestStep { get; set; }

    /// <summary>Consecutive evaluations without improvement (early-stopping patience counter).</summary>
    public int EvaluationsWithoutImprovement { get; set; }

    /// <summary>Tokens trained on so far.</summary>
    public long Tokens { get; set; }

    /// <summary>The training loss of the last step (mean over its micro-batches).</summary>
    public double? LastLoss { get; set; }

    /// <summary>A caller-supplied hash of the run's configuration; resuming with a different one is refused.</summary>
    public string? ConfigHash { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(TrainerState))]
internal sealed partial class TrainingJsonContext : JsonSerializerContext;
