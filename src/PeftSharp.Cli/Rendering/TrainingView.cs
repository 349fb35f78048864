using PeftSharp.Training;
using Spectre.Console;

namespace PeftSharp.Cli.Rendering;

/// <summary>
/// Renders trainer events: a live progress line (step, loss, learning rate, tokens/s, ETA) on an interactive
/// terminal, and a plain line every few percent when output is redirected (logs, CI).
/// </summary>
public sealed class TrainingView : IProgress<TrainingEvent>
{
    private readonly string _label;
    private ProgressTask? _task;
    private long _lastPrintedStep = -1;

    public TrainingView(string label) => _label = label;

    public static bool Interactive => AnsiConsole.Profile.Capabilities.Interactive && !System.Console.IsOutputRedirected;

    /// <summary>Runs <paramref name="work"/> with a live progress bar when interactive.</summary>
    public T Run<T>(long maxSteps, Func<IProgress<TrainingEvent>, T> work)
    {
        if (!Interactive)
        {
            return work(this);
        }
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                _task = ctx.AddTask(Markup.Escape(_label), maxValue: Math.Max(maxSteps, 1));
                result = work(this);
                _task.Value = _task.MaxValue;
            });
        return result;
    }

    public void Report(TrainingEvent value)
    {
        switch (value)
        {
            case StepCompleted s:
                var line = $"step {s.Step}/{s.MaxSteps}  loss {s.Loss:F4}  lr {s.LearningRate:E2}  {s.TokensPerSecond:N0} tok/s  ETA {Format(s.Eta)}";
                if (_task is not null)
                {
                    // The step count may only be known once the data is loaded.
                    _task.MaxValue = Math.Max(s.MaxSteps, 1);
                    _task.Value = s.Step;
                    _task.Description = Markup.Escape($"{_label}: {line}");
                }
                else if (s.Step == s.MaxSteps || s.Step == 1 || s.Step - _lastPrintedStep >= Math.Max(s.MaxSteps / 10, 1))
                {
                    _lastPrintedStep = s.Step;
                    System.Console.WriteLine($"{_label}: {line}");
                }
                break;
            case EvaluationCompleted e:
                var acc = e.Result.Accuracy is { } a ? $"  accuracy {a:P1}" : "";
                Print($"{_label}: eval at step {e.Step}: loss {e.Result.Loss:F4}  perplexity {e.Result.Perplexity:F2}{acc}{(e.IsBest ? "  (best)" : "")}");
                break;
            case CheckpointSaved c:
                Print($"{_label}: checkpoint {c.Path}");
                break;
            case Resumed r:
                Print($"{_label}: resumed from {r.Path} at step {r.Step}");
                break;
        }
    }

    private void Print(string text)
    {
        if (_task is not null)
        {
            AnsiConsole.MarkupLine(Markup.Escape(text));
        }
        else
        {
            System.Console.WriteLine(text);
        }
    }

    private static string Format(TimeSpan? t) => t is { } v ? (v.TotalHours >= 1 ? v.ToString(@"h\:mm\:ss") : v.ToString(@"m\:ss")) : "--";

    /// <summary>The trainer's final summary as a table.</summary>
    public static void PrintSummary(TrainingResult result)
    {
        var table = new Table().AddColumn("").AddColumn("");
        table.HideHeaders();
        foreach (var (name, value) in result.SummaryRows())
        {
            table.AddRow(Markup.Escape(name), Markup.Escape(value));
        }
        AnsiConsole.Write(table);
    }
}
