using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using PeftSharp.Cli.Rendering;
using PeftSharp.Training;
using PeftSharp.Training.FineTuning;
using Spectre.Console;

namespace PeftSharp.Cli.Commands;

/// <summary>
/// <c>peft train</c>: fine-tunes a model folder with LoRA, DoRA or IA3. Every setting is a flag and also a key of the
/// optional <c>--config</c> JSON file (flags win); <see cref="FineTuner.Run"/> does the work.
/// </summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var d = new FineTuneOptions();
        var c = CultureInfo.InvariantCulture;
        var config = new Option<string>("--config") { Description = "JSON file of settings whose keys are these flags without \"--\", e.g. {\"model\": \"DIR\", \"lr\": 2e-4, \"r\": 16}; flags override it." };
        var settings = new List<(string Key, Option Option)>
        {
            S<string>("model", "Base model folder: config.json + *.safetensors."),
            S<string>("tokenizer", "Folder holding tokenizer.json (default: the model folder)."),
            S<string>("data", "Training data: JSONL ({\"text\"}, {\"prompt\",\"completion\"}, {\"messages\"} or {\"text\",\"label\"}) or CSV (text,label)."),
            S<string>("validation-data", "Validation file in the same format."),
            S<double>("validation-fraction", "Hold out this fraction of the training records for validation instead."),
            S<string>("output", "Output folder: adapter/, checkpoint-N/, metrics.jsonl, loss_curve.svg, train_config.json."),
            S<string>("method", $"lora, dora or ia3 (default {d.Method})."),
            S<int>("r", $"LoRA rank (default {d.R})."),
            S<double>("alpha", string.Create(c, $"LoRA alpha; the update is scaled by alpha / r (default {d.Alpha})."), "--lora-alpha"),
            S<double>("dropout", "LoRA dropout (default 0).", "--lora-dropout"),
            S<string[]>("target-modules", "Modules to adapt (names, or all-linear); default: the architecture's usual ones (e.g. q_proj v_proj)."),
            S<string[]>("feedforward-modules", "IA3: targets whose input is scaled (default: the architecture's MLP output projection)."),
            S<string[]>("modules-to-save", "Modules trained in full and saved with the adapter (default: the classifier for classification)."),
            S<double>("epochs", string.Create(c, $"Passes over the training data (default {d.Epochs}); ignored with --max-steps.")),
            S<long>("max-steps", "Optimizer steps (overrides --epochs)."),
            S<double>("lr", string.Create(c, $"Peak learning rate (default {d.LearningRate:g})."), "--learning-rate"),
            S<string>("optimizer", $"adamw or sgd (default {d.Optimizer})."),
            S<double>("momentum", string.Create(c, $"SGD momentum (default {d.Momentum}).")),
            S<double>("weight-decay", "Decoupled weight decay, biases and norms excluded (default 0)."),
            S<string>("scheduler", $"constant, constant_with_warmup, linear or cosine (default {d.Scheduler})."),
            S<long>("warmup-steps", "Linear warmup steps (default 0)."),
            S<double>("warmup-ratio", "Warmup as a fraction of the steps (used when --warmup-steps is 0)."),
            S<int>("batch-size", $"Examples per micro-batch (default {d.BatchSize})."),
            S<int>("grad-accum", "Micro-batches per optimizer step (default 1).", "--gradient-accumulation"),
            S<double>("max-grad-norm", string.Create(c, $"Clip the global gradient norm (default {d.MaxGradNorm}; 0 = off).")),
            S<int>("max-length", "Longest sequence in tokens (default: the model's max_position_embeddings)."),
            S<bool>("packing", "Pack examples into rows of --max-length tokens (language modelling)."),
            S<long>("eval-every", "Evaluate on the validation data every N steps (default: only at the end)."),
            S<long>("save-every", "Write a checkpoint every N steps (default: at the end and on Ctrl-C)."),
            S<int>("keep-checkpoints", $"Checkpoints kept (default {d.KeepCheckpoints})."),
            S<int>("early-stopping-patience", "Stop after N evaluations without improvement of the validation loss."),
            S<ulong>("seed", $"Seed of initialisation, dropout, split and shuffling (default {d.Seed})."),
            S<string>("weights", "Storage of the frozen base weights: f32 (default) or bf16 (half the memory)."),
            S<bool>("skip-bad-lines", "Skip and count malformed data lines instead of stopping at the first."),
        };
        var resume = new Option<string>("--resume")
        {
            Description = "Continue from the newest checkpoint in --output, or from the checkpoint folder given.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        settings.Add(("resume", resume));

        var command = new Command("train", "Fine-tune a model with LoRA, DoRA or IA3 on a data file; saves the adapter in the Hugging Face PEFT layout.");
        command.Options.Add(config);
        foreach (var (_, option) in settings)
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, ct) => Task.FromResult(CommandErrors.Guard("train", () =>
        {
            var options = parse.GetValue(config) is { } file ? FineTuneOptions.Load(file) : new FineTuneOptions();
            var flags = new JsonObject();
            foreach (var (key, option) in settings)
            {
                if (parse.GetResult(option) is { Implicit: false } result)
                {
                    flags[key] = ToJson(key, result.GetValueOrDefault<object?>());
                }
            }
            options = options.With(flags, "command line");
            using var stop = new StopOnSignal(ct);
            return Run(options, stop.Token);
        })));
        return command;
    }

    /// <summary>
    /// Turns the first Ctrl-C (or SIGTERM) into a graceful stop — finish the step, write a checkpoint, exit — and lets a
    /// second Ctrl-C end the process at once.
    /// </summary>
    private sealed class StopOnSignal : IDisposable
    {
        private readonly CancellationTokenSource _cts;
        private readonly PosixSignalRegistration? _term;

        public StopOnSignal(CancellationToken outer)
        {
            _cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
            Console.CancelKeyPress += OnCancelKey;
            if (!OperatingSystem.IsWindows())
            {
                _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
                {
                    c.Cancel = true;
                    Request();
                });
            }
        }

        public CancellationToken Token => _cts.Token;

        private void OnCancelKey(object? sender, ConsoleCancelEventArgs e)
        {
            if (_cts.IsCancellationRequested)
            {
                return; // second Ctrl-C: default handling ends the process
            }
            e.Cancel = true;
            Request();
        }

        private void Request()
        {
            Console.Error.WriteLine("peft train: stopping after this step and writing a checkpoint (press Ctrl-C again to quit at once).");
            _cts.Cancel();
        }

        public void Dispose()
        {
            Console.CancelKeyPress -= OnCancelKey;
            _term?.Dispose();
            _cts.Dispose();
        }
    }

    private static (string, Option) S<T>(string key, string description, string? alias = null)
    {
        var option = alias is null ? new Option<T>("--" + key) : new Option<T>("--" + key, alias);
        option.Description = description;
        if (typeof(T) == typeof(string[]))
        {
            option.AllowMultipleArgumentsPerToken = true;
        }
        return (key, option);
    }

    private static JsonNode? ToJson(string key, object? value) => value switch
    {
        null => key == "resume" ? JsonValue.Create(true) : null,
        string s when key == "resume" && s.Length == 0 => JsonValue.Create(true),
        string s => JsonValue.Create(s),
        string[] list => new JsonArray(list.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()),
        bool b => JsonValue.Create(b),
        int i => JsonValue.Create(i),
        long l => JsonValue.Create(l),
        ulong u => JsonValue.Create(u),
        double x => JsonValue.Create(x),
        _ => JsonValue.Create(Convert.ToString(value, CultureInfo.InvariantCulture)),
    };

    // Under a live progress bar lines must go through Spectre; in logs they stay unwrapped.
    private static void Log(string line)
    {
        if (TrainingView.Interactive)
        {
            AnsiConsole.WriteLine(line);
        }
        else
        {
            Console.Out.WriteLine(line);
        }
    }

    private static int Run(FineTuneOptions options, CancellationToken ct)
    {
        var view = new TrainingView("train");
        var result = view.Run(options.MaxSteps ?? 0, progress => FineTuner.Run(options, progress, Log, ct));
        TrainingView.PrintSummary(result.Training);
        var output = result.OutputDirectory;
        if (result.Training.StopReason == StopReason.Cancelled)
        {
            Log($"Stopped at step {result.Training.Steps}; checkpoint: {result.Training.LastCheckpoint}.");
            Log($"Continue with the same settings plus: --resume (or --resume {result.Training.LastCheckpoint}).");
            return CommandErrors.Cancelled;
        }
        Log($"adapter: {result.AdapterDirectory}");
        var tokenizer = options.Tokenizer is null ? "" : $" --tokenizer {options.Tokenizer}";
        Log(result.Task == FineTuneTask.CausalLanguageModeling
            ? $"next: peft generate --model {options.Model}{tokenizer} --adapter {result.AdapterDirectory} --prompt \"...\""
            : $"next: peft eval --model {options.Model}{tokenizer} --adapter {result.AdapterDirectory} --data FILE");
        return 0;
    }
}
