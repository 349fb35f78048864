using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.Vera;

/// <summary>VeRA configuration with Hugging Face PEFT's field names.</summary>
public sealed record VeraConfig : AdapterConfig
{
    internal const string RField = "r";
    internal const string KeyField = "projection_prng_key";
    internal const string SaveProjectionField = "save_projection";
    internal const string DropoutField = "vera_dropout";
    internal const string DInitialField = "d_initial";
    internal const string BiasField = "bias";
    internal const string InitField = "init_weights";

    public override string PeftType => VeraMethod.Type;

    protected override bool HasLayerSelection => true;

    protected override bool HasExcludeModules => false;

    /// <summary>r: the rank of the shared projections vera_A (r, max in) and vera_B (max out, r).</summary>
    public int R { get; init; } = 256;

    /// <summary>projection_prng_key: the seed of torch's CPU generator that draws the projections.</summary>
    public long ProjectionPrngKey { get; init; }

    /// <summary>save_projection: the projections are written to the adapter file as base_model.vera_A / vera_B.</summary>
    public bool SaveProjection { get; init; } = true;

    /// <summary>vera_dropout: dropout on the adapter's input in training mode.</summary>
    public double VeraDropout { get; init; }

    /// <summary>d_initial: the initial value of every entry of λd.</summary>
    public double DInitial { get; init; } = 0.1;

    /// <summary>bias: "none", "all" (every bias trains) or "vera_only" (biases of adapted layers train).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>init_weights: true starts with λb = 0 and λd = d_initial (the identity); false with λb = 1, λd ~ N(0, 1).</summary>
    public bool InitWeights { get; init; } = true;

    public override void Validate()
    {
        base.Validate();
        if (R <= 0)
        {
            throw new AdapterConfigException(RField, $"must be a positive integer; got {R}.");
        }
        if (VeraDropout is < 0 or >= 1)
        {
            throw new AdapterConfigException(DropoutField, $"must be in [0, 1); got {VeraDropout}.");
        }
        if (Bias is not ("none" or "all" or "vera_only"))
        {
            throw new AdapterConfigException(BiasField, $"must be \"none\", \"all\" or \"vera_only\"; got \"{Bias}\".");
        }
        if (ProjectionPrngKey < 0)
        {
            throw new AdapterConfigException(KeyField, $"must be a non-negative integer; got {ProjectionPrngKey}.");
        }
    }

    internal static VeraConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadCommon(new VeraConfig(), r);
        return c with
        {
            R = r.Int(RField, 256),
            ProjectionPrngKey = (long)r.Number(KeyField, 0),
            SaveProjection = r.Bool(SaveProjectionField, true),
            VeraDropout = r.Number(DropoutField, 0),
            DInitial = r.Number(DInitialField, 0.1),
            Bias = r.String(BiasField, "none")!,
            InitWeights = r.Bool(InitField, true),
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson() => WriteCommon()
        .Set(RField, R)
        .Set(KeyField, JsonValue.Create(ProjectionPrngKey))
        .Set(SaveProjectionField, SaveProjection)
        .SetFloat(DropoutField, VeraDropout)
        .SetFloat(DInitialField, DInitial)
        .Set(BiasField, Bias)
        .Set(InitField, InitWeights)
        .ToJsonObject();
}
