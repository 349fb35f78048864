using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.FourierFT;

/// <summary>FourierFT in the registry: peft_type "FOURIERFT", adapts linear-like layers.</summary>
public sealed class FourierFTMethod : PeftMethod
{
    public const string Type = "FOURIERFT";

    public static FourierFTMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => FourierFTConfig.Read(json);

    public override bool CanAdapt(Module module) => module is ILinearLayer;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new FourierFTLayer(baseModule, selection);

    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng)
    {
        var c = (FourierFTConfig)config;
        ((FourierFTLayer)layer).AddFourier(name, c, c.NFrequencyFor(modulePath), rng);
    }

    public override string BiasMode(AdapterConfig config) => ((FourierFTConfig)config).Bias switch
    {
        "fourier_only" => "lora_only",
        var b => b,
    };
}
