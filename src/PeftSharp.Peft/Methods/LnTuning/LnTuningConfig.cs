using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.LnTuning;

/// <summary>LN tuning configuration with Hugging Face PEFT's field names (only the shared targeting fields).</summary>
public sealed record LnTuningConfig : AdapterConfig
{
    public override string PeftType => LnTuningMethod.Type;

    protected override bool HasFanInFanOut => false;

    internal static LnTuningConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        return ReadCommon(new LnTuningConfig(), r) with { Preserved = r.Remaining() };
    }

    public override JsonObject ToJson() => WriteCommon().ToJsonObject();
}
