using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.LoHa;

/// <summary>LoHa in the registry: peft_type "LOHA", adapts linear-like layers.</summary>
public sealed class LoHaMethod : PeftMethod
{
    public const string Type = "LOHA";

    public static LoHaMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => LoHaConfig.Read(json);

    public override bool CanAdapt(Module module) => module is ILinearLayer;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new LoHaLayer(baseModule, selection);

    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng)
    {
        var c = (LoHaConfig)config;
        ((LoHaLayer)layer).AddLoHa(name, c.RankFor(modulePath), c.AlphaFor(modulePath), c.InitWeights, rng);
    }
}
