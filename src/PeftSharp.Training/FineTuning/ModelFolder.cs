using PeftSharp.Models;
using PeftSharp.Models.Bert;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;
using PeftSharp.Text.Templates;
using PeftSharp.Text.Tokenization;

namespace PeftSharp.Training.FineTuning;

/// <summary>What a model is trained or evaluated for.</summary>
public enum FineTuneTask
{
    /// <summary>Next-token prediction (a causal language model).</summary>
    CausalLanguageModeling,

    /// <summary>One class per text (a sequence-classification model).</summary>
    SequenceClassification,
}

/// <summary>Loading a model folder, its tokenizer and adapters, with errors that say what to do.</summary>
public static class ModelFolder
{
    /// <summary>Parses "f32" / "bf16".</summary>
    /// <exception cref="FineTuneException">Another value.</exception>
    public static DType ParseWeights(string weights) => weights.ToLowerInvariant() switch
    {
        "f32" or "float32" => DType.F32,
        "bf16" or "bfloat16" => DType.BF16,
        _ => throw new FineTuneException($"weights: '{weights}' is not f32 or bf16."),
    };

    /// <summary>Loads config.json + weights from <paramref name="directory"/>.</summary>
    /// <exception cref="FineTuneException">The folder or its config.json is missing.</exception>
    public static PretrainedModel Load(string directory, DType weights = DType.F32)
    {
        if (!Directory.Exists(directory))
        {
            throw new FineTuneException($"model: the folder '{directory}' does not exist; pass a Hugging Face model folder (config.json + model.safetensors).");
        }
        if (!File.Exists(Path.Combine(directory, HfConfig.FileName)))
        {
            throw new FineTuneException($"model: '{directory}' has no config.json; pass a Hugging Face model folder (config.json + model.safetensors).");
        }
        return AutoModel.FromPretrained(directory, new LoadOptions { WeightsDType = weights });
    }

    /// <summary>The task a model is built for.</summary>
    /// <exception cref="FineTuneException">The model has no head to train (e.g. a bare encoder).</exception>
    public static FineTuneTask TaskOf(PretrainedModel model) => model switch
    {
        CausalLanguageModel => FineTuneTask.CausalLanguageModeling,
        BertForSequenceClassification => FineTuneTask.SequenceClassification,
        _ => throw new FineTuneException($"model: a {model.ArchitectureName} has no language-modelling or classification head; use a *ForCausalLM / *LMHeadModel or *ForSequenceClassification model."),
    };

    /// <summary>Hugging Face's task_type for a task.</summary>
    public static string TaskType(FineTuneTask task) => task == FineTuneTask.SequenceClassification ? "SEQ_CLS" : "CAUSAL_LM";

    /// <summary>Loads tokenizer.json (and tokenizer_config.json when present) from <paramref name="directory"/>.</summary>
    /// <exception cref="FineTuneException">No tokenizer.json there.</exception>
    public static (Tokenizer Tokenizer, TokenizerConfig? Config) LoadTokenizer(string directory, bool explicitFolder)
    {
        if (!File.Exists(Path.Combine(directory, "tokenizer.json")))
        {
            throw new FineTuneException(explicitFolder
                ? $"tokenizer: '{directory}' has no tokenizer.json."
                : $"model: '{directory}' has no tokenizer.json; pass --tokenizer DIR with the folder that holds it.");
        }
        var tokenizer = Tokenizer.FromDirectory(directory);
        var configPath = Path.Combine(directory, "tokenizer_config.json");
        return (tokenizer, File.Exists(configPath) ? TokenizerConfig.Load(configPath) : null);
    }

    /// <summary>
    /// Loads adapter folders onto <paramref name="model"/> (frozen, for inference) and activates all of them; the first
    /// is named "default", the others "adapter1", "adapter2", ... Returns null when there are none.
    /// </summary>
    /// <exception cref="FineTuneException">A folder does not exist or holds no adapter_config.json.</exception>
    public static PeftModel? AttachAdapters(PretrainedModel model, IReadOnlyList<string> adapterDirectories)
    {
        if (adapterDirectories.Count == 0)
        {
            return null;
        }
        PeftModel? peft = null;
        var names = new List<string>();
        var options = new PeftModelOptions { OutputHeadNames = model.OutputHeads.Count > 0 ? model.OutputHeads : new PeftModelOptions().OutputHeadNames };
        for (int i = 0; i < adapterDirectories.Count; i++)
        {
            var dir = adapterDirectories[i];
            if (!File.Exists(Path.Combine(dir, AdapterConfig.FileName)))
            {
                throw new FineTuneException(Directory.Exists(dir)
                    ? $"adapter: '{dir}' has no {AdapterConfig.FileName}; pass the folder written by training (e.g. <output>/adapter)."
                    : $"adapter: the folder '{dir}' does not exist.");
            }
            string name = i == 0 ? PeftModel.DefaultAdapterName : $"adapter{i}";
            if (peft is null)
            {
                peft = PeftModel.FromPretrained(model, dir, name, options: options);
            }
            else
            {
                peft.LoadAdapter(dir, name);
            }
            names.Add(name);
        }
        peft!.SetAdapters([.. names]);
        return peft;
    }

    /// <summary>Number of labels of a classification model.</summary>
    public static int NumLabels(PretrainedModel model) => model is BertForSequenceClassification b ? b.NumLabels : 0;

    /// <summary>
    /// The label names a classifier was configured with (config.json id2label), or null when they are the generic
    /// LABEL_0, LABEL_1, ... that transformers writes when none were given.
    /// </summary>
    public static IReadOnlyList<string>? LabelNames(PretrainedModel model)
    {
        if (model.Config.Json["id2label"] is not System.Text.Json.Nodes.JsonObject map || map.Count == 0)
        {
            return null;
        }
        var names = new string[map.Count];
        foreach (var (key, value) in map)
        {
            if (!int.TryParse(key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id) || id >= names.Length)
            {
                return null;
            }
            names[id] = value?.GetValue<string>() ?? "";
        }
        bool generic = names.Select((n, i) => n == $"LABEL_{i}").All(x => x);
        return generic ? null : names;
    }
}
