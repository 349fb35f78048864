using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.Hra;

/// <summary>HRA configuration with Hugging Face PEFT's field names.</summary>
public sealed record HraConfig : AdapterConfig
{
    internal const string RField = "r";
    internal const string GsField = "apply_GS";
    internal const string InitField = "init_weights";
    internal const string BiasField = "bias";

    public override string PeftType => HraMethod.Type;

    protected override bool HasLayerSelection => true;

    /// <summary>r: the number of Householder reflections.</summary>
    public int R { get; init; } = 8;

    /// <summary>apply_GS: orthonormalise the reflection vectors (Gram–Schmidt) and use H = I − 2·U·Uᵀ.</summary>
    public bool ApplyGs { get; init; }

    /// <summary>init_weights: true pairs equal vectors so the product starts at the identity (even r); false draws them at random.</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>bias: "none", "all" or "hra_only".</summary>
    public string Bias { get; init; } = "none";

    public override void Validate()
    {
        base.Validate();
        if (R <= 0)
        {
            throw new AdapterConfigException(RField, $"must be a positive integer; got {R}.");
        }
        if (Bias is not ("none" or "all" or "hra_only"))
        {
            throw new AdapterConfigException(BiasField, $"must be \"none\", \"all\" or \"hra_only\"; got \"{Bias}\".");
        }
    }

    internal static HraConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadCommon(new HraConfig(), r);
        return c with
        {
            R = r.Int(RField, 8),
            ApplyGs = r.Bool(GsField, false),
            InitWeights = r.Bool(InitField, true),
            Bias = r.String(BiasField, "none")!,
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson()
    {
        var o = WriteCommon()
            .Set(RField, R)
            .Set(GsField, ApplyGs)
            .Set(InitField, InitWeights)
            .Set(BiasField, Bias)
            .ToJsonObject();
        // PEFT's HRA configuration has no fan_in_fan_out field; write it only when it was set.
        if (!FanInFanOut)
        {
            o.Remove(FanInFanOutField);
        }
        return o;
    }
}
