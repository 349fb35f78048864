using System.Text.Json.Nodes;

namespace PeftSharp.Peft.Core;

/// <summary>
/// The configuration of one adapter, as stored in adapter_config.json. Subclasses add their method's fields.
/// Every field this library does not model is kept in <see cref="Preserved"/> and written back unchanged, so a
/// file round-trips. Instances are immutable; derive variations with <c>with</c>.
/// </summary>
public abstract record AdapterConfig
{
    public const string FileName = "adapter_config.json";

    internal const string PeftTypeField = "peft_type";
    internal const string TaskTypeField = "task_type";
    internal const string BaseModelField = "base_model_name_or_path";
    internal const string InferenceModeField = "inference_mode";
    internal const string TargetModulesField = "target_modules";
    internal const string ExcludeModulesField = "exclude_modules";
    internal const string ModulesToSaveField = "modules_to_save";
    internal const string FanInFanOutField = "fan_in_fan_out";
    internal const string LayersToTransformField = "layers_to_transform";
    internal const string LayersPatternField = "layers_pattern";

    /// <summary>The Hugging Face method name ("LORA", "IA3", ...).</summary>
    public abstract string PeftType { get; }

    /// <summary>task_type, e.g. "CAUSAL_LM" or "SEQ_CLS" (null when not set).</summary>
    public string? TaskType { get; init; }

    /// <summary>base_model_name_or_path.</summary>
    public string? BaseModelNameOrPath { get; init; }

    /// <summary>inference_mode: the adapter was saved or loaded for inference (its parameters are frozen).</summary>
    public bool InferenceMode { get; init; }

    /// <summary>target_modules: which modules get an adapter (list, regex or "all-linear").</summary>
    public ModuleSelector? TargetModules { get; init; }

    /// <summary>exclude_modules: modules never adapted, checked before target_modules.</summary>
    public ModuleSelector? ExcludeModules { get; init; }

    /// <summary>modules_to_save: modules replaced by a trainable copy saved with the adapter.</summary>
    public IReadOnlyList<string>? ModulesToSave { get; init; }

    /// <summary>fan_in_fan_out: the targeted layers store their weight (in, out). Layers that say so themselves
    /// (<see cref="Nn.ILinearLayer.WeightIsTransposed"/>) are handled correctly either way, as Hugging Face does.</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Fields of the file this library does not model, written back unchanged.</summary>
    public JsonObject Preserved { get; init; } = new();

    /// <summary>Whether this method reads layers_to_transform / layers_pattern (written back only then).</summary>
    protected virtual bool HasLayerSelection => false;

    /// <summary>Whether this method's Hugging Face configuration has fan_in_fan_out (written back only then, or when true).</summary>
    protected virtual bool HasFanInFanOut => true;

    /// <summary>Whether this method's Hugging Face configuration has exclude_modules (written back only then, or when set).</summary>
    protected virtual bool HasExcludeModules => true;

    /// <summary>layers_to_transform: only layers with these indices are adapted (list targets only).</summary>
    public IReadOnlyList<int>? LayersToTransform { get; init; }

    /// <summary>layers_pattern: the name of the module list holding the numbered layers (e.g. "layers", "h").</summary>
    public IReadOnlyList<string>? LayersPattern { get; init; }

    /// <summary>Throws <see cref="AdapterConfigException"/> naming the first invalid field.</summary>
    public virtual void Validate()
    {
        if (TargetModules is null)
        {
            throw new AdapterConfigException(TargetModulesField, "is required for " + PeftType + ".");
        }
        if (TargetModules.Names is { Count: 0 })
        {
            throw new AdapterConfigException(TargetModulesField, "is an empty list.");
        }
        if (TargetModules.Pattern is not null && !TargetModules.IsAllLinear && LayersToTransform is { Count: > 0 })
        {
            throw new AdapterConfigException(LayersToTransformField, "cannot be used when target_modules is a regex string.");
        }
        if (TargetModules.Pattern is not null && !TargetModules.IsAllLinear && LayersPattern is { Count: > 0 })
        {
            throw new AdapterConfigException(LayersPatternField, "cannot be used when target_modules is a regex string.");
        }
        if (LayersPattern is { Count: > 0 } && LayersToTransform is null)
        {
            throw new AdapterConfigException(LayersPatternField, "needs layers_to_transform.");
        }
        if (LayersToTransform?.FirstOrDefault(i => i < 0) is < 0 and var bad)
        {
            throw new AdapterConfigException(LayersToTransformField, $"layer index {bad} is negative.");
        }
        if (TargetModules.Pattern is not null)
        {
            _ = PyRegex.FullMatch(TargetModules.Pattern, "");
        }
        if (ExcludeModules?.Pattern is { } ex)
        {
            _ = PyRegex.FullMatch(ex, "");
        }
    }

