using PeftSharp.Nn;
using PeftSharp.Peft.Formats;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Core;

/// <summary>Options of a <see cref="PeftModel"/>.</summary>
public sealed record PeftModelOptions
{
    /// <summary>Last name components of output heads that "all-linear" leaves out (Hugging Face: the output embedding).</summary>
    public IReadOnlyList<string> OutputHeadNames { get; init; } = ["lm_head"];

    /// <summary>Seed of the generator that initialises adapters and DARE masks.</summary>
    public ulong Seed { get; init; }
}

/// <summary>
/// A base model with adapters, laid out as Hugging Face PEFT lays it out: this module's child "base_model" holds the
/// wrapped model as "model", so parameter names read "base_model.model.&lt;module&gt;.lora_A.&lt;adapter&gt;.weight". The base
/// model's own parameters are frozen; the active adapters' tensors train unless they were loaded for inference.
/// </summary>
public sealed partial class PeftModel : Module
{
    public const string BaseModelName = "base_model";
    public const string ModelName = "model";
    public const string DefaultAdapterName = "default";

    /// <summary>The prefix of every key in an adapter file.</summary>
    public const string KeyPrefix = BaseModelName + "." + ModelName + ".";

    private readonly List<string> _order = new();
    private readonly Dictionary<string, AdapterConfig> _configs = new(StringComparer.Ordinal);
    private readonly Rng _rng;
    private PeftMethod? _method;

    private PeftModel(Module model, PeftModelOptions options)
    {
        Options = options;
        _rng = new Rng(options.Seed);
        model.RequiresGrad(false);
        var tuner = new TunerModel();
        tuner.AddChild(ModelName, model);
        RegisterModule(BaseModelName, tuner);
        Train(model.Training);
    }

    /// <summary>Holds the wrapped model under the name "model".</summary>
    private sealed class TunerModel : Module
    {
        public override Tensor Forward(Tensor input) => Child(ModelName).Forward(input);
    }

    public PeftModelOptions Options { get; }

    /// <summary>The wrapped model (its adapted layers replaced by adapter layers).</summary>
    public Module Model => Child(BaseModelName).Child(ModelName);

    /// <summary>The active set, disable flag and per-row names every adapter layer of this model follows.</summary>
    public AdapterSelection Selection { get; } = new();

    /// <summary>The method of this model's adapters (null before the first adapter).</summary>
    public PeftMethod? Method => _method;

    /// <summary>Adapter names in the order they were added.</summary>
    public IReadOnlyList<string> AdapterNames => _order;

    /// <summary>The configuration of each adapter.</summary>
    public IReadOnlyDictionary<string, AdapterConfig> Configs => _configs;

    /// <summary>The active adapters.</summary>
    public IReadOnlyList<string> ActiveAdapters => Selection.Active;

    /// <summary>Wraps <paramref name="model"/> and adds a first adapter (Hugging Face's get_peft_model).</summary>
    public static PeftModel Create(Module model, AdapterConfig config, string adapterName = DefaultAdapterName, PeftModelOptions? options = null)
    {
        var pm = new PeftModel(model, options ?? new PeftModelOptions());
        pm.AddAdapter(adapterName, config);
        return pm;
    }

    /// <summary>
    /// Wraps <paramref name="model"/> and loads the adapter saved in <paramref name="directory"/> (adapter_config.json +
    /// adapter_model.safetensors), as Hugging Face's PeftModel.from_pretrained. Frozen unless <paramref name="isTrainable"/>.
    /// </summary>
    /// <exception cref="AdapterLoadException">The files do not fit the model (missing modules, wrong shapes).</exception>
    public static PeftModel FromPretrained(Module model, string directory, string adapterName = DefaultAdapterName, bool isTrainable = false, PeftModelOptions? options = null)
    {
        var pm = new PeftModel(model, options ?? new PeftModelOptions());
        pm.LoadAdapter(directory, adapterName, isTrainable);
        return pm;
    }

