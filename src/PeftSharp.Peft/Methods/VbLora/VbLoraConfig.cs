using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.VbLora;

/// <summary>VB-LoRA configuration with Hugging Face PEFT's field names.</summary>
public sealed record VbLoraConfig : AdapterConfig
{
    internal const string RField = "r";
    internal const string NumVectorsField = "num_vectors";
    internal const string VectorLengthField = "vector_length";
    internal const string TopkField = "topk";
    internal const string TopkOnlyField = "save_only_topk_weights";
    internal const string DropoutField = "vblora_dropout";
    internal const string BiasField = "bias";
    internal const string BankBoundField = "init_vector_bank_bound";
    internal const string LogitsStdField = "init_logits_std";

    public override string PeftType => VbLoraMethod.Type;

    protected override bool HasLayerSelection => true;

    /// <summary>r: the rank of the composed A (r, in) and B (out, r).</summary>
    public int R { get; init; } = 4;

    /// <summary>num_vectors: the number of vectors in the shared bank.</summary>
    public int NumVectors { get; init; } = 256;

    /// <summary>vector_length: the length of each bank vector; in and out of every target must be multiples of it.</summary>
    public int VectorLength { get; init; } = 256;

    /// <summary>topk: how many bank vectors each sub-vector mixes.</summary>
    public int Topk { get; init; } = 2;

    /// <summary>save_only_topk_weights: only false (full logits in the file) is supported.</summary>
    public bool SaveOnlyTopkWeights { get; init; }

    /// <summary>vblora_dropout: dropout on the adapter's input in training mode.</summary>
    public double VbLoraDropout { get; init; }

    /// <summary>bias: "none", "all" or "vblora_only".</summary>
    public string Bias { get; init; } = "none";

    /// <summary>init_vector_bank_bound: the bank starts U(−bound, bound).</summary>
    public double InitVectorBankBound { get; init; } = 0.02;

    /// <summary>init_logits_std: the logits start N(0, std²).</summary>
    public double InitLogitsStd { get; init; } = 0.1;

    public override void Validate()
    {
        base.Validate();
        foreach (var (field, value) in new[] { (RField, R), (NumVectorsField, NumVectors), (VectorLengthField, VectorLength), (TopkField, Topk) })
        {
            if (value <= 0)
            {
                throw new AdapterConfigException(field, $"must be a positive integer; got {value}.");
            }
        }
        if (Topk > NumVectors)
        {
            throw new AdapterConfigException(TopkField, $"{Topk} exceeds num_vectors {NumVectors}.");
        }
        if (SaveOnlyTopkWeights)
        {
            throw new AdapterConfigException(TopkOnlyField, "true (only the top-k weights saved) is not supported; save the full logits.");
        }
        if (VbLoraDropout is < 0 or >= 1)
        {
            throw new AdapterConfigException(DropoutField, $"must be in [0, 1); got {VbLoraDropout}.");
        }
        if (Bias is not ("none" or "all" or "vblora_only"))
        {
            throw new AdapterConfigException(BiasField, $"must be \"none\", \"all\" or \"vblora_only\"; got \"{Bias}\".");
        }
    }

    internal static VbLoraConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadCommon(new VbLoraConfig(), r);
        return c with
        {
            R = r.Int(RField, 4),
            NumVectors = r.Int(NumVectorsField, 256),
            VectorLength = r.Int(VectorLengthField, 256),
            Topk = r.Int(TopkField, 2),
            SaveOnlyTopkWeights = r.Bool(TopkOnlyField, false),
            VbLoraDropout = r.Number(DropoutField, 0),
            Bias = r.String(BiasField, "none")!,
            InitVectorBankBound = r.Number(BankBoundField, 0.02),
            InitLogitsStd = r.Number(LogitsStdField, 0.1),
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson() => WriteCommon()
        .Set(RField, R)
        .Set(NumVectorsField, NumVectors)
        .Set(VectorLengthField, VectorLength)
        .Set(TopkField, Topk)
        .Set(TopkOnlyField, SaveOnlyTopkWeights)
        .SetFloat(DropoutField, VbLoraDropout)
        .Set(BiasField, Bias)
        .SetFloat(BankBoundField, InitVectorBankBound)
        .SetFloat(LogitsStdField, InitLogitsStd)
        .ToJsonObject();
}
