using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.LnTuning;

/// <summary>LN tuning in the registry: peft_type "LN_TUNING", adapts any module that has parameters (norm layers in practice).</summary>
public sealed class LnTuningMethod : PeftMethod
{
    public const string Type = "LN_TUNING";

    public static LnTuningMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => LnTuningConfig.Read(json);

    public override bool CanAdapt(Module module) => module.NamedParameters().Any();

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new LnTuningLayer(baseModule, selection);

    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng) =>
        ((LnTuningLayer)layer).AddCopy(name);
}
