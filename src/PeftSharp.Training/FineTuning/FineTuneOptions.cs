using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PeftSharp.Training.FineTuning;

/// <summary>
/// Everything <see cref="FineTuner.Run"/> needs. Each setting has a key (<see cref="Keys"/>) that is both the
/// <c>peft train</c> flag without its dashes and the key of the JSON configuration file, e.g.
/// <c>{"model": "llama", "data": "train.jsonl", "lr": 2e-4, "r": 16}</c>.
/// </summary>
public sealed record FineTuneOptions
{
    /// <summary>Base model folder (config.json + *.safetensors).</summary>
    public string? Model { get; init; }

    /// <summary>Folder holding tokenizer.json (default: the model folder).</summary>
    public string? Tokenizer { get; init; }

    /// <summary>Training data: JSONL (text, prompt/completion, messages, or text+label) or CSV (text,label).</summary>
    public string? Data { get; init; }

    /// <summary>A separate validation file in the same format.</summary>
    public string? ValidationData { get; init; }

    /// <summary>Fraction of the training records held out for validation (instead of a file).</summary>
    public double? ValidationFraction { get; init; }

    /// <summary>Output folder: adapter/, checkpoint-N/, metrics.jsonl, loss_curve.svg, train_config.json.</summary>
    public string? Output { get; init; }

    /// <summary>lora, dora (LoRA with use_dora) or ia3.</summary>
    public string Method { get; init; } = "lora";

    /// <summary>LoRA rank.</summary>
    public int R { get; init; } = 8;

    /// <summary>LoRA alpha (the update is scaled by alpha / r).</summary>
    public double Alpha { get; init; } = 16;

    /// <summary>LoRA dropout on the adapter input.</summary>
    public double Dropout { get; init; }

    /// <summary>Module names to adapt, or ["all-linear"]; null: the usual modules of the architecture.</summary>
    public IReadOnlyList<string>? TargetModules { get; init; }

    /// <summary>IA3: the targets whose input (not output) is scaled; null: the architecture's usual ones.</summary>
    public IReadOnlyList<string>? FeedforwardModules { get; init; }

    /// <summary>Modules trained in full and saved with the adapter; null: the classifier head for classification, none otherwise.</summary>
    public IReadOnlyList<string>? ModulesToSave { get; init; }

    /// <summary>Passes over the training data (used when <see cref="MaxSteps"/> is not set).</summary>
    public double Epochs { get; init; } = 1;

    /// <summary>Optimizer steps; overrides <see cref="Epochs"/>.</summary>
    public long? MaxSteps { get; init; }

    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 2e-4;

    /// <summary>adamw or sgd.</summary>
    public string Optimizer { get; init; } = "adamw";

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>Decoupled weight decay (biases and norms excluded).</summary>
    public double WeightDecay { get; init; }

    /// <summary>constant, constant_with_warmup, linear or cosine.</summary>
    public string Scheduler { get; init; } = "linear";

    /// <summary>Warmup steps (overrides <see cref="WarmupRatio"/> when above 0).</summary>
    public long WarmupSteps { get; init; }

    /// <summary>Warmup as a fraction of the steps.</summary>
    public double WarmupRatio { get; init; }

    /// <summary>Examples (or packed rows) per micro-batch.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Micro-batches per optimizer step.</summary>
    public int GradAccum { get; init; } = 1;

    /// <summary>Global gradient-norm clipping threshold; 0 disables clipping.</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>Longest sequence in tokens; null: the model's max_position_embeddings.</summary>
    public int? MaxLength { get; init; }

    /// <summary>Pack language-modelling examples into rows of <see cref="MaxLength"/> tokens.</summary>
    public bool Packing { get; init; }

    /// <summary>Evaluate on the validation data every this many steps (0: only at the end).</summary>
    public long EvalEvery { get; init; }

    /// <summary>Write a checkpoint every this many steps (0: only at the end and on Ctrl-C).</summary>
    public long SaveEvery { get; init; }

