using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Math;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Vera;

/// <summary>VeRA in the registry: peft_type "VERA", adapts linear-like layers; one pair of projections per adapter.</summary>
public sealed class VeraMethod : PeftMethod
{
    public const string Type = "VERA";

    public static VeraMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => VeraConfig.Read(json);

    public override bool CanAdapt(Module module) => module is ILinearLayer;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new VeraLayer(baseModule, selection);

    /// <summary>Adds the adapter to one layer alone: its projections are sized for that layer only.</summary>
    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng) =>
        AddAdapter([(modulePath, layer)], name, config, rng);

    public override void AddAdapter(IReadOnlyList<(string Path, AdapterLayer Layer)> layers, string name, AdapterConfig config, Rng rng)
    {
        var c = (VeraConfig)config;
        var vera = layers.Select(l => (VeraLayer)l.Layer).ToArray();
        var (a, b) = Projections(c.R, vera.Max(l => l.InFeatures), vera.Max(l => l.OutFeatures), c.ProjectionPrngKey);
        foreach (var layer in vera)
        {
            layer.AddVera(name, c, a, b, rng);
        }
    }

    public override string BiasMode(AdapterConfig config) => ((VeraConfig)config).Bias switch
    {
        "vera_only" => "lora_only",
        var b => b,
    };

    /// <summary>
    /// The shared projections as Hugging Face PEFT draws them: torch's CPU generator seeded with
    /// <paramref name="key"/> fills A (r, maxIn) and then B (maxOut, r) with Kaiming-uniform values,
    /// U(−√6/√fan_in, √6/√fan_in) with fan_in = maxIn for A and r for B. Frozen.
    /// </summary>
    public static (Tensor A, Tensor B) Projections(int r, int maxIn, int maxOut, long key)
    {
        var g = new TorchCpuGenerator((ulong)key);
        var a = Tensor.Wrap(g.Uniform(r * maxIn, -Bound(maxIn), Bound(maxIn)), r, maxIn);
        var b = Tensor.Wrap(g.Uniform(maxOut * r, -Bound(r), Bound(r)), maxOut, r);
        return (a, b);
    }

    // Python: gain = sqrt(2); std = gain / sqrt(fan); bound = sqrt(3.0) * std — evaluated in the same order.
    private static double Bound(int fan) => System.Math.Sqrt(3.0) * (System.Math.Sqrt(2.0) / System.Math.Sqrt(fan));
}
