using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Hra;

/// <summary>HRA in the registry: peft_type "HRA", adapts linear-like layers.</summary>
public sealed class HraMethod : PeftMethod
{
    public const string Type = "HRA";

    public static HraMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => HraConfig.Read(json);

    public override bool CanAdapt(Module module) => module is ILinearLayer;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new HraLayer(baseModule, selection);

    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng) =>
        ((HraLayer)layer).AddHra(name, (HraConfig)config, rng);

    public override string BiasMode(AdapterConfig config) => ((HraConfig)config).Bias switch
    {
        "hra_only" => "lora_only",
        var b => b,
    };
}