    public override Tensor Forward(Tensor input)
    {
        CheckRows(input);
        return Model.Forward(input);
    }

    /// <summary>
    /// One adapter name (or <see cref="AdapterSelection.BaseRow"/>) per batch row for the next forward passes: row i then
    /// gets exactly the output it would get alone with only that adapter active. Null restores normal batches.
    /// </summary>
    public IReadOnlyList<string>? RowAdapterNames
    {
        get => Selection.RowAdapters;
        set
        {
            if (value is not null)
            {
                var unknown = value.Where(n => n != AdapterSelection.BaseRow && !_configs.ContainsKey(n)).Distinct().ToArray();
                if (unknown.Length > 0)
                {
                    throw new ArgumentException($"Unknown adapter(s) [{string.Join(", ", unknown)}] in per-row names; the model has [{string.Join(", ", _order)}] and \"{AdapterSelection.BaseRow}\".");
                }
                value = value.ToArray();
            }
            Selection.RowAdapters = value;
        }
    }

    private void CheckRows(Tensor input)
    {
        if (Selection.RowAdapters is { } rows && (input.Rank == 0 || input.Dim(0) != rows.Count))
        {
            throw new ArgumentException($"The batch has {(input.Rank == 0 ? 0 : input.Dim(0))} rows but RowAdapterNames names {rows.Count}.");
        }
    }

    /// <summary>Adds an adapter: wraps every module the configuration targets (or extends existing adapter layers).</summary>
    /// <exception cref="AdapterConfigException">The configuration is invalid or matches no module.</exception>
    public void AddAdapter(string name, AdapterConfig config)
    {
        CheckNewName(name);
        config.Validate();
        var method = PeftMethods.Find(config.PeftType) ?? throw new AdapterConfigException(AdapterConfig.PeftTypeField, $"\"{config.PeftType}\" is not registered.");
        if (_method is not null && _method != method)
        {
            throw new NotSupportedException($"This model holds {_method.PeftType} adapters; a {method.PeftType} adapter cannot be added to it.");
        }
        if (method is Methods.PromptLearning.PromptLearningMethod prompt)
        {
            AddPromptAdapter(name, config, prompt);
            return;
        }
        var targets = TargetSelector.Select(Model, config, method, Options.OutputHeadNames);
        var rng = new Rng(_rng.NextUInt64());
        var layers = new List<(string, AdapterLayer)>(targets.Count);
        foreach (var (path, module) in targets)
        {
            AdapterLayer layer;
            if (module is AdapterLayer existing)
            {
                layer = existing;
            }
            else
            {
                layer = method.Wrap(module, Selection);
                ReplaceAt(path, layer);
            }
            layers.Add((path, layer));
        }
        method.AddAdapter(layers, name, config, rng);
        foreach (var (path, module) in TargetSelector.SelectModulesToSave(Model, config.ModulesToSave))
        {
            var wrapper = module as ModulesToSaveWrapper ?? new ModulesToSaveWrapper(module, Selection);
            if (!ReferenceEquals(wrapper, module))
            {
                ReplaceAt(path, wrapper);
            }
            wrapper.AddCopy(name);
        }
        _method = method;
        _configs[name] = config;
        _order.Add(name);
        if (Selection.Active.Count == 0)
        {
            Selection.Active = [name];
        }
        UpdateTrainable();
    }

    /// <summary>Loads an adapter folder under <paramref name="name"/>.</summary>
    public void LoadAdapter(string directory, string name, bool isTrainable = false)
    {
        var config = AdapterConfig.Load(directory);
        config = config with { InferenceMode = !isTrainable };
        _weightsFollow = true;
        try
        {
            AddAdapter(name, config);
        }
        finally
        {
            _weightsFollow = false;
        }
        try
        {
            AdapterFiles.LoadWeights(this, name, Path.Combine(directory, AdapterFiles.WeightsFileName));
        }
        catch
        {
            DeleteAdapter(name);
            throw;
        }
        UpdateTrainable();
    }

