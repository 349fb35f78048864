using PeftSharp.Models.Llama;
using PeftSharp.Nn;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Models;

/// <summary>How to load weights.</summary>
public sealed record LoadOptions
{
    /// <summary>
    /// Storage for frozen matrix weights: F32 (default), or BF16/F16 to halve the memory of a frozen base. Stored
    /// 16-bit weights are kept as they are; float32 weights are narrowed. Norms, biases and embeddings stay float32.
    /// </summary>
    public DType WeightsDType { get; init; } = DType.F32;
}

/// <summary>Builds models from Hugging Face folders and saves them back in the same layout.</summary>
public static class AutoModel
{
    /// <summary>Architectures PeftSharp can build, by config.json architectures / model_type.</summary>
    public static readonly IReadOnlyDictionary<string, Func<HfConfig, PretrainedModel>> Architectures = new Dictionary<string, Func<HfConfig, PretrainedModel>>
    {
        ["LlamaForCausalLM"] = c => new LlamaForCausalLM(c),
        ["MistralForCausalLM"] = c => new LlamaForCausalLM(c),
        ["Qwen2ForCausalLM"] = c => new LlamaForCausalLM(c),
        ["GPT2LMHeadModel"] = c => new Gpt2.Gpt2LMHeadModel(c),
        ["BertModel"] = c => new Bert.BertModel(c),
        ["BertForSequenceClassification"] = c => new Bert.BertForSequenceClassification(c),
    };

    private static readonly Dictionary<string, string> ModelTypeDefaults = new()
    {
        ["llama"] = "LlamaForCausalLM",
        ["mistral"] = "MistralForCausalLM",
        ["qwen2"] = "Qwen2ForCausalLM",
        ["gpt2"] = "GPT2LMHeadModel",
        ["bert"] = "BertModel",
    };

    /// <summary>Builds an untrained model (random weights) from a config.</summary>
    /// <exception cref="NotSupportedException">The architecture is not supported (the message lists those that are).</exception>
    public static PretrainedModel FromConfig(HfConfig config)
    {
        var arch = config.Architecture;
        if (arch is null || !Architectures.ContainsKey(arch))
        {
            if (arch is null && config.ModelType is { } mt && ModelTypeDefaults.TryGetValue(mt, out var byType))
            {
                arch = byType;
            }
            else
            {
                throw new NotSupportedException($"{config.Source}: architecture \"{arch ?? "(none)"}\" (model_type \"{config.ModelType ?? "(none)"}\") is not supported. Supported: {string.Join(", ", Architectures.Keys)}.");
            }
        }
        return Architectures[arch](config);
    }

    /// <summary>Loads config.json and the safetensors weights (single file or sharded index) from a model folder.</summary>
    public static PretrainedModel FromPretrained(string directory, LoadOptions? options = null)
    {
        var config = HfConfig.Load(directory);
        var model = FromConfig(config);
        LoadWeights(model, directory, options ?? new LoadOptions());
        return model;
    }

    /// <summary>
    /// Loads every parameter of <paramref name="model"/> from the folder's checkpoint. Missing keys (other than
    /// tied ones), unexpected keys and shape mismatches are errors naming the key and both shapes.
    /// </summary>
    public static void LoadWeights(PretrainedModel model, string directory, LoadOptions options)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(directory);
        var tied = model.TiedWeights;
        var expected = model.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter, StringComparer.Ordinal);
        var missing = expected.Keys.Where(k => !checkpoint.Contains(k) && !tied.ContainsKey(k)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidDataException($"{directory}: the checkpoint lacks {missing.Count} weight(s) the {model.ArchitectureName} needs: {string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? ", ..." : "")}.");
        }
        var unexpected = checkpoint.Tensors.Select(t => t.Name).Where(n => !expected.ContainsKey(n) && !IsKnownExtra(n)).ToList();
        if (unexpected.Count > 0)
        {
            throw new InvalidDataException($"{directory}: the checkpoint has {unexpected.Count} weight(s) a {model.ArchitectureName} with this config does not have: {string.Join(", ", unexpected.Take(10))}{(unexpected.Count > 10 ? ", ..." : "")}.");
        }
        foreach (var (name, current) in expected)
        {
            if (!checkpoint.Contains(name))
            {
                continue; // tied: re-linked below
            }
            var entry = checkpoint.GetEntry(name);
            var shape = entry.ShapeAsInt32();
            if (!shape.AsSpan().SequenceEqual(current.Shape))
            {
                throw new InvalidDataException($"{directory}: weight {name} has shape {entry.ShapeText} in the checkpoint but the model expects {Shapes.Format(current.Shape)}.");
            }
            bool lowPrecision = options.WeightsDType != DType.F32 && shape.Length == 2 && !IsEmbedding(name);
            Tensor value;
            if (lowPrecision)
            {
                var t = TensorFile.Read(checkpoint, name, keepHalf: true);
                value = t.DType == options.WeightsDType ? t : t.ToHalfStorage(options.WeightsDType);
            }
            else
            {
                value = TensorFile.Read(checkpoint, name);
                value.RequiresGrad = current.RequiresGrad;
            }
            value.Name = name;
            var (module, local) = PretrainedModel.Split(name);
            model.Get(module).SetParameter(local, value);
        }
        model.TieWeights();
    }

    // Buffers some transformers versions save (non-trainable, recomputed here).
    private static bool IsKnownExtra(string name) =>
        name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) ||
        name.EndsWith("embeddings.position_ids", StringComparison.Ordinal) ||
        name.EndsWith(".attn.bias", StringComparison.Ordinal) && name.Contains(".h.", StringComparison.Ordinal) ||
        name.EndsWith(".attn.masked_bias", StringComparison.Ordinal);

    private static bool IsEmbedding(string name) =>
        name.Contains("embed", StringComparison.Ordinal) || name.EndsWith("wte.weight", StringComparison.Ordinal) || name.EndsWith("wpe.weight", StringComparison.Ordinal);

    /// <summary>
    /// Saves config.json and model.safetensors (metadata {"format": "pt"}; tied weights written once, as
    /// transformers does) into <paramref name="directory"/>, atomically per file.
    /// </summary>
    public static void SavePretrained(PretrainedModel model, string directory)
    {
        Directory.CreateDirectory(directory);
        var tied = model.TiedWeights;
        var tensors = model.NamedParameters()
            .Where(p => !tied.ContainsKey(p.Name))
            .Select(p => new KeyValuePair<string, Tensor>(p.Name, p.Parameter))
            .ToList();
        TensorFile.Save(Path.Combine(directory, SafetensorsCheckpoint.SingleFileName), tensors, TensorFile.PyTorchMetadata);
        model.Config.Save(directory);
    }
}
