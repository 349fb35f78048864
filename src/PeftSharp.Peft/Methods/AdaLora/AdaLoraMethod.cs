using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.AdaLora;

/// <summary>AdaLoRA in the registry: peft_type "ADALORA", adapts linear-like layers; adds a loss term and rank allocation in training.</summary>
public sealed class AdaLoraMethod : PeftMethod
{
    public const string Type = "ADALORA";

    public static AdaLoraMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => AdaLoraConfig.Read(json);

    public override bool CanAdapt(Module module) => module is ILinearLayer;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new AdaLoraLayer(baseModule, selection);

    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng) =>
        ((AdaLoraLayer)layer).AddAdaLora(name, (AdaLoraConfig)config, modulePath, rng);

    public override IAdapterTrainingHooks? CreateTrainingHooks(PeftModel model, string adapter) => new AdaLoraTrainingHooks(model, adapter);

    public override string BiasMode(AdapterConfig config) => ((AdaLoraConfig)config).Bias;
}
