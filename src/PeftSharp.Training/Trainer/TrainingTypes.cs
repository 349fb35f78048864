using PeftSharp.Tensors;
using PeftSharp.Training.Checkpoints;

namespace PeftSharp.Training;

/// <summary>
/// An endless, resumable stream of training batches. Epochs are the source's business (it reshuffles and starts
/// over as it sees fit); the trainer only takes batches and saves/restores <see cref="Position"/>.
/// </summary>
public interface IBatchSource<TBatch>
{
    /// <summary>The next batch; advances <see cref="Position"/>.</summary>
    TBatch Next();

    /// <summary>Where the source stands. Setting it seeks, so the next batch is the one that followed when it was read.</summary>
    DataPosition Position { get; set; }
}

/// <summary>What the trainer asks of a model and data format, as delegates.</summary>
public sealed class TrainingTask<TBatch>
{
    /// <summary>The scalar training loss of a batch, recorded for backward (a mean over the batch's examples or tokens).</summary>
    public required Func<TBatch, Tensor> ComputeLoss { get; init; }

    /// <summary>
    /// Called after each optimizer step with the 1-based step number, while the step's gradients are still present
    /// (before they are zeroed). Methods that adapt during training hook in here, e.g.
    /// <c>step =&gt; peftModel.AfterOptimizerStep(step)</c> for AdaLoRA's rank allocation.
    /// </summary>
    public Action<long>? AfterOptimizerStep { get; init; }

    /// <summary>Tokens (or examples) in a batch, for throughput figures; null counts 0.</summary>
    public Func<TBatch, long>? CountTokens { get; init; }

    /// <summary>
    /// Evaluates on validation data. Runs with gradients off, in its own tensor scope and with the model (when given
    /// to the trainer) in evaluation mode. It should honour the token; throwing <see cref="OperationCanceledException"/> is fine.
    /// </summary>
    public Func<CancellationToken, EvaluationResult>? Evaluate { get; init; }
}

/// <summary>A validation result. <see cref="Perplexity"/> is exp(loss), meaningful for token-level cross-entropy.</summary>
public sealed record EvaluationResult(double Loss, double? Accuracy = null)
{
    public double Perplexity => Math.Exp(Loss);
}

/// <summary>Why a run ended.</summary>
public enum StopReason
{
    /// <summary>All steps were done.</summary>
    Completed,

    /// <summary>Validation loss stopped improving for the configured patience.</summary>
    EarlyStopped,

    /// <summary>The cancellation token fired (Ctrl-C); a checkpoint was written when an output folder is set.</summary>
    Cancelled,
}

/// <summary>Settings of the training loop. Step counts are optimizer steps.</summary>
public sealed class TrainerOptions
{
    /// <summary>Optimizer steps to reach (a resumed run continues up to this count).</summary>
    public required long MaxSteps { get; init; }

    /// <summary>Micro-batches per optimizer step; each micro-batch's loss is divided by this before backward.</summary>
    public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary>Global gradient-norm clipping threshold; null disables clipping (the norm is still computed and checked).</summary>
    public double? MaxGradNorm { get; init; } = 1.0;

    /// <summary>Evaluate every this many steps (0: only at the end).</summary>
    public long EvalEvery { get; init; }

    /// <summary>Also evaluate after the last step (when an evaluator exists and the last step was not just evaluated).</summary>
    public bool EvaluateAtEnd { get; init; } = true;

    /// <summary>Write a checkpoint every this many steps (0: only at the end and on cancellation). Needs <see cref="OutputDirectory"/>.</summary>
    public long CheckpointEvery { get; init; }

    /// <summary>Checkpoints kept by rotation.</summary>
    public int KeepCheckpoints { get; init; } = 3;

    /// <summary>Folder for checkpoints, <c>metrics.jsonl</c> and <c>loss_curve.svg</c>; null writes nothing.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>Stop after this many evaluations in a row without improvement of the validation loss; null disables.</summary>
    public int? EarlyStoppingPatience { get; init; }

    /// <summary>An evaluation improves when its loss is below best − this.</summary>
    public double EarlyStoppingMinDelta { get; init; }

    /// <summary>A hash of the run's configuration, saved in checkpoints; resuming with a different hash is refused.</summary>
    public string? ConfigHash { get; init; }

    /// <summary>Adds files to each checkpoint folder before it is published (e.g. the adapter in the PEFT layout).</summary>
    public Action<string>? WriteCheckpointExtras { get; init; }

    public const string MetricsFileName = "metrics.jsonl";
    public const string PlotFileName = "loss_curve.svg";

    internal void Validate(bool hasEvaluator)
    {
        if (MaxSteps < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxSteps), MaxSteps, "MaxSteps cannot be negative.");
        }
        if (GradientAccumulationSteps < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(GradientAccumulationSteps), GradientAccumulationSteps, "Gradient accumulation needs at least 1 micro-batch per step.");
        }
        if (MaxGradNorm is { } m && (!double.IsFinite(m) || m <= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(MaxGradNorm), m, "MaxGradNorm must be a positive finite number (or null to disable clipping).");
        }
        if (EvalEvery < 0 || CheckpointEvery < 0)
        {
            throw new ArgumentOutOfRangeException(EvalEvery < 0 ? nameof(EvalEvery) : nameof(CheckpointEvery), "Intervals cannot be negative.");
        }
        if (CheckpointEvery > 0 && OutputDirectory is null)
        {
            throw new ArgumentException("CheckpointEvery needs an OutputDirectory to write checkpoints to.");
        }
        if (EarlyStoppingPatience is { } p && (p < 1 || !hasEvaluator || EvalEvery == 0))
        {
            throw new ArgumentException($"Early stopping (patience {p}) needs patience ≥ 1, an Evaluate delegate and EvalEvery > 0.");
        }
    }
}

/// <summary>Raised when the loss or the gradient norm becomes NaN or infinite. The parameters are left as they were before the failing step.</summary>
public sealed class TrainingDivergedException : Exception
{
    public TrainingDivergedException(string message, long step, string? lastCheckpoint) : base(message)
    {
        Step = step;
        LastCheckpoint = lastCheckpoint;
    }

    /// <summary>The step (1-based) that failed.</summary>
    public long Step { get; }

    /// <summary>The newest checkpoint written before the failure, or null.</summary>
    public string? LastCheckpoint { get; }
}

/// <summary>Something the trainer reports while it runs (through <see cref="IProgress{T}"/>).</summary>
public abstract record TrainingEvent(long Step);

/// <summary>An optimizer step finished. Throughput and ETA cover the steps of this run (not those before a resume).</summary>
public sealed record StepCompleted(long Step, long MaxSteps, long Epoch, double Loss, double LearningRate, double GradNorm,
    long Tokens, double TokensPerSecond, TimeSpan Elapsed, TimeSpan? Eta) : TrainingEvent(Step);

/// <summary>An evaluation finished.</summary>
public sealed record EvaluationCompleted(long Step, EvaluationResult Result, bool IsBest, int EvaluationsWithoutImprovement) : TrainingEvent(Step);

/// <summary>A checkpoint was written.</summary>
public sealed record CheckpointSaved(long Step, string Path) : TrainingEvent(Step);

/// <summary>A run resumed from a checkpoint.</summary>
public sealed record Resumed(long Step, string Path) : TrainingEvent(Step);
