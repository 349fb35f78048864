using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.Lycoris;

/// <summary>
/// The fields LoHa and LoKr share (Hugging Face PEFT's LycorisConfig): r, alpha, per-module rank and alpha patterns,
/// rank_dropout, module_dropout, use_effective_conv2d, and the layer selection. The output scale is alpha / r.
/// </summary>
public abstract record LycorisConfig : AdapterConfig
{
    internal const string RField = "r";
    internal const string AlphaField = "alpha";
    internal const string RankDropoutField = "rank_dropout";
    internal const string ModuleDropoutField = "module_dropout";
    internal const string EffectiveConvField = "use_effective_conv2d";
    internal const string RankPatternField = "rank_pattern";
    internal const string AlphaPatternField = "alpha_pattern";

    protected override bool HasLayerSelection => true;

    protected override bool HasFanInFanOut => false;

    /// <summary>r: the rank of each factor.</summary>
    public int R { get; init; } = 8;

    /// <summary>alpha: the update is scaled by alpha / r.</summary>
    public double Alpha { get; init; } = 8;

    /// <summary>rank_dropout: only 0 is supported (training-time dropout of update rows).</summary>
    public double RankDropout { get; init; }

    /// <summary>module_dropout: only 0 is supported (training-time skipping of the whole update).</summary>
    public double ModuleDropout { get; init; }

    /// <summary>use_effective_conv2d: concerns Conv2d layers only; kept for the file.</summary>
    public bool UseEffectiveConv2d { get; init; }

    /// <summary>rank_pattern: regex key → r for matching modules (first match in file order wins).</summary>
    public IReadOnlyList<KeyValuePair<string, double>> RankPattern { get; init; } = [];

    /// <summary>alpha_pattern: regex key → alpha for matching modules.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> AlphaPattern { get; init; } = [];

    /// <summary>The rank of the module at <paramref name="path"/>.</summary>
    public int RankFor(string path) => TargetSelector.PatternValue(RankPattern, path) is { } v ? (int)v : R;

    /// <summary>The alpha of the module at <paramref name="path"/>.</summary>
    public double AlphaFor(string path) => TargetSelector.PatternValue(AlphaPattern, path) ?? Alpha;

    public override void Validate()
    {
        base.Validate();
        TargetSelector.ValidateRankPatterns(R, RField, RankPattern, RankPatternField, AlphaPattern);
        if (RankDropout != 0)
        {
            throw new AdapterConfigException(RankDropoutField, $"only 0 is supported; got {RankDropout}.");
        }
        if (ModuleDropout != 0)
        {
            throw new AdapterConfigException(ModuleDropoutField, $"only 0 is supported; got {ModuleDropout}.");
        }
    }

    /// <summary>Reads the shared fields after <see cref="AdapterConfig.ReadCommon"/>.</summary>
    protected static LycorisConfig ReadLycoris(LycorisConfig config, ConfigReader r) => config with
    {
        R = r.Int(RField, 8),
        Alpha = r.Number(AlphaField, 8),
        RankDropout = r.Number(RankDropoutField, 0),
        ModuleDropout = r.Number(ModuleDropoutField, 0),
        UseEffectiveConv2d = r.Bool(EffectiveConvField, false),
        RankPattern = r.Pattern(RankPatternField),
        AlphaPattern = r.Pattern(AlphaPatternField),
    };

    /// <summary>The shared fields on top of <see cref="AdapterConfig.WriteCommon"/>.</summary>
    protected ConfigWriter WriteLycoris() => WriteCommon()
        .Set(RField, R)
        .SetIntOrFloat(AlphaField, Alpha)
        .SetFloat(RankDropoutField, RankDropout)
        .SetFloat(ModuleDropoutField, ModuleDropout)
        .Set(EffectiveConvField, UseEffectiveConv2d)
        .Set(RankPatternField, RankPattern)
        .Set(AlphaPatternField, AlphaPattern);
}
