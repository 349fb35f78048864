using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Oft;

/// <summary>OFT in the registry: peft_type "OFT", adapts linear-like layers.</summary>
public sealed class OftMethod : PeftMethod
{
    public const string Type = "OFT";

    public static OftMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => OftConfig.Read(json);

    public override bool CanAdapt(Module module) => module is ILinearLayer;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new OftLayer(baseModule, selection);

    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng) =>
        ((OftLayer)layer).AddOft(name, (OftConfig)config, rng);

    public override string BiasMode(AdapterConfig config) => ((OftConfig)config).Bias switch
    {
        "oft_only" => "lora_only",
        var b => b,
    };
}
