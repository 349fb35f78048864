using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.LoKr;

/// <summary>LoKr in the registry: peft_type "LOKR", adapts linear-like layers.</summary>
public sealed class LoKrMethod : PeftMethod
{
    public const string Type = "LOKR";

    public static LoKrMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => LoKrConfig.Read(json);

    public override bool CanAdapt(Module module) => module is ILinearLayer;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new LoKrLayer(baseModule, selection);

    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng)
    {
        var c = (LoKrConfig)config;
        ((LoKrLayer)layer).AddLoKr(name, c.RankFor(modulePath), c.AlphaFor(modulePath), c, rng);
    }
}