    /// <summary>Checkpoints kept by rotation.</summary>
    public int KeepCheckpoints { get; init; } = 3;

    /// <summary>Stop after this many evaluations without improvement (needs validation data and eval-every).</summary>
    public int? EarlyStoppingPatience { get; init; }

    /// <summary>Seed of adapter initialisation, dropout, validation split and shuffling.</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>Storage of the frozen base weights: f32 or bf16.</summary>
    public string Weights { get; init; } = "f32";

    /// <summary>Skip (and count) malformed data lines instead of stopping at the first.</summary>
    public bool SkipBadLines { get; init; }

    /// <summary>Resume from this checkpoint folder or output folder; "" resumes from <see cref="Output"/>.</summary>
    public string? Resume { get; init; }

    /// <summary>The setting keys (flags without "--", JSON keys), in help order.</summary>
    public static IReadOnlyList<string> Keys { get; } =
    [
        "model", "tokenizer", "data", "validation-data", "validation-fraction", "output", "method", "r", "alpha", "dropout",
        "target-modules", "feedforward-modules", "modules-to-save", "epochs", "max-steps", "lr", "optimizer", "momentum",
        "weight-decay", "scheduler", "warmup-steps", "warmup-ratio", "batch-size", "grad-accum", "max-grad-norm", "max-length",
        "packing", "eval-every", "save-every", "keep-checkpoints", "early-stopping-patience", "seed", "weights",
        "skip-bad-lines", "resume",
    ];

    /// <summary>Keys whose value is a path (resolved against the configuration file's folder when read from a file).</summary>
    private static readonly HashSet<string> PathKeys = ["model", "tokenizer", "data", "validation-data", "output", "resume"];

    /// <summary>
    /// Keys a resumed run may change: where and how often things are written, and the step size (learning rate and
    /// clipping), so a diverged run can continue from its last good checkpoint with a smaller step.
    /// </summary>
    private static readonly HashSet<string> ResumableKeys = ["output", "resume", "eval-every", "save-every", "keep-checkpoints", "lr", "max-grad-norm"];

