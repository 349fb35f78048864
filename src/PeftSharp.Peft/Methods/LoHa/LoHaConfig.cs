using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Lycoris;

namespace PeftSharp.Peft.Methods.LoHa;

/// <summary>LoHa configuration with Hugging Face PEFT's field names.</summary>
public sealed record LoHaConfig : LycorisConfig
{
    internal const string InitField = "init_weights";

    public override string PeftType => LoHaMethod.Type;

    /// <summary>init_weights: true starts with hada_w2_b = 0 (the identity); false draws every factor at random.</summary>
    public bool InitWeights { get; init; } = true;

    internal static LoHaConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = (LoHaConfig)ReadLycoris(ReadCommon(new LoHaConfig(), r), r);
        return c with { InitWeights = r.Bool(InitField, true), Preserved = r.Remaining() };
    }

    public override JsonObject ToJson() => WriteLycoris().Set(InitField, InitWeights).ToJsonObject();
}
