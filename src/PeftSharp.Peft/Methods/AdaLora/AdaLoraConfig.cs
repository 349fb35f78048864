using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.AdaLora;

/// <summary>AdaLoRA configuration with Hugging Face PEFT's field names.</summary>
public sealed record AdaLoraConfig : AdapterConfig
{
    internal const string InitRField = "init_r";
    internal const string TargetRField = "target_r";
    internal const string TinitField = "tinit";
    internal const string TfinalField = "tfinal";
    internal const string DeltaTField = "deltaT";
    internal const string Beta1Field = "beta1";
    internal const string Beta2Field = "beta2";
    internal const string OrthRegField = "orth_reg_weight";
    internal const string TotalStepField = "total_step";
    internal const string RankPatternField = "rank_pattern";
    internal const string AlphaField = "lora_alpha";
    internal const string DropoutField = "lora_dropout";
    internal const string InitField = "init_lora_weights";
    internal const string DoraField = "use_dora";
    internal const string LoftqField = "loftq_config";
    internal const string BiasField = "bias";

    public override string PeftType => AdaLoraMethod.Type;

    protected override bool HasLayerSelection => true;

    /// <summary>init_r: the rank every module starts with.</summary>
    public int InitR { get; init; } = 12;

    /// <summary>target_r: the average rank per module the budget ends at.</summary>
    public int TargetR { get; init; } = 8;

    /// <summary>tinit: steps of warm-up before ranks are pruned.</summary>
    public int Tinit { get; init; }

    /// <summary>tfinal: final steps trained with the allocation fixed.</summary>
    public int Tfinal { get; init; }

    /// <summary>deltaT: ranks are re-allocated every deltaT steps while the budget shrinks.</summary>
    public int DeltaT { get; init; } = 1;

    /// <summary>beta1: EMA factor of the sensitivity.</summary>
    public double Beta1 { get; init; } = 0.85;

    /// <summary>beta2: EMA factor of the uncertainty.</summary>
    public double Beta2 { get; init; } = 0.85;

    /// <summary>orth_reg_weight: weight of the orthogonality penalty added to the loss.</summary>
    public double OrthRegWeight { get; init; } = 0.5;

    /// <summary>total_step: the number of training steps (needed for the budget schedule).</summary>
    public int? TotalStep { get; init; }

    /// <summary>lora_alpha: the update is scaled by lora_alpha / (ranknum + 1e-5), ranknum = init_r (alpha ≤ 0: by r).</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>lora_dropout: dropout on the adapter's input in training mode.</summary>
    public double LoraDropout { get; init; }

    /// <summary>init_lora_weights: true starts E at 0 and A, B ~ N(0, 0.02²); false leaves all three ~ N(0, 1).</summary>
    public bool InitLoraWeights { get; init; } = true;

    /// <summary>
    /// rank_pattern: for each module, "&lt;module&gt;.lora_E" → which of its init_r triplets the rank allocation kept.
    /// A module listed here has rank = the number kept (its ranknum stays init_r, as in PEFT).
    /// </summary>
    public IReadOnlyDictionary<string, bool[]>? RankPattern { get; init; }

    /// <summary>bias: "none", "all" or "lora_only".</summary>
    public string Bias { get; init; } = "none";

    /// <summary>The kept-triplet mask of a module (by its path), or null.</summary>
    public bool[]? RankMaskFor(string modulePath) =>
        RankPattern is { } p && p.TryGetValue(modulePath + "." + AdaLoraLayer.EName, out var m) ? m : null;

    public override void Validate()
    {
        base.Validate();
        if (InitR <= 0)
        {
            throw new AdapterConfigException(InitRField, $"must be a positive integer; got {InitR}.");
        }
        if (TargetR < 0)
        {
            throw new AdapterConfigException(TargetRField, $"must not be negative; got {TargetR}.");
        }
        if (Tinit < 0 || Tfinal < 0)
        {
            throw new AdapterConfigException(Tinit < 0 ? TinitField : TfinalField, "must not be negative.");
        }
        if (DeltaT <= 0)
        {
            throw new AdapterConfigException(DeltaTField, $"must be a positive integer; got {DeltaT}.");
        }
        if (Beta1 is <= 0 or >= 1 || Beta2 is <= 0 or >= 1)
        {
            throw new AdapterConfigException(Beta1 is <= 0 or >= 1 ? Beta1Field : Beta2Field, "must be in (0, 1).");
        }
        if (OrthRegWeight <= 0)
        {
            throw new AdapterConfigException(OrthRegField, $"must be greater than 0 (PEFT refuses other values); got {OrthRegWeight}.");
        }
        if (LoraDropout is < 0 or >= 1)
        {
            throw new AdapterConfigException(DropoutField, $"must be in [0, 1); got {LoraDropout}.");
        }
        if (Bias is not ("none" or "all" or "lora_only"))
        {
            throw new AdapterConfigException(BiasField, $"must be \"none\", \"all\" or \"lora_only\"; got \"{Bias}\".");
        }
        if (RankPattern is not null)
        {
            foreach (var (k, v) in RankPattern)
            {
                if (v.Length != InitR)
                {
                    throw new AdapterConfigException(RankPatternField, $"\"{k}\" lists {v.Length} triplets; init_r is {InitR}.");
                }
            }
        }
        if (Preserved.TryGetPropertyValue(DoraField, out var d) && d is JsonValue dv && dv.TryGetValue<bool>(out var dora) && dora)
        {
            throw new AdapterConfigException(DoraField, "AdaLoRA does not support DoRA.");
        }
        if (Preserved.TryGetPropertyValue(LoftqField, out var q) && q is JsonObject qo && qo.Count > 0)
        {
            throw new AdapterConfigException(LoftqField, "AdaLoRA does not support LoftQ.");
        }
    }