    private void CheckNewName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.') || name == AdapterSelection.BaseRow)
        {
            throw new ArgumentException($"Adapter names must be non-empty, contain no '.' and not be \"{AdapterSelection.BaseRow}\"; got \"{name}\".");
        }
        if (_configs.ContainsKey(name))
        {
            throw new ArgumentException($"Adapter \"{name}\" already exists.");
        }
    }

    private void ReplaceAt(string path, Module replacement)
    {
        int dot = path.LastIndexOf('.');
        var parent = dot < 0 ? Model : Model.Get(path[..dot]);
        parent.ReplaceChild(path[(dot + 1)..], replacement);
    }

    /// <summary>Makes <paramref name="name"/> the only active adapter.</summary>
    public void SetAdapter(string name) => SetAdapters(name);

    /// <summary>Activates several adapters at once; their outputs add (IA3: their vectors multiply).</summary>
    public void SetAdapters(params string[] names)
    {
        if (names.Length == 0)
        {
            throw new ArgumentException("At least one adapter must be active; use DisableAdapters() to run the base model.");
        }
        foreach (var n in names)
        {
            if (!_configs.ContainsKey(n))
            {
                throw new KeyNotFoundException($"No adapter \"{n}\"; the model has [{string.Join(", ", _order)}].");
            }
        }
        Selection.Active = names;
        UpdateTrainable();
    }

    /// <summary>A scope in which every adapted layer computes its base module only (merged adapters are unmerged).</summary>
    public DisableScope DisableAdapters()
    {
        bool previous = Selection.Disabled;
        Selection.Disabled = true;
        return new DisableScope(this, previous);
    }

    /// <summary>Re-enables adapters when disposed.</summary>
    public readonly struct DisableScope : IDisposable
    {
        private readonly PeftModel _model;
        private readonly bool _previous;

        internal DisableScope(PeftModel model, bool previous)
        {
            _model = model;
            _previous = previous;
        }

        public void Dispose() => _model.Selection.Disabled = _previous;
    }

    /// <summary>Removes an adapter everywhere; layers left without adapters are replaced by their base modules.</summary>
    public void DeleteAdapter(string name)
    {
        if (!_configs.ContainsKey(name))
        {
            throw new KeyNotFoundException($"No adapter \"{name}\"; the model has [{string.Join(", ", _order)}].");
        }
        foreach (var (path, layer) in AdapterLayers().ToArray())
        {
            if (layer.HasAdapter(name))
            {
                layer.DeleteAdapter(name);
            }
            if (layer.AdapterNames.Count == 0)
            {
                ReplaceAt(path, layer.BaseLayer);
            }
        }
        foreach (var (path, wrapper) in SavedModules().ToArray())
        {
            if (wrapper.HasCopy(name))
            {
                wrapper.DeleteCopy(name);
            }
            if (wrapper.AdapterNames.Count == 0)
            {
                ReplaceAt(path, wrapper.Original);
            }
        }
        RemovePromptEncoder(name);
        _configs.Remove(name);
        _order.Remove(name);
        Selection.Active = Selection.Active.Where(a => a != name).ToArray();
        if (Selection.Active.Count == 0 && _order.Count > 0)
        {
            Selection.Active = [_order[0]];
        }
        if (_order.Count == 0)
        {
            _method = null;
        }
        UpdateTrainable();
    }

    /// <summary>Every adapter layer with its path relative to <see cref="Model"/>.</summary>
    public IEnumerable<(string Path, AdapterLayer Layer)> AdapterLayers() =>
        TargetSelector.LogicalModules(Model).Where(t => t.Module is AdapterLayer).Select(t => (t.Path, (AdapterLayer)t.Module));

    /// <summary>Every modules_to_save wrapper with its path relative to <see cref="Model"/>.</summary>
    public IEnumerable<(string Path, ModulesToSaveWrapper Wrapper)> SavedModules() =>
        TargetSelector.LogicalModules(Model).Where(t => t.Module is ModulesToSaveWrapper).Select(t => (t.Path, (ModulesToSaveWrapper)t.Module));

    /// <summary>
    /// Recomputes which tensors train: the active adapters' tensors and copies (unless loaded for inference), and
    /// biases as the active configuration's bias mode says; everything else of the base model stays frozen.
    /// </summary>
    private void UpdateTrainable()
    {
        foreach (var (_, p) in Model.NamedParameters())
        {
            if (p.RequiresGrad)
            {
                p.RequiresGrad = false;
            }
        }
        foreach (var (_, layer) in AdapterLayers())
        {
            foreach (var n in layer.AdapterNames)
            {
                layer.SetTrainable(n, IsTrainable(n));
            }
        }
        foreach (var (_, w) in SavedModules())
        {
            foreach (var n in w.AdapterNames)
            {
                foreach (var p in w.CopyParameters(n))
                {
                    p.Value.RequiresGrad = IsTrainable(n);
                }
            }
        }
        foreach (var n in Selection.Active)
        {
            if (!IsTrainable(n) || _method is null)
            {
                continue;
            }
            switch (_method.BiasMode(_configs[n]))
            {
                case "all":
                    foreach (var (name, p) in Model.NamedParameters())
                    {
                        if (name.EndsWith(".bias", StringComparison.Ordinal) && p.DType == DType.F32 && !name.Contains("." + ModulesToSaveWrapper.CopiesName + ".", StringComparison.Ordinal))
                        {
                            p.RequiresGrad = true;
                        }
                    }
                    break;
                case "lora_only":
                    foreach (var (_, layer) in AdapterLayers())
                    {
                        if (layer.HasAdapter(n) && BaseWeights.BiasOf(layer.BaseLayer) is { DType: DType.F32 } b)
                        {
                            b.RequiresGrad = true;
                        }
                    }
                    break;
            }
        }
        UpdatePromptTrainable();
    }

    private bool IsTrainable(string adapter) => Selection.Active.Contains(adapter) && !_configs[adapter].InferenceMode;

    /// <summary>Trainable parameters with their Hugging Face names ("base_model.model.…lora_A.default.weight").</summary>
    public IEnumerable<(string Name, Tensor Parameter)> NamedTrainableParameters() => NamedParameters().Where(p => p.Parameter.RequiresGrad);

    /// <summary>Counts of trainable and all parameters (Hugging Face's print_trainable_parameters).</summary>
    public TrainableReport GetTrainableReport()
    {
        long trainable = 0, total = 0;
        foreach (var (_, p) in NamedParameters())
        {
            total += p.Numel;
            if (p.RequiresGrad)
            {
                trainable += p.Numel;
            }
        }
        return new TrainableReport(trainable, total);
    }

    /// <summary>Saves every adapter (or the named ones) in the Hugging Face layout: "default" in the folder, others in sub-folders.</summary>
    public void SavePretrained(string directory, IEnumerable<string>? adapters = null) => AdapterFiles.Save(this, directory, adapters?.ToArray() ?? _order.ToArray());

    /// <summary>The tensors Hugging Face writes to adapter_model.safetensors for <paramref name="adapter"/>, by file key.</summary>
    public IReadOnlyDictionary<string, Tensor> AdapterStateDict(string adapter) =>
        AdapterFiles.Entries(this, adapter).ToDictionary(e => e.Key, e => e.Tensor, StringComparer.Ordinal);
}

/// <summary>Trainable and total parameter counts.</summary>
public readonly record struct TrainableReport(long Trainable, long Total)
{
    public double Percent => Total == 0 ? 0 : 100.0 * Trainable / Total;

    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"trainable params: {Trainable:N0} || all params: {Total:N0} || trainable%: {Percent:0.0000}");
}
