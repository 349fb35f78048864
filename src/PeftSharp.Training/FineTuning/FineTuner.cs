using System.Globalization;
using PeftSharp.Models;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Ia3;
using PeftSharp.Peft.Methods.Lora;
using PeftSharp.Tensors;
using PeftSharp.Training.Data;
using PeftSharp.Training.Optimizers;
using PeftSharp.Training.Schedules;

namespace PeftSharp.Training.FineTuning;

/// <summary>What a fine-tuning run did and wrote.</summary>
/// <param name="Task">Language modelling or classification (chosen from the model).</param>
/// <param name="Training">The trainer's result (steps, losses, checkpoint, metrics and plot paths).</param>
/// <param name="Trainable">Trainable and total parameter counts.</param>
/// <param name="Data">What loading the data did (examples, skipped lines, truncation).</param>
/// <param name="AdapterDirectory">The final adapter (Hugging Face PEFT layout), or null when the run was cancelled.</param>
/// <param name="OutputDirectory">The run's output folder.</param>
public sealed record FineTuneResult(FineTuneTask Task, TrainingResult Training, TrainableReport Trainable, TrainingDataReport Data,
    string? AdapterDirectory, string OutputDirectory);

/// <summary>
/// Fine-tunes a Hugging Face model folder with LoRA, DoRA or IA3 on a data file: loads model, tokenizer and data,
/// wraps the model with the adapter, trains with <see cref="Trainer{TBatch}"/> (checkpoints carry the adapter in the
/// PEFT layout; cancellation writes one and returns), and saves the adapter to <c>&lt;output&gt;/adapter</c>.
/// The task follows the model: a causal LM learns next tokens, a sequence classifier learns labels.
/// </summary>
public static class FineTuner
{
    /// <summary>The folder of the final adapter inside the output folder.</summary>
    public const string AdapterFolder = "adapter";

    /// <summary>The resolved settings written into the output folder (a configuration file <see cref="FineTuneOptions.Load"/> reads).</summary>
    public const string ConfigFileName = "train_config.json";

    // Hugging Face PEFT's default target modules per model_type.
    private static readonly Dictionary<string, string[]> LoraTargets = new()
    {
        ["llama"] = ["q_proj", "v_proj"], ["mistral"] = ["q_proj", "v_proj"], ["qwen2"] = ["q_proj", "v_proj"],
        ["gpt2"] = ["c_attn"], ["bert"] = ["query", "value"],
    };

