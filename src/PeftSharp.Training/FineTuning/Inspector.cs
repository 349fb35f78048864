using System.Text.RegularExpressions;
using PeftSharp.Models;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Formats;
using PeftSharp.Peft.Methods.Ia3;
using PeftSharp.Peft.Methods.Lora;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Training.FineTuning;

/// <summary>Tensors sharing one name pattern (layer indices replaced by "*"), e.g. model.layers.*.self_attn.q_proj.weight.</summary>
public sealed record TensorGroup(string Pattern, int Tensors, long Parameters, string Shape);

/// <summary>A model folder as read from config.json and the safetensors headers (no weights are loaded).</summary>
public sealed record ModelInfo(string Path, string Architecture, string? ModelType, int? Layers, int? Hidden, int? Heads, int? KvHeads,
    int? Intermediate, int? Vocab, int? MaxPositions, long Parameters, IReadOnlyDictionary<string, long> ParametersByDType, IReadOnlyList<TensorGroup> Groups);

/// <summary>An adapter folder as read from adapter_config.json and adapter_model.safetensors.</summary>
public sealed record AdapterInfo(string Path, string PeftType, string Summary, string? TaskType, string? BaseModel, int? R, double? Alpha,
    string Targets, IReadOnlyList<string> ModulesToSave, int Tensors, long Parameters);

/// <summary>Which modules of a model an adapter configuration adapts, and what would train.</summary>
/// <param name="Summary">The configuration in one line.</param>
/// <param name="Targets">Adapted modules: path and what the module is.</param>
/// <param name="ModulesToSave">Modules trained in full.</param>
/// <param name="Trainable">Trainable parameters of the adapter (+ saved modules) and all parameters.</param>
/// <param name="Error">Why the configuration does not fit the model (then the lists are empty), or null.</param>
public sealed record TargetingInfo(string Summary, IReadOnlyList<(string Path, string Module)> Targets, IReadOnlyList<string> ModulesToSave,
    TrainableReport Trainable, string? Error);

/// <summary>Everything <c>peft inspect</c> shows; the parts that do not apply are null.</summary>
public sealed record InspectReport(ModelInfo? Model, AdapterInfo? Adapter, TargetingInfo? Targeting);

/// <summary>What to inspect.</summary>
public sealed record InspectOptions
{
    /// <summary>A model folder or an adapter folder.</summary>
    public required string Path { get; init; }

    /// <summary>With an adapter: the base model to check it against. With a model path it is ignored.</summary>
    public string? Model { get; init; }

    /// <summary>An adapter_config.json (or its folder) whose targeting to show on the model.</summary>
    public string? Config { get; init; }

    /// <summary>Instead of <see cref="Config"/>: a method (lora, dora, ia3) with <see cref="Targets"/> (default: the architecture's usual ones).</summary>
    public string? Method { get; init; }

    public IReadOnlyList<string>? Targets { get; init; }

    public int R { get; init; } = 8;
}

/// <summary>Reads model and adapter folders for <c>peft inspect</c>.</summary>
public static partial class Inspector
{
    /// <summary>Inspects a model folder (architecture, sizes, parameters by tensor group and dtype) or an adapter folder.</summary>
    /// <exception cref="FineTuneException">The path holds neither config.json nor adapter_config.json, or options conflict.</exception>
    public static InspectReport Run(InspectOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (!Directory.Exists(o.Path))
        {
            throw new FineTuneException($"The folder '{o.Path}' does not exist; pass a model folder (config.json) or an adapter folder (adapter_config.json).");
        }
        if (o.Config is not null && o.Method is not null)
        {
            throw new FineTuneException("Give either --config or --method, not both.");
        }
        bool isAdapter = File.Exists(System.IO.Path.Combine(o.Path, AdapterConfig.FileName));
        bool isModel = File.Exists(System.IO.Path.Combine(o.Path, HfConfig.FileName));
        if (isAdapter)
        {
            var adapter = ReadAdapter(o.Path);
            if (o.Model is null)
            {
                return new InspectReport(null, adapter, null);
            }
            var model = ReadModel(o.Model);
            return new InspectReport(model, adapter, Fit(o.Model, o.Path));
        }
        if (!isModel)
        {
            throw new FineTuneException($"'{o.Path}' holds neither config.json (a model folder) nor adapter_config.json (an adapter folder).");
        }
        var info = ReadModel(o.Path);
        TargetingInfo? targeting = null;
        if (o.Config is not null || o.Method is not null)
        {
            targeting = Targeting(o.Path, o);
        }
        return new InspectReport(info, null, targeting);
    }

