using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.FourierFT;

/// <summary>FourierFT configuration with Hugging Face PEFT's field names.</summary>
public sealed record FourierFTConfig : AdapterConfig
{
    internal const string NFrequencyField = "n_frequency";
    internal const string ScalingField = "scaling";
    internal const string SeedField = "random_loc_seed";
    internal const string PatternField = "n_frequency_pattern";
    internal const string BiasField = "bias";
    internal const string InitField = "init_weights";

    public override string PeftType => FourierFTMethod.Type;

    protected override bool HasLayerSelection => true;

    /// <summary>n_frequency: how many spectrum entries each layer learns.</summary>
    public int NFrequency { get; init; } = 1000;

    /// <summary>scaling: the factor applied to the inverse transform.</summary>
    public double Scaling { get; init; } = 150.0;

    /// <summary>random_loc_seed: the seed of torch's CPU generator that picks the spectrum positions.</summary>
    public long RandomLocSeed { get; init; } = 777;

    /// <summary>n_frequency_pattern: regex key → n_frequency for matching modules.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> NFrequencyPattern { get; init; } = [];

    /// <summary>bias: "none", "all" or "fourier_only".</summary>
    public string Bias { get; init; } = "none";

    /// <summary>init_weights: true starts the spectrum at 0 (the identity); false (Hugging Face's default) draws it N(0, 1).</summary>
    public bool InitWeights { get; init; }

    /// <summary>The n_frequency of the module at <paramref name="path"/>.</summary>
    public int NFrequencyFor(string path) => TargetSelector.PatternValue(NFrequencyPattern, path) is { } v ? (int)v : NFrequency;

    public override void Validate()
    {
        base.Validate();
        if (NFrequency <= 0)
        {
            throw new AdapterConfigException(NFrequencyField, $"must be a positive integer; got {NFrequency}.");
        }
        foreach (var (k, v) in NFrequencyPattern)
        {
            if (v <= 0 || v != System.Math.Floor(v))
            {
                throw new AdapterConfigException(PatternField, $"n_frequency for \"{k}\" must be a positive integer; got {v}.");
            }
            _ = PyRegex.MatchStart(k, "");
        }
        if (RandomLocSeed < 0)
        {
            throw new AdapterConfigException(SeedField, $"must be a non-negative integer; got {RandomLocSeed}.");
        }
        if (Bias is not ("none" or "all" or "fourier_only"))
        {
            throw new AdapterConfigException(BiasField, $"must be \"none\", \"all\" or \"fourier_only\"; got \"{Bias}\".");
        }
    }

    internal static FourierFTConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadCommon(new FourierFTConfig(), r);
        return c with
        {
            NFrequency = r.Int(NFrequencyField, 1000),
            Scaling = r.Number(ScalingField, 150.0),
            RandomLocSeed = (long)r.Number(SeedField, 777),
            NFrequencyPattern = r.Pattern(PatternField),
            Bias = r.String(BiasField, "none")!,
            InitWeights = r.Bool(InitField, false),
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson() => WriteCommon()
        .Set(NFrequencyField, NFrequency)
        .SetFloat(ScalingField, Scaling)
        .Set(SeedField, JsonValue.Create(RandomLocSeed))
        .Set(PatternField, NFrequencyPattern)
        .Set(BiasField, Bias)
        .Set(InitField, InitWeights)
        .ToJsonObject();
}
