using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.Bone;

/// <summary>Which Bone structure an adapter uses (Hugging Face's init_weights).</summary>
public enum BoneVariant
{
    /// <summary>true: Bone, block (r, out) starting at zero.</summary>
    Bone,
    /// <summary>false: Bone with the block drawn from torch's kaiming_uniform (U(−1/√out, 1/√out)).</summary>
    BoneRandom,
    /// <summary>"bat": block-affine transform, blocks (out/r, r, r) starting at zero.</summary>
    Bat,
}

/// <summary>Bone configuration with Hugging Face PEFT's field names.</summary>
public sealed record BoneConfig : AdapterConfig
{
    internal const string RField = "r";
    internal const string InitField = "init_weights";
    internal const string BiasField = "bias";

    public override string PeftType => BoneMethod.Type;

    protected override bool HasLayerSelection => true;

    /// <summary>r: the block width.</summary>
    public int R { get; init; } = 64;

    /// <summary>init_weights: true (Bone), false (Bone, random start) or "bat".</summary>
    public BoneVariant Variant { get; init; } = BoneVariant.Bone;

    /// <summary>bias: "none", "all" or "bone_only".</summary>
    public string Bias { get; init; } = "none";

    public override void Validate()
    {
        base.Validate();
        if (R <= 0)
        {
            throw new AdapterConfigException(RField, $"must be a positive integer; got {R}.");
        }
        if (Bias is not ("none" or "all" or "bone_only"))
        {
            throw new AdapterConfigException(BiasField, $"must be \"none\", \"all\" or \"bone_only\"; got \"{Bias}\".");
        }
    }

    internal static BoneConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadCommon(new BoneConfig(), r);
        var variant = r.Raw(InitField) switch
        {
            null => BoneVariant.Bone,
            JsonValue v when v.TryGetValue<bool>(out var b) => b ? BoneVariant.Bone : BoneVariant.BoneRandom,
            JsonValue v when v.TryGetValue<string>(out var s) && s == "bat" => BoneVariant.Bat,
            var other => throw new AdapterConfigException(InitField, $"expected true, false or \"bat\"; got {other.ToJsonString()}."),
        };
        return c with
        {
            R = r.Int(RField, 64),
            Variant = variant,
            Bias = r.String(BiasField, "none")!,
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson()
    {
        var o = WriteCommon()
            .Set(RField, R)
            .Set(InitField, Variant switch
            {
                BoneVariant.Bone => JsonValue.Create(true),
                BoneVariant.BoneRandom => JsonValue.Create(false),
                _ => JsonValue.Create("bat"),
            })
            .Set(BiasField, Bias)
            .ToJsonObject();
        // PEFT's Bone configuration has no fan_in_fan_out field; write it only when it was set.
        if (!FanInFanOut)
        {
            o.Remove(FanInFanOutField);
        }
        return o;
    }
}
