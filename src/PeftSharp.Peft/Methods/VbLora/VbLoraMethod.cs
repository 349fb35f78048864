using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.VbLora;

/// <summary>VB-LoRA in the registry: peft_type "VBLORA", adapts linear-like layers; one vector bank per adapter.</summary>
public sealed class VbLoraMethod : PeftMethod
{
    public const string Type = "VBLORA";

    public static VbLoraMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => VbLoraConfig.Read(json);

    public override bool CanAdapt(Module module) => module is ILinearLayer;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new VbLoraLayer(baseModule, selection);

    /// <summary>Adds the adapter to one layer alone, with a bank of its own.</summary>
    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng) =>
        AddAdapter([(modulePath, layer)], name, config, rng);

    public override void AddAdapter(IReadOnlyList<(string Path, AdapterLayer Layer)> layers, string name, AdapterConfig config, Rng rng)
    {
        var c = (VbLoraConfig)config;
        float bound = (float)c.InitVectorBankBound;
        var bank = Tensor.Wrap(Tensor.Uniform([c.NumVectors, c.VectorLength], -bound, bound, rng).ToArray(), c.NumVectors, c.VectorLength);
        bank.RequiresGrad = true;
        for (int i = 0; i < layers.Count; i++)
        {
            // The first layer lists the bank, as torch names a shared parameter after its first owner.
            ((VbLoraLayer)layers[i].Layer).AddVbLora(name, c, bank, listsBank: i == 0, layers[i].Path, rng);
        }
    }

    public override string BiasMode(AdapterConfig config) => ((VbLoraConfig)config).Bias switch
    {
        "vblora_only" => "lora_only",
        var b => b,
    };
}