    /// <summary>Reads a JSON configuration file whose keys are <see cref="Keys"/>. Relative paths are taken from the file's folder.</summary>
    /// <exception cref="FineTuneException">The file is missing or not a JSON object, a key is unknown, or a value has the wrong type.</exception>
    public static FineTuneOptions Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FineTuneException($"The configuration file '{path}' does not exist.");
        }
        JsonObject obj;
        try
        {
            obj = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject
                ?? throw new FineTuneException($"{path}: the configuration must be a JSON object such as {{\"model\": \"DIR\", \"data\": \"train.jsonl\"}}.");
        }
        catch (JsonException e)
        {
            throw new FineTuneException($"{path}: not valid JSON ({e.Message}).");
        }
        var baseDir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        return new FineTuneOptions().With(obj, path, baseDir);
    }

    /// <summary>
    /// Returns these options with the settings of <paramref name="settings"/> (keys from <see cref="Keys"/>; "_" may
    /// stand for "-") applied on top. Relative paths are resolved against <paramref name="baseDirectory"/> when given.
    /// </summary>
    /// <exception cref="FineTuneException">An unknown key (all are named) or a value of the wrong type.</exception>
    public FineTuneOptions With(JsonObject settings, string source, string? baseDirectory = null)
    {
        var unknown = settings.Select(p => p.Key).Where(k => !Keys.Contains(Normalize(k))).ToArray();
        if (unknown.Length > 0)
        {
            throw new FineTuneException($"{source}: unknown setting{(unknown.Length > 1 ? "s" : "")} {string.Join(", ", unknown.Select(k => $"\"{k}\""))}. Known settings: {string.Join(", ", Keys)}.");
        }
        var o = this;
        foreach (var (rawKey, node) in settings)
        {
            var key = Normalize(rawKey);
            var v = new Value(source, rawKey, node);
            string? P(string? s) => s is null || baseDirectory is null || s.Length == 0 || Path.IsPathRooted(s) ? s : Path.GetFullPath(Path.Combine(baseDirectory, s));
            o = key switch
            {
                "model" => o with { Model = P(v.String()) },
                "tokenizer" => o with { Tokenizer = P(v.String()) },
                "data" => o with { Data = P(v.String()) },
                "validation-data" => o with { ValidationData = P(v.String()) },
                "validation-fraction" => o with { ValidationFraction = v.NullableDouble() },
                "output" => o with { Output = P(v.String()) },
                "method" => o with { Method = v.String() ?? "lora" },
                "r" => o with { R = v.Int() },
                "alpha" => o with { Alpha = v.Double() },
                "dropout" => o with { Dropout = v.Double() },
                "target-modules" => o with { TargetModules = v.StringList() },
                "feedforward-modules" => o with { FeedforwardModules = v.StringList() },
                "modules-to-save" => o with { ModulesToSave = v.StringList() },
                "epochs" => o with { Epochs = v.Double() },
                "max-steps" => o with { MaxSteps = v.NullableLong() },
                "lr" => o with { LearningRate = v.Double() },
                "optimizer" => o with { Optimizer = v.String() ?? "adamw" },
                "momentum" => o with { Momentum = v.Double() },
                "weight-decay" => o with { WeightDecay = v.Double() },
                "scheduler" => o with { Scheduler = v.String() ?? "linear" },
                "warmup-steps" => o with { WarmupSteps = v.Long() },
                "warmup-ratio" => o with { WarmupRatio = v.Double() },
                "batch-size" => o with { BatchSize = v.Int() },
                "grad-accum" => o with { GradAccum = v.Int() },
                "max-grad-norm" => o with { MaxGradNorm = v.Double() },
                "max-length" => o with { MaxLength = v.NullableInt() },
                "packing" => o with { Packing = v.Bool() },
                "eval-every" => o with { EvalEvery = v.Long() },
                "save-every" => o with { SaveEvery = v.Long() },
                "keep-checkpoints" => o with { KeepCheckpoints = v.Int() },
                "early-stopping-patience" => o with { EarlyStoppingPatience = v.NullableInt() },
                "seed" => o with { Seed = (ulong)v.Long() },
                "weights" => o with { Weights = v.String() ?? "f32" },
                "skip-bad-lines" => o with { SkipBadLines = v.Bool() },
                "resume" => o with { Resume = v.Resume(P) },
                _ => throw new InvalidOperationException($"Setting \"{key}\" is listed but not read."),
            };
        }
        return o;
    }

    private static string Normalize(string key) => key.Replace('_', '-').ToLowerInvariant();

    /// <summary>The settings as a JSON object with <see cref="Keys"/> (unset optional settings omitted); <see cref="Load"/> reads it back.</summary>
    public JsonObject ToJson()
    {
        static JsonArray? List(IReadOnlyList<string>? l) => l is null ? null : new JsonArray(l.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
        var o = new JsonObject
        {
            ["model"] = Model, ["tokenizer"] = Tokenizer, ["data"] = Data, ["validation-data"] = ValidationData,
            ["validation-fraction"] = ValidationFraction, ["output"] = Output, ["method"] = Method, ["r"] = R, ["alpha"] = Alpha,
            ["dropout"] = Dropout, ["target-modules"] = List(TargetModules), ["feedforward-modules"] = List(FeedforwardModules),
            ["modules-to-save"] = List(ModulesToSave), ["epochs"] = Epochs, ["max-steps"] = MaxSteps, ["lr"] = LearningRate,
            ["optimizer"] = Optimizer, ["momentum"] = Momentum, ["weight-decay"] = WeightDecay, ["scheduler"] = Scheduler,
            ["warmup-steps"] = WarmupSteps, ["warmup-ratio"] = WarmupRatio, ["batch-size"] = BatchSize, ["grad-accum"] = GradAccum,
            ["max-grad-norm"] = MaxGradNorm, ["max-length"] = MaxLength, ["packing"] = Packing, ["eval-every"] = EvalEvery,
            ["save-every"] = SaveEvery, ["keep-checkpoints"] = KeepCheckpoints, ["early-stopping-patience"] = EarlyStoppingPatience,
            ["seed"] = Seed, ["weights"] = Weights, ["skip-bad-lines"] = SkipBadLines, ["resume"] = Resume,
        };
        foreach (var key in o.Where(p => p.Value is null).Select(p => p.Key).ToArray())
        {
            o.Remove(key);
        }
        return o;
    }

    /// <summary>A hash of the settings a resumed run must keep (all but output, resume, the eval/save cadence, lr and max-grad-norm).</summary>
    public string ConfigHash()
    {
        var json = ToJson();
        foreach (var k in ResumableKeys)
        {
            json.Remove(k);
        }
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes(json.ToJsonString()));
        return Convert.ToHexStringLower(bytes)[..16];
    }

    /// <summary>A JSON value being read for one setting, with errors that name the setting and the expected type.</summary>
    private readonly record struct Value(string Source, string Key, JsonNode? Node)
    {
        private FineTuneException Wrong(string expected) =>
            new($"{Source}: setting \"{Key}\" must be {expected}; got {(Node is null ? "null" : Node.ToJsonString())}.");

        public string? String() => Node switch
        {
            null => null,
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            _ => throw Wrong("a string"),
        };

        public double Double() => NullableDouble() ?? throw Wrong("a number");

        public double? NullableDouble() => Node switch
        {
            null => null,
            // Parsing the JSON text reads any numeric CLR value (int, long, ulong, double) a node may have been built from.
            JsonValue v when v.GetValueKind() == JsonValueKind.Number && double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) => d,
            JsonValue v when v.TryGetValue<string>(out var s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) => d,
            _ => throw Wrong("a number"),
        };

        public long Long() => NullableLong() ?? throw Wrong("an integer");

        public long? NullableLong()
        {
            var d = NullableDouble();
            if (d is null)
            {
                return null;
            }
            if (d != Math.Floor(d.Value) || Math.Abs(d.Value) > 9e15)
            {
                throw Wrong("an integer");
            }
            return (long)d.Value;
        }

        public int Int() => NullableInt() ?? throw Wrong("an integer");

        public int? NullableInt()
        {
            var l = NullableLong();
            return l is null ? null : l is >= int.MinValue and <= int.MaxValue ? (int)l : throw Wrong("an integer within ±2147483647");
        }

        public bool Bool() => Node switch
        {
            JsonValue v when v.TryGetValue<bool>(out var b) => b,
            JsonValue v when v.TryGetValue<string>(out var s) && bool.TryParse(s, out var b) => b,
            _ => throw Wrong("true or false"),
        };

        public IReadOnlyList<string>? StringList() => Node switch
        {
            null => null,
            JsonValue v when v.TryGetValue<string>(out var s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            JsonArray a when a.All(e => e is JsonValue ev && ev.TryGetValue<string>(out _)) => a.Select(e => e!.GetValue<string>()).ToArray(),
            _ => throw Wrong("a list of strings (or one comma-separated string)"),
        };

        /// <summary>true → resume from the output folder; false/null → no resume; a string → that path.</summary>
        public string? Resume(Func<string?, string?> resolve) => Node switch
        {
            null => null,
            JsonValue v when v.TryGetValue<bool>(out var b) => b ? "" : null,
            JsonValue v when v.TryGetValue<string>(out var s) => resolve(s),
            _ => throw Wrong("true, false or a checkpoint path"),
        };
    }
}

/// <summary>A fine-tuning setting or input is wrong. The message says what to change.</summary>
public sealed class FineTuneException : Exception
{
    public FineTuneException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
