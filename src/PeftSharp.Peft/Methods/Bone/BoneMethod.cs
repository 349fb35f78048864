using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Bone;

/// <summary>Bone in the registry: peft_type "BONE", adapts linear-like layers.</summary>
public sealed class BoneMethod : PeftMethod
{
    public const string Type = "BONE";

    public static BoneMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => BoneConfig.Read(json);

    public override bool CanAdapt(Module module) => module is ILinearLayer;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new BoneLayer(baseModule, selection);

    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng) =>
        ((BoneLayer)layer).AddBone(name, (BoneConfig)config, rng);

    public override string BiasMode(AdapterConfig config) => ((BoneConfig)config).Bias switch
    {
        "bone_only" => "lora_only",
        var b => b,
    };
}
