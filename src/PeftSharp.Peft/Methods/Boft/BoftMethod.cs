using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Boft;

/// <summary>BOFT in the registry: peft_type "BOFT", adapts linear-like layers.</summary>
public sealed class BoftMethod : PeftMethod
{
    public const string Type = "BOFT";

    public static BoftMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => BoftConfig.Read(json);

    public override bool CanAdapt(Module module) => module is ILinearLayer;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new BoftLayer(baseModule, selection);

    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng) =>
        ((BoftLayer)layer).AddBoft(name, (BoftConfig)config, rng);

    public override string BiasMode(AdapterConfig config) => ((BoftConfig)config).Bias switch
    {
        "boft_only" => "lora_only",
        var b => b,
    };
}
