using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Ia3;

/// <summary>IA3 in the registry: peft_type "IA3", adapts linear-like layers.</summary>
public sealed class Ia3Method : PeftMethod
{
    public const string Type = "IA3";

    public static Ia3Method Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => Ia3Config.Read(json);

    public override bool CanAdapt(Module module) => module is ILinearLayer;

    public override AdapterLayer Wrap(Module baseModule, AdapterSelection selection) => new Ia3Layer(baseModule, selection);

    public override void AddAdapter(AdapterLayer layer, string name, AdapterConfig config, string modulePath, Rng rng)
    {
        var c = (Ia3Config)config;
        // Hugging Face: a regex feedforward selector must fully match; a list entry must equal or suffix-match.
        bool feedforward = c.FeedforwardModules?.Matches(modulePath) == true;
        ((Ia3Layer)layer).AddIa3(name, feedforward, c.InitIa3Weights, rng);
    }
}
