using System.Globalization;

namespace PeftSharp.Training;

/// <summary>The outcome of <see cref="Trainer{TBatch}.Run"/>, with what a final summary table shows.</summary>
public sealed record TrainingResult
{
    public required StopReason StopReason { get; init; }

    /// <summary>Optimizer steps completed in total (including those before a resume).</summary>
    public required long Steps { get; init; }

    public required long MaxSteps { get; init; }

    /// <summary>Training loss of the last step (null when no step ran).</summary>
    public double? FinalTrainLoss { get; init; }

    /// <summary>The last evaluation (null when none ran).</summary>
    public EvaluationResult? FinalEvaluation { get; init; }

    public double? BestValidationLoss { get; init; }

    public long? BestStep { get; init; }

    /// <summary>Tokens trained on in total.</summary>
    public long Tokens { get; init; }

    /// <summary>Wall time of this run (since <see cref="Trainer{TBatch}.Run"/> started).</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>Tokens per second over this run.</summary>
    public double TokensPerSecond { get; init; }

    public string? LastCheckpoint { get; init; }

    public string? MetricsPath { get; init; }

    public string? PlotPath { get; init; }

    /// <summary>Label/value rows for a final summary table (the CLI renders them).</summary>
    public IReadOnlyList<(string Label, string Value)> SummaryRows()
    {
        var c = CultureInfo.InvariantCulture;
        var rows = new List<(string, string)>
        {
            ("Stopped", StopReason switch { StopReason.Completed => "completed", StopReason.EarlyStopped => "early stopping", _ => "cancelled" }),
            ("Steps", string.Format(c, "{0} / {1}", Steps, MaxSteps)),
        };
        if (FinalTrainLoss is { } l)
        {
            rows.Add(("Final train loss", l.ToString("0.####", c)));
        }
        if (FinalEvaluation is { } e)
        {
            rows.Add(("Validation loss", e.Loss.ToString("0.####", c)));
            rows.Add(("Validation perplexity", e.Perplexity.ToString("0.##", c)));
            if (e.Accuracy is { } a)
            {
                rows.Add(("Validation accuracy", a.ToString("P2", c)));
            }
        }
        if (BestValidationLoss is { } b)
        {
            rows.Add(("Best validation loss", string.Format(c, "{0:0.####} (step {1})", b, BestStep)));
        }
        rows.Add(("Tokens", Tokens.ToString("N0", c)));
        rows.Add(("Tokens/s", TokensPerSecond.ToString("0.#", c)));
        rows.Add(("Time", string.Format(c, "{0}:{1:mm\\:ss}", (long)Elapsed.TotalHours, Elapsed)));
        if (LastCheckpoint is not null)
        {
            rows.Add(("Checkpoint", LastCheckpoint));
        }
        if (MetricsPath is not null)
        {
            rows.Add(("Metrics", MetricsPath));
        }
        if (PlotPath is not null)
        {
            rows.Add(("Loss curve", PlotPath));
        }
        return rows;
    }
}