    /// <summary>Reads config.json and the tensor headers of a model folder.</summary>
    public static ModelInfo ReadModel(string directory)
    {
        if (!File.Exists(System.IO.Path.Combine(directory, HfConfig.FileName)))
        {
            throw new FineTuneException($"model: '{directory}' has no config.json.");
        }
        var c = HfConfig.Load(directory);
        using var checkpoint = SafetensorsCheckpoint.Open(directory);
        var byDType = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var groups = new List<(string Pattern, int Tensors, long Parameters, string Shape)>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        long total = 0;
        foreach (var e in checkpoint.Tensors)
        {
            long n = e.ElementCount;
            total += n;
            var dtype = e.DType.ToString();
            byDType[dtype] = byDType.GetValueOrDefault(dtype) + n;
            var pattern = LayerIndex().Replace(e.Name, ".*.");
            if (index.TryGetValue(pattern, out int i))
            {
                var g = groups[i];
                groups[i] = (g.Pattern, g.Tensors + 1, g.Parameters + n, g.Shape);
            }
            else
            {
                index[pattern] = groups.Count;
                groups.Add((pattern, 1, n, e.ShapeText));
            }
        }
        int? Get(params string[] keys) => keys.Select(k => c.GetIntOrNull(k)).FirstOrDefault(v => v is not null);
        return new ModelInfo(System.IO.Path.GetFullPath(directory), c.Architecture ?? "(none)", c.ModelType,
            Get("num_hidden_layers", "n_layer"), Get("hidden_size", "n_embd"), Get("num_attention_heads", "n_head"), Get("num_key_value_heads"),
            Get("intermediate_size", "n_inner"), Get("vocab_size"), Get("max_position_embeddings", "n_positions"), total, byDType,
            groups.Select(g => new TensorGroup(g.Pattern, g.Tensors, g.Parameters, g.Shape)).ToArray());
    }

    /// <summary>Reads adapter_config.json and the adapter's tensor header.</summary>
    public static AdapterInfo ReadAdapter(string directory)
    {
        var config = AdapterConfig.Load(directory);
        int tensors = 0;
        long parameters = 0;
        var weights = System.IO.Path.Combine(directory, AdapterFiles.WeightsFileName);
        if (File.Exists(weights))
        {
            using var file = SafetensorsFile.Open(weights);
            tensors = file.Tensors.Count;
            parameters = file.Tensors.Sum(t => t.ElementCount);
        }
        var (r, alpha) = config is LoraConfig l ? ((int?)l.R, (double?)l.LoraAlpha) : (null, null);
        return new AdapterInfo(System.IO.Path.GetFullPath(directory), config.PeftType + (config is LoraConfig { UseDora: true } ? " (DoRA)" : ""),
            FineTuner.Describe(config), config.TaskType, config.BaseModelNameOrPath, r, alpha, config.TargetModules?.ToString() ?? "(none)",
            config.ModulesToSave ?? [], tensors, parameters);
    }

    /// <summary>Loads the adapter onto the model's architecture (random weights: only names and shapes matter).</summary>
    private static TargetingInfo Fit(string modelDirectory, string adapterDirectory)
    {
        var model = AutoModel.FromConfig(HfConfig.Load(modelDirectory));
        var config = AdapterConfig.Load(adapterDirectory);
        try
        {
            var peft = ModelFolder.AttachAdapters(model, [adapterDirectory])!;
            return Describe(peft, config, model);
        }
        catch (Exception e) when (e is AdapterLoadException or AdapterConfigException or NotSupportedException or InvalidDataException)
        {
            return new TargetingInfo(FineTuner.Describe(config), [], [], default, e.Message);
        }
    }

    private static TargetingInfo Targeting(string modelDirectory, InspectOptions o)
    {
        var model = AutoModel.FromConfig(HfConfig.Load(modelDirectory));
        AdapterConfig config;
        if (o.Config is not null)
        {
            var dir = Directory.Exists(o.Config) ? o.Config : System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(o.Config))!;
            config = File.Exists(o.Config) ? AdapterConfig.Parse(File.ReadAllText(o.Config)) : AdapterConfig.Load(dir);
        }
        else
        {
            FineTuneTask task;
            try
            {
                task = ModelFolder.TaskOf(model);
            }
            catch (FineTuneException)
            {
                task = FineTuneTask.CausalLanguageModeling;
            }
            var options = new FineTuneOptions { Model = modelDirectory, Method = o.Method!, TargetModules = o.Targets, R = o.R };
            if (o.Method!.ToLowerInvariant() is not ("lora" or "dora" or "ia3"))
            {
                throw new FineTuneException($"method: '{o.Method}' is not lora, dora or ia3.");
            }
            config = FineTuner.AdapterConfigFor(options, model, task);
        }
        config = config with { InferenceMode = false };
        try
        {
            var peft = PeftModel.Create(model, config, options: new PeftModelOptions { OutputHeadNames = model.OutputHeads.Count > 0 ? model.OutputHeads : new PeftModelOptions().OutputHeadNames });
            return Describe(peft, config, model);
        }
        catch (Exception e) when (e is AdapterConfigException or NotSupportedException)
        {
            return new TargetingInfo(FineTuner.Describe(config), [], [], default, e.Message);
        }
    }

    private static TargetingInfo Describe(PeftModel peft, AdapterConfig config, PretrainedModel _)
    {
        var targets = peft.AdapterLayers().Select(t => (t.Path, t.Layer.BaseLayer.Describe())).ToArray();
        var saved = peft.SavedModules().Select(s => s.Path).ToArray();
        long adapterParams = peft.NamedParameters().Where(p => p.Name.Contains(".lora_", StringComparison.Ordinal) || p.Name.Contains(".ia3_", StringComparison.Ordinal)
            || p.Name.Contains("." + ModulesToSaveWrapper.CopiesName + ".", StringComparison.Ordinal)).Sum(p => (long)p.Parameter.Numel);
        var report = peft.GetTrainableReport();
        // A loaded adapter is frozen; report what it would train.
        var trainable = report.Trainable > 0 ? report : new TrainableReport(adapterParams, report.Total);
        return new TargetingInfo(FineTuner.Describe(config), targets, saved, trainable, null);
    }

    [GeneratedRegex(@"\.\d+\.")]
    private static partial Regex LayerIndex();
}