    private static readonly Dictionary<string, (string[] Targets, string[] Feedforward)> Ia3Targets = new()
    {
        ["llama"] = (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
        ["mistral"] = (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
        ["qwen2"] = (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
        ["gpt2"] = (["c_attn", "mlp.c_proj"], ["mlp.c_proj"]),
        ["bert"] = (["key", "value", "output.dense"], ["output.dense"]),
    };

    /// <summary>Runs the fine-tuning described by <paramref name="options"/>.</summary>
    /// <param name="options">The settings (model, data and output are required).</param>
    /// <param name="progress">Trainer events (steps, evaluations, checkpoints) for a progress display.</param>
    /// <param name="log">Lines worth showing the user (model, data and parameter summaries).</param>
    /// <param name="cancellationToken">Stops after the current step; a checkpoint is written and the result says Cancelled.</param>
    /// <exception cref="FineTuneException">A setting is invalid or an input is missing; the message says what to change.</exception>
    /// <exception cref="DataFormatException">A malformed data line (file and line number in the message).</exception>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite; the last good checkpoint is intact.</exception>
    /// <exception cref="Checkpoints.CheckpointException">The checkpoint to resume from is missing or belongs to other settings.</exception>
    public static FineTuneResult Run(FineTuneOptions options, IProgress<TrainingEvent>? progress = null, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        log ??= _ => { };
        var o = Validate(options);
        var output = Path.GetFullPath(o.Output!);
        var model = ModelFolder.Load(o.Model!, ModelFolder.ParseWeights(o.Weights));
        var task = ModelFolder.TaskOf(model);
        var (tokenizer, tokenizerConfig) = ModelFolder.LoadTokenizer(o.Tokenizer ?? o.Model!, o.Tokenizer is not null);
        log($"model: {model.ArchitectureName} ({Path.GetFullPath(o.Model!)}), {model.NamedParameters().Sum(p => (long)p.Parameter.Numel):N0} parameters, weights {o.Weights}");

        int? maxLength = o.MaxLength ?? MaxPositions(model);
        var dataOptions = new TrainingDataOptions
        {
            TrainPath = o.Data!,
            ValidationPath = o.ValidationData,
            ValidationFraction = o.ValidationFraction,
            Read = new DataReadOptions { SkipBadLines = o.SkipBadLines },
            Tokenization = new TokenizationOptions { MaxLength = maxLength },
            Packing = o.Packing,
            BatchSize = o.BatchSize,
            Seed = o.Seed,
            Labels = task == FineTuneTask.SequenceClassification ? ModelFolder.LabelNames(model) : null,
        };
        if (!File.Exists(o.Data))
        {
            throw new FineTuneException($"data: the file '{o.Data}' does not exist.");
        }
        if (o.ValidationData is { } vd && !File.Exists(vd))
        {
            throw new FineTuneException($"validation-data: the file '{vd}' does not exist.");
        }

        var peftOptions = new PeftModelOptions
        {
            Seed = o.Seed,
            OutputHeadNames = model.OutputHeads.Count > 0 ? model.OutputHeads : new PeftModelOptions().OutputHeadNames,
        };
        Directory.CreateDirectory(output);

        if (task == FineTuneTask.CausalLanguageModeling)
        {
            var data = TrainingData.LoadLanguageModel(dataOptions, tokenizer, tokenizerConfig);
            LogData(log, data.Report);
            var peft = PeftModel.Create(model, AdapterConfigFor(o, model, task), options: peftOptions);
            Func<CancellationToken, EvaluationResult>? evaluate = data.Validation.Count == 0 ? null : ct =>
            {
                var (loss, _) = Evaluation.LanguageModel(model, data.ValidationBatches(o.BatchSize), ct);
                return new EvaluationResult(loss);
            };
            var trainingTask = new TrainingTask<TokenBatch>
            {
                ComputeLoss = b => model.Forward(new ModelInput { InputIds = b.InputIds, AttentionMask = b.AttentionMask, Labels = b.Labels }).Loss!,
                CountTokens = b => b.Tokens,
                Evaluate = evaluate,
            };
            return Train(o, output, task, model, peft, data.Train, data.Train.BatchesPerEpoch, trainingTask, data.Report, progress, log, cancellationToken);
        }
        else
        {
            var data = TrainingData.LoadClassification(dataOptions, tokenizer, tokenizerConfig);
            int numLabels = ModelFolder.NumLabels(model);
            if (data.Labels.Count > numLabels)
            {
                throw new FineTuneException($"data: the records have {data.Labels.Count} labels ({string.Join(", ", data.Labels.Names.Take(10))}) but the model's classifier has {numLabels} outputs; use a model whose config.json has num_labels = {data.Labels.Count} (and id2label naming them).");
            }
            LogData(log, data.Report);
            log($"labels: {string.Join(", ", data.Labels.Names.Select((n, i) => $"{i}={n}"))}");
            var peft = PeftModel.Create(model, AdapterConfigFor(o, model, task), options: peftOptions);
            Func<CancellationToken, EvaluationResult>? evaluate = data.Validation.Count == 0 ? null : ct =>
            {
                var (loss, accuracy, _) = Evaluation.Classification(model, data.ValidationBatches(o.BatchSize), ct);
                return new EvaluationResult(loss, accuracy);
            };
            var trainingTask = new TrainingTask<ClassificationBatch>
            {
                ComputeLoss = b => model.Forward(new ModelInput { InputIds = b.InputIds, AttentionMask = b.AttentionMask, Labels = b.Labels }).Loss!,
                CountTokens = b => b.Tokens,
                Evaluate = evaluate,
            };
            return Train(o, output, task, model, peft, data.Train, data.Train.BatchesPerEpoch, trainingTask, data.Report, progress, log, cancellationToken);
        }
    }

    private static FineTuneResult Train<TBatch>(FineTuneOptions o, string output, FineTuneTask task, PretrainedModel model, PeftModel peft,
        IBatchSource<TBatch> source, int batchesPerEpoch, TrainingTask<TBatch> trainingTask, TrainingDataReport dataReport,
        IProgress<TrainingEvent>? progress, Action<string> log, CancellationToken cancellationToken)
    {
        var trainable = peft.GetTrainableReport();
        log($"adapter: {Describe(peft.Configs[PeftModel.DefaultAdapterName])} on {peft.AdapterLayers().Count()} modules; {trainable}");

        long steps = o.MaxSteps ?? Math.Max(1, (long)Math.Ceiling(o.Epochs * batchesPerEpoch / o.GradAccum));
        long warmup = o.WarmupSteps > 0 ? o.WarmupSteps : (long)Math.Ceiling(o.WarmupRatio * steps);
        if (trainingTask.Evaluate is null && o.EarlyStoppingPatience is not null)
        {
            throw new FineTuneException("early-stopping-patience needs validation data: pass --validation-data FILE or --validation-fraction F (and --eval-every N).");
        }
        if (o.EarlyStoppingPatience is not null && o.EvalEvery <= 0)
        {
            throw new FineTuneException("early-stopping-patience needs --eval-every N (evaluations to compare).");
        }

        var named = peft.NamedTrainableParameters().ToArray();
        var groups = o.WeightDecay > 0 ? ParameterGroups.SplitWeightDecay(named, o.WeightDecay) : [new ParameterGroup(named)];
        Optimizer optimizer = o.Optimizer.ToLowerInvariant() switch
        {
            "adamw" => new AdamW(groups, o.LearningRate, weightDecay: o.WeightDecay),
            "sgd" => new Sgd(groups, o.LearningRate, momentum: o.Momentum, weightDecay: o.WeightDecay),
            _ => throw new FineTuneException($"optimizer: '{o.Optimizer}' is not adamw or sgd."),
        };
        var schedule = LearningRateSchedule.Names.Contains(o.Scheduler)
            ? LearningRateSchedule.Create(o.Scheduler, warmup, steps)
            : throw new FineTuneException($"scheduler: '{o.Scheduler}' is not one of {string.Join(", ", LearningRateSchedule.Names)}.");
        var scheduler = new LrScheduler(optimizer, schedule);
        log(string.Create(CultureInfo.InvariantCulture,
            $"training: {steps} steps of {o.BatchSize}×{o.GradAccum} examples ({batchesPerEpoch} batches per epoch), {o.Optimizer} lr {o.LearningRate:g4}, {schedule}"));

        File.WriteAllText(Path.Combine(output, ConfigFileName), (o with { Resume = null }).ToJson().ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        var trainer = new Trainer<TBatch>(trainingTask, source, optimizer, scheduler, new TrainerOptions
        {
            MaxSteps = steps,
            GradientAccumulationSteps = o.GradAccum,
            MaxGradNorm = o.MaxGradNorm > 0 ? o.MaxGradNorm : null,
            EvalEvery = o.EvalEvery,
            CheckpointEvery = o.SaveEvery,
            KeepCheckpoints = o.KeepCheckpoints,
            OutputDirectory = output,
            EarlyStoppingPatience = o.EarlyStoppingPatience,
            ConfigHash = o.ConfigHash(),
            WriteCheckpointExtras = dir => peft.SavePretrained(dir),
        }, model, Generators(peft), progress);

        string? resume = o.Resume is null ? null : o.Resume.Length == 0 ? output : o.Resume;
        var result = trainer.Run(resume, cancellationToken);
        string? adapterDir = null;
        if (result.StopReason != StopReason.Cancelled)
        {
            adapterDir = Path.Combine(output, AdapterFolder);
            peft.SavePretrained(adapterDir);
        }
        return new FineTuneResult(task, result, trainable, dataReport, adapterDir, output);
    }

    /// <summary>Checks the settings that can be checked without loading anything.</summary>
    private static FineTuneOptions Validate(FineTuneOptions o)
    {
        if (string.IsNullOrEmpty(o.Model))
        {
            throw new FineTuneException("model is required: pass --model DIR (a Hugging Face model folder).");
        }
        if (string.IsNullOrEmpty(o.Data))
        {
            throw new FineTuneException("data is required: pass --data FILE (JSONL or CSV).");
        }
        if (string.IsNullOrEmpty(o.Output))
        {
            throw new FineTuneException("output is required: pass --output DIR (the adapter, checkpoints and metrics go there).");
        }
        if (o.Method.ToLowerInvariant() is not ("lora" or "dora" or "ia3"))
        {
            throw new FineTuneException($"method: '{o.Method}' is not lora, dora or ia3.");
        }
        Positive(o.R, "r");
        Positive(o.BatchSize, "batch-size");
        Positive(o.GradAccum, "grad-accum");
        Positive(o.KeepCheckpoints, "keep-checkpoints");
        if (o.MaxSteps is { } ms && ms < 1)
        {
            throw new FineTuneException($"max-steps must be at least 1; got {ms}.");
        }
        if (o.MaxSteps is null && !(o.Epochs > 0))
        {
            throw new FineTuneException($"epochs must be above 0; got {o.Epochs}.");
        }
        if (!(o.LearningRate > 0))
        {
            throw new FineTuneException($"lr must be above 0; got {o.LearningRate}.");
        }
        if (o.Dropout is < 0 or >= 1)
        {
            throw new FineTuneException($"dropout must be in [0, 1); got {o.Dropout}.");
        }
        if (o.MaxGradNorm < 0 || o.WeightDecay < 0 || o.Momentum < 0 || o.WarmupSteps < 0 || o.EvalEvery < 0 || o.SaveEvery < 0)
        {
            throw new FineTuneException("max-grad-norm, weight-decay, momentum, warmup-steps, eval-every and save-every cannot be negative.");
        }
        if (o.WarmupRatio is < 0 or > 1)
        {
            throw new FineTuneException($"warmup-ratio must be in [0, 1]; got {o.WarmupRatio}.");
        }
        if (o.ValidationFraction is { } f && !(f > 0 && f < 1))
        {
            throw new FineTuneException($"validation-fraction must be in (0, 1); got {f}.");
        }
        if (o.ValidationFraction is not null && o.ValidationData is not null)
        {
            throw new FineTuneException("Give either validation-data or validation-fraction, not both.");
        }
        if (o.MaxLength is { } ml && ml < 2)
        {
            throw new FineTuneException($"max-length must be at least 2; got {ml}.");
        }
        if (o.EarlyStoppingPatience is { } p && p < 1)
        {
            throw new FineTuneException($"early-stopping-patience must be at least 1; got {p}.");
        }
        _ = ModelFolder.ParseWeights(o.Weights);
        return o;
    }

    private static void Positive(long value, string name)
    {
        if (value < 1)
        {
            throw new FineTuneException($"{name} must be at least 1; got {value}.");
        }
    }

    /// <summary>The adapter configuration the settings describe, with the architecture's usual targets when none are given.</summary>
    public static AdapterConfig AdapterConfigFor(FineTuneOptions o, PretrainedModel model, FineTuneTask task)
    {
        string modelType = model.Config.ModelType ?? "";
        string method = o.Method.ToLowerInvariant();
        IReadOnlyList<string>? modulesToSave = o.ModulesToSave ?? (task == FineTuneTask.SequenceClassification ? model.OutputHeads : null);
        if (modulesToSave is { Count: 0 })
        {
            modulesToSave = null;
        }
        string taskType = ModelFolder.TaskType(task);
        string basePath = Path.GetFullPath(o.Model ?? "");
        if (method == "ia3")
        {
            IReadOnlyList<string>? targets = o.TargetModules;
            IReadOnlyList<string>? ff = o.FeedforwardModules;
            if (targets is null)
            {
                if (!Ia3Targets.TryGetValue(modelType, out var d))
                {
                    throw new FineTuneException($"target-modules: no IA3 default for model_type \"{modelType}\"; pass --target-modules and --feedforward-modules.");
                }
                targets = d.Targets;
                ff ??= d.Feedforward;
            }
            return new Ia3Config
            {
                TargetModules = Selector(targets),
                FeedforwardModules = ff is null or { Count: 0 } ? null : Selector(ff),
                ModulesToSave = modulesToSave,
                TaskType = taskType,
                BaseModelNameOrPath = basePath,
            };
        }
        var loraTargets = o.TargetModules ?? (LoraTargets.TryGetValue(modelType, out var t) ? t : [ModuleSelector.AllLinear]);
        return new LoraConfig
        {
            R = o.R,
            LoraAlpha = o.Alpha,
            LoraDropout = o.Dropout,
            UseDora = method == "dora",
            TargetModules = Selector(loraTargets),
            ModulesToSave = modulesToSave,
            TaskType = taskType,
            BaseModelNameOrPath = basePath,
        };
    }

    private static ModuleSelector Selector(IReadOnlyList<string> names) =>
        names.Count == 1 && string.Equals(names[0], ModuleSelector.AllLinear, StringComparison.OrdinalIgnoreCase)
            ? ModuleSelector.Regex(ModuleSelector.AllLinear)
            : ModuleSelector.List([.. names]);

    /// <summary>A one-line description of an adapter configuration.</summary>
    public static string Describe(AdapterConfig c) => c switch
    {
        LoraConfig l => string.Create(CultureInfo.InvariantCulture, $"{(l.UseDora ? "DoRA" : "LoRA")} r={l.R} alpha={l.LoraAlpha:g} dropout={l.LoraDropout:g} targets {l.TargetModules}")
            + (l.ModulesToSave is { Count: > 0 } m ? $", modules_to_save [{string.Join(", ", m)}]" : ""),
        Ia3Config i => $"IA3 targets {i.TargetModules}, feedforward {i.FeedforwardModules?.ToString() ?? "none"}"
            + (i.ModulesToSave is { Count: > 0 } m ? $", modules_to_save [{string.Join(", ", m)}]" : ""),
        _ => $"{c.PeftType} targets {c.TargetModules}",
    };

    /// <summary>Every random generator that training draws from (dropout), by a stable name, so checkpoints restore them.</summary>
    private static Dictionary<string, Rng> Generators(PeftModel peft)
    {
        var rngs = new Dictionary<string, Rng>(StringComparer.Ordinal);
        foreach (var (path, layer) in peft.AdapterLayers())
        {
            if (layer is LoraLayer lora)
            {
                foreach (var name in lora.AdapterNames)
                {
                    if (lora.Adapter(name).DropoutRng is { } rng)
                    {
                        rngs[$"{path}.lora_dropout.{name}"] = rng;
                    }
                }
            }
        }
        foreach (var (path, module) in peft.Model.NamedModules())
        {
            if (module is Dropout { P: > 0 } d)
            {
                rngs[path] = d.Generator;
            }
        }
        return rngs;
    }

    private static int? MaxPositions(PretrainedModel model) =>
        model.Config.GetIntOrNull("max_position_embeddings") ?? model.Config.GetIntOrNull("n_positions");

    private static void LogData(Action<string> log, TrainingDataReport r)
    {
        var parts = new List<string> { $"{r.TrainExamples:N0} training and {r.ValidationExamples:N0} validation examples ({r.Format})", $"{r.TrainTokens:N0} tokens" };
        if (r.PackedTrainRows is { } rows)
        {
            parts.Add($"packed into {rows:N0} rows");
        }
        if (r.TruncatedExamples > 0)
        {
            parts.Add($"{r.TruncatedExamples:N0} truncated");
        }
        if (r.DroppedWithoutLabels > 0)
        {
            parts.Add($"{r.DroppedWithoutLabels:N0} dropped without a token to learn");
        }
        log("data: " + string.Join(", ", parts));
        if (r.SkippedLines > 0)
        {
            log($"data: skipped {r.SkippedLines:N0} malformed line(s); first: {r.Problems.FirstOrDefault()?.Message}");
        }
    }
}
