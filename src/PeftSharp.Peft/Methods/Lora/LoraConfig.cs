using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.Lora;

/// <summary>How lora_A / lora_B start (Hugging Face's init_lora_weights).</summary>
public enum LoraInit
{
    /// <summary>true: A Kaiming-uniform (bound 1/√in), B zero — the adapter starts as the identity.</summary>
    Default,
    /// <summary>false: A and B both random (torch's nn.Linear init); the adapter does not start as the identity.</summary>
    Random,
    /// <summary>"gaussian": A ~ N(0, 1/r²), B zero.</summary>
    Gaussian,
    /// <summary>"pissa": the top-r singular triplets of W, removed from the base weight.</summary>
    Pissa,
    /// <summary>"olora": the first r columns of Q and rows of R of W = QR, removed from the base weight.</summary>
    Olora,
}

/// <summary>LoRA (and DoRA, rsLoRA) configuration with Hugging Face PEFT's field names.</summary>
public sealed record LoraConfig : AdapterConfig
{
    internal const string RField = "r";
    internal const string AlphaField = "lora_alpha";
    internal const string DropoutField = "lora_dropout";
    internal const string RsLoraField = "use_rslora";
    internal const string DoraField = "use_dora";
    internal const string BiasField = "bias";
    internal const string InitField = "init_lora_weights";
    internal const string RankPatternField = "rank_pattern";
    internal const string AlphaPatternField = "alpha_pattern";
    internal const string LoraBiasField = "lora_bias";
    internal const string LayerReplicationField = "layer_replication";

    public override string PeftType => LoraMethod.Type;

    protected override bool HasLayerSelection => true;

    /// <summary>r: the rank of A (r, in) and B (out, r).</summary>
    public int R { get; init; } = 8;

    /// <summary>lora_alpha: the output is scaled by alpha / r (alpha / √r with rsLoRA).</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>lora_dropout: dropout on the adapter's input in training mode.</summary>
    public double LoraDropout { get; init; }

    /// <summary>use_rslora: scale by alpha / √r.</summary>
    public bool UseRsLora { get; init; }

    /// <summary>use_dora: weight-decomposed LoRA (a magnitude vector per output).</summary>
    public bool UseDora { get; init; }

    /// <summary>bias: "none", "all" (every bias trains) or "lora_only" (biases of adapted layers train).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>init_lora_weights.</summary>
    public LoraInit Init { get; init; } = LoraInit.Default;

    /// <summary>rank_pattern: regex key → r for matching modules (first match in file order wins).</summary>
    public IReadOnlyList<KeyValuePair<string, double>> RankPattern { get; init; } = [];

    /// <summary>alpha_pattern: regex key → lora_alpha for matching modules.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> AlphaPattern { get; init; } = [];

    /// <summary>The rank of the module at <paramref name="path"/>.</summary>
    public int RankFor(string path) => TargetSelector.PatternValue(RankPattern, path) is { } v ? (int)v : R;

    /// <summary>The alpha of the module at <paramref name="path"/>.</summary>
    public double AlphaFor(string path) => TargetSelector.PatternValue(AlphaPattern, path) ?? LoraAlpha;

    /// <summary>The output scale for rank r and alpha: alpha / r, or alpha / √r with rsLoRA.</summary>
    public float ScalingFor(int r, double alpha) => (float)(UseRsLora ? alpha / System.Math.Sqrt(r) : alpha / r);

    public override void Validate()
    {
        base.Validate();
        TargetSelector.ValidateRankPatterns(R, RField, RankPattern, RankPatternField, AlphaPattern);
        if (LoraDropout is < 0 or >= 1)
        {
            throw new AdapterConfigException(DropoutField, $"must be in [0, 1); got {LoraDropout}.");
        }
        if (Bias is not ("none" or "all" or "lora_only"))
        {
            throw new AdapterConfigException(BiasField, $"must be \"none\", \"all\" or \"lora_only\"; got \"{Bias}\".");
        }
        if (Preserved.TryGetPropertyValue(LoraBiasField, out var lb) && lb is JsonValue lbv && lbv.TryGetValue<bool>(out var lbb) && lbb)
        {
            throw new AdapterConfigException(LoraBiasField, "true (a bias on lora_B) is not supported.");
        }
        if (Preserved.TryGetPropertyValue(LayerReplicationField, out var lr) && lr is not null)
        {
            throw new AdapterConfigException(LayerReplicationField, "layer replication is not supported.");
        }
    }

    internal static LoraConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadCommon(new LoraConfig(), r);
        var init = r.Raw(InitField) switch
        {
            null => LoraInit.Default,
            JsonValue v when v.TryGetValue<bool>(out var b) => b ? LoraInit.Default : LoraInit.Random,
            JsonValue v when v.TryGetValue<string>(out var s) => s switch
            {
                "gaussian" => LoraInit.Gaussian,
                "pissa" => LoraInit.Pissa,
                "olora" => LoraInit.Olora,
                _ => throw new AdapterConfigException(InitField, $"\"{s}\" is not supported; use true, false, \"gaussian\", \"pissa\" or \"olora\"."),
            },
            var other => throw new AdapterConfigException(InitField, $"expected true, false or a method name; got {other.ToJsonString()}."),
        };
        return c with
        {
            R = r.Int(RField, 8),
            LoraAlpha = r.Number(AlphaField, 8),
            LoraDropout = r.Number(DropoutField, 0),
            UseRsLora = r.Bool(RsLoraField, false),
            UseDora = r.Bool(DoraField, false),
            Bias = r.String(BiasField, "none")!,
            Init = init,
            RankPattern = r.Pattern(RankPatternField),
            AlphaPattern = r.Pattern(AlphaPatternField),
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson() => WriteCommon()
        .Set(RField, R)
        .SetIntOrFloat(AlphaField, LoraAlpha)
        .SetFloat(DropoutField, LoraDropout)
        .Set(RsLoraField, UseRsLora)
        .Set(DoraField, UseDora)
        .Set(BiasField, Bias)
        .Set(InitField, Init switch
        {
            LoraInit.Default => JsonValue.Create(true),
            LoraInit.Random => JsonValue.Create(false),
            LoraInit.Gaussian => JsonValue.Create("gaussian"),
            LoraInit.Pissa => JsonValue.Create("pissa"),
            _ => JsonValue.Create("olora"),
        })
        .Set(RankPatternField, RankPattern)
        .Set(AlphaPatternField, AlphaPattern)
        .ToJsonObject();
}
