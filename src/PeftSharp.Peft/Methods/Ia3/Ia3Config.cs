using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.Ia3;

/// <summary>IA3 configuration with Hugging Face PEFT's field names.</summary>
public sealed record Ia3Config : AdapterConfig
{
    internal const string FeedforwardField = "feedforward_modules";
    internal const string InitField = "init_ia3_weights";

    public override string PeftType => Ia3Method.Type;

    /// <summary>feedforward_modules: targets whose input (not output) is scaled. Must be a subset of target_modules.</summary>
    public ModuleSelector? FeedforwardModules { get; init; }

    /// <summary>init_ia3_weights: true starts every vector at 1 (the identity); false draws them from N(0, 1) as Hugging Face does.</summary>
    public bool InitIa3Weights { get; init; } = true;

    public override void Validate()
    {
        base.Validate();
        if (FeedforwardModules?.Names is { } ff && TargetModules?.Names is { } targets)
        {
            var extra = ff.Where(f => !targets.Contains(f)).ToArray();
            if (extra.Length > 0)
            {
                throw new AdapterConfigException(FeedforwardField, $"[{string.Join(", ", extra)}] must also be in target_modules.");
            }
        }
    }

    internal static Ia3Config Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadCommon(new Ia3Config(), r);
        return c with
        {
            FeedforwardModules = r.Selector(FeedforwardField),
            InitIa3Weights = r.Bool(InitField, true),
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson() => WriteCommon()
        .Set(FeedforwardField, FeedforwardModules)
        .Set(InitField, InitIa3Weights)
        .ToJsonObject();
}
