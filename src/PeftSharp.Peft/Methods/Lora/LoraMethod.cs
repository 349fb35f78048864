using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Lora;

/// <summary>LoRA in the registry: peft_type "LORA", adapts linear-like layers and embeddings.</summary>
public sealed class LoraMethod : PeftMethod
{
    public const string Type = "LORA";

    /// <summary>Module names whose base weight Hugging Face also saves when they are LoRA targets.</summary>
    private static readonly string[] EmbeddingLayerNames = ["embed_tokens", "lm_head"];

    public static LoraMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => LoraConfig.Read(json);

    public override bool CanAdapt(Module module) => module is ILinearLayer or Embedding;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new LoraLayer(baseModule, selection);

    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng)
    {
        var c = (LoraConfig)config;
        ((LoraLayer)layer).AddLora(name, c.RankFor(modulePath), c.AlphaFor(modulePath), c, rng);
    }

    public override IEnumerable<string> ExtraSavedBaseParameters(AdapterConfig config, string modulePath, AdapterLayer layer)
    {
        // PEFT 0.14 (save_embedding_layers="auto"): when an embedding layer name is a target, the adapted
        // input/output embeddings are saved whole as "<module>.base_layer.weight".
        var targets = config.TargetModules;
        bool embeddingTargeted = targets?.Names?.Any(n => EmbeddingLayerNames.Contains(n)) == true
            || (targets?.Pattern is { } p && EmbeddingLayerNames.Any(p.Contains));
        string last = modulePath[(modulePath.LastIndexOf('.') + 1)..];
        if (embeddingTargeted && (layer.BaseLayer is Embedding || last == "lm_head"))
        {
            yield return AdapterLayer.BaseLayerName + "." + BaseWeights.Weight;
        }
    }

    public override string BiasMode(AdapterConfig config) => ((LoraConfig)config).Bias;
}