    /// <summary>Checks what training needs: total_step set and a non-empty pruning window.</summary>
    /// <exception cref="AdapterConfigException">total_step is missing or not larger than tinit + tfinal.</exception>
    public void ValidateSchedule()
    {
        if (TotalStep is not { } total || total <= 0)
        {
            throw new AdapterConfigException(TotalStepField, "must be set to the number of training steps for AdaLoRA's rank allocation.");
        }
        if (total - Tinit - Tfinal <= 0)
        {
            throw new AdapterConfigException(TotalStepField, $"({total}) must exceed tinit + tfinal ({Tinit} + {Tfinal}), so that the budget has steps to shrink in.");
        }
    }

    internal static AdaLoraConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadCommon(new AdaLoraConfig(), r);
        var total = r.Raw(TotalStepField);
        var pattern = r.Raw(RankPatternField);
        return c with
        {
            InitR = r.Int(InitRField, 12),
            TargetR = r.Int(TargetRField, 8),
            Tinit = r.Int(TinitField, 0),
            Tfinal = r.Int(TfinalField, 0),
            DeltaT = r.Int(DeltaTField, 1),
            Beta1 = r.Number(Beta1Field, 0.85),
            Beta2 = r.Number(Beta2Field, 0.85),
            OrthRegWeight = r.Number(OrthRegField, 0.5),
            TotalStep = total is null ? null : new ConfigReader(new JsonObject { [TotalStepField] = total }).Int(TotalStepField, 0),
            LoraAlpha = r.Number(AlphaField, 8),
            LoraDropout = r.Number(DropoutField, 0),
            InitLoraWeights = r.Bool(InitField, true),
            RankPattern = pattern is null ? null : ReadPattern(pattern),
            Bias = r.String(BiasField, "none")!,
            Preserved = r.Remaining(),
        };
    }

    private static Dictionary<string, bool[]> ReadPattern(JsonNode node)
    {
        if (node is not JsonObject o)
        {
            throw new AdapterConfigException(RankPatternField, $"expected an object of module → list of booleans; got {node.ToJsonString()}.");
        }
        var result = new Dictionary<string, bool[]>(StringComparer.Ordinal);
        foreach (var (k, v) in o)
        {
            result[k] = v is JsonArray a
                ? a.Select(e => e is JsonValue ev && ev.TryGetValue<bool>(out var b) ? b : throw new AdapterConfigException(RankPatternField, $"\"{k}\": entries must be true or false.")).ToArray()
                : throw new AdapterConfigException(RankPatternField, $"\"{k}\": expected a list of booleans; got {v?.ToJsonString() ?? "null"}.");
        }
        return result;
    }

    public override JsonObject ToJson() => WriteCommon()
        .Set(InitRField, InitR)
        .Set(TargetRField, TargetR)
        .Set(TinitField, Tinit)
        .Set(TfinalField, Tfinal)
        .Set(DeltaTField, DeltaT)
        .SetFloat(Beta1Field, Beta1)
        .SetFloat(Beta2Field, Beta2)
        .SetFloat(OrthRegField, OrthRegWeight)
        .Set(TotalStepField, TotalStep is { } t ? JsonValue.Create(t) : null)
        .SetIntOrFloat(AlphaField, LoraAlpha)
        .SetFloat(DropoutField, LoraDropout)
        .Set(InitField, InitLoraWeights)
        .Set(RankPatternField, RankPattern is null ? null : new JsonObject(RankPattern.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray(kv.Value.Select(b => (JsonNode?)JsonValue.Create(b)).ToArray())))))
        .Set(BiasField, Bias)
        .ToJsonObject();
}
