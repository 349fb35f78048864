using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Lycoris;

namespace PeftSharp.Peft.Methods.LoKr;

/// <summary>How LoKr's factors start (Hugging Face's init_weights).</summary>
public enum LoKrInit
{
    /// <summary>true: W1 (or W1a) = 0, the rest Kaiming-uniform — the adapter starts as the identity.</summary>
    Default,
    /// <summary>false: every factor Kaiming-uniform.</summary>
    Random,
    /// <summary>"lycoris": W2 (or W2b) = 0, the rest Kaiming-uniform.</summary>
    Lycoris,
}

/// <summary>LoKr configuration with Hugging Face PEFT's field names.</summary>
public sealed record LoKrConfig : LycorisConfig
{
    internal const string InitField = "init_weights";
    internal const string DecomposeBothField = "decompose_both";
    internal const string DecomposeFactorField = "decompose_factor";
    internal const string RankDropoutScaleField = "rank_dropout_scale";

    public override string PeftType => LoKrMethod.Type;

    /// <summary>init_weights.</summary>
    public LoKrInit Init { get; init; } = LoKrInit.Default;

    /// <summary>decompose_both: the left Kronecker factor is also a rank-r product when r is small enough.</summary>
    public bool DecomposeBoth { get; init; }

    /// <summary>decompose_factor: the preferred size of the left factor's dimensions; -1 picks divisors near √dim.</summary>
    public int DecomposeFactor { get; init; } = -1;

    /// <summary>rank_dropout_scale: concerns rank_dropout, which must be 0; kept for the file.</summary>
    public bool RankDropoutScale { get; init; }

    public override void Validate()
    {
        base.Validate();
        if (DecomposeFactor == 0 || DecomposeFactor < -1)
        {
            throw new AdapterConfigException(DecomposeFactorField, $"must be -1 or a positive integer; got {DecomposeFactor}.");
        }
    }

    internal static LoKrConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = (LoKrConfig)ReadLycoris(ReadCommon(new LoKrConfig(), r), r);
        var init = r.Raw(InitField) switch
        {
            null => LoKrInit.Default,
            JsonValue v when v.TryGetValue<bool>(out var b) => b ? LoKrInit.Default : LoKrInit.Random,
            JsonValue v when v.TryGetValue<string>(out var s) && s == "lycoris" => LoKrInit.Lycoris,
            var other => throw new AdapterConfigException(InitField, $"expected true, false or \"lycoris\"; got {other.ToJsonString()}."),
        };
        return c with
        {
            Init = init,
            DecomposeBoth = r.Bool(DecomposeBothField, false),
            DecomposeFactor = r.Int(DecomposeFactorField, -1),
            RankDropoutScale = r.Bool(RankDropoutScaleField, false),
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson() => WriteLycoris()
        .Set(InitField, Init switch
        {
            LoKrInit.Default => JsonValue.Create(true),
            LoKrInit.Random => JsonValue.Create(false),
            _ => JsonValue.Create("lycoris"),
        })
        .Set(DecomposeBothField, DecomposeBoth)
        .Set(DecomposeFactorField, DecomposeFactor)
        .Set(RankDropoutScaleField, RankDropoutScale)
        .ToJsonObject();
}