    /// <summary>Reads the fields every method shares. Call from a subclass reader before its own fields.</summary>
    protected static T ReadCommon<T>(T config, ConfigReader r) where T : AdapterConfig
    {
        var declared = r.String(PeftTypeField);
        if (declared is not null && declared != config.PeftType)
        {
            throw new AdapterConfigException(PeftTypeField, $"is \"{declared}\" but a {config.PeftType} configuration is being read.");
        }
        var layers = config.HasLayerSelection ? r.IntOrIntList(LayersToTransformField) : null;
        IReadOnlyList<string>? pattern = null;
        if (config.HasLayerSelection)
        {
            var raw = r.Raw(LayersPatternField);
            pattern = raw switch
            {
                null => null,
                JsonValue v when v.TryGetValue<string>(out var s) => [s],
                JsonArray a => a.Select(e => e?.GetValue<string>() ?? throw new AdapterConfigException(LayersPatternField, "null entry.")).ToArray(),
                _ => throw new AdapterConfigException(LayersPatternField, $"expected a string or a list of strings; got {raw.ToJsonString()}."),
            };
        }
        return config with
        {
            TaskType = r.String(TaskTypeField),
            BaseModelNameOrPath = r.String(BaseModelField),
            InferenceMode = r.Bool(InferenceModeField, false),
            TargetModules = r.Selector(TargetModulesField),
            ExcludeModules = r.Selector(ExcludeModulesField),
            ModulesToSave = r.StringList(ModulesToSaveField),
            FanInFanOut = r.Bool(FanInFanOutField, false),
            LayersToTransform = layers is { Count: 0 } ? null : layers,
            LayersPattern = pattern,
        };
    }

    /// <summary>Writes the shared fields into a writer started from <see cref="Preserved"/>.</summary>
    protected ConfigWriter WriteCommon()
    {
        var w = new ConfigWriter(Preserved)
            .Set(PeftTypeField, PeftType)
            .Set(TaskTypeField, TaskType)
            .Set(BaseModelField, BaseModelNameOrPath ?? "")
            .Set(InferenceModeField, InferenceMode)
            .Set(TargetModulesField, TargetModules)
            .Set(ModulesToSaveField, ModulesToSave);
        if (HasExcludeModules || ExcludeModules is not null)
        {
            w.Set(ExcludeModulesField, ExcludeModules);
        }
        if (HasFanInFanOut || FanInFanOut)
        {
            w.Set(FanInFanOutField, FanInFanOut);
        }
        if (HasLayerSelection)
        {
            w.Set(LayersToTransformField, LayersToTransform is null ? null : new JsonArray(LayersToTransform.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray()));
            w.Set(LayersPatternField, LayersPattern switch
            {
                null => null,
                { Count: 1 } one => JsonValue.Create(one[0]),
                var many => new JsonArray(many.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
            });
        }
        return w;
    }

    /// <summary>The complete JSON object as Hugging Face PEFT writes it (sorted keys).</summary>
    public abstract JsonObject ToJson();

    /// <summary>The file text: sorted keys, two-space indent.</summary>
    public string ToJsonString() => ToJson().ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true, IndentSize = 2 });

    /// <summary>Reads an adapter_config.json text, dispatching on peft_type through <see cref="PeftMethods"/>.</summary>
    /// <exception cref="AdapterConfigException">The JSON is malformed, peft_type is unknown, or a field is invalid.</exception>
    public static AdapterConfig Parse(string json)
    {
        JsonObject obj;
        try
        {
            obj = JsonNode.Parse(json) as JsonObject ?? throw new AdapterConfigException("(root)", "the file is not a JSON object.");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new AdapterConfigException("(root)", "the file is not valid JSON: " + e.Message);
        }
        var type = new ConfigReader(obj).String(PeftTypeField) ?? throw new AdapterConfigException(PeftTypeField, "is missing.");
        var method = PeftMethods.Find(type) ?? throw new AdapterConfigException(PeftTypeField, $"\"{type}\" is not a supported method; supported: {string.Join(", ", PeftMethods.All.Select(m => m.PeftType))}.");
        var config = method.ReadConfig(obj);
        config.Validate();
        return config;
    }

    /// <summary>Reads <c>adapter_config.json</c> from a folder.</summary>
    public static AdapterConfig Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"No {FileName} in {directory}.", path);
        }
        return Parse(File.ReadAllText(path));
    }
}
