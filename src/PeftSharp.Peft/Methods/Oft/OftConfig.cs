using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.Oft;

/// <summary>OFT configuration with Hugging Face PEFT's field names.</summary>
public sealed record OftConfig : AdapterConfig
{
    internal const string RField = "r";
    internal const string BlockSizeField = "oft_block_size";
    internal const string DropoutField = "module_dropout";
    internal const string BlockShareField = "block_share";
    internal const string InitField = "init_weights";
    internal const string BiasField = "bias";
    internal const string CoftField = "coft";

    public override string PeftType => OftMethod.Type;

    protected override bool HasLayerSelection => true;

    /// <summary>r: the number of diagonal blocks (0 when <see cref="OftBlockSize"/> is given instead).</summary>
    public int R { get; init; } = 8;

    /// <summary>oft_block_size: the size of each block (0 when <see cref="R"/> is given instead).</summary>
    public int OftBlockSize { get; init; }

    /// <summary>module_dropout: in training, this fraction of the blocks is replaced by the identity.</summary>
    public double ModuleDropout { get; init; }

    /// <summary>block_share: all blocks share one rotation.</summary>
    public bool BlockShare { get; init; }

    /// <summary>init_weights: true starts at the identity (R = 0, s = 1); false draws R ~ N(0, 0.1²), s ~ N(1, 0.1²).</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>bias: "none", "all" or "oft_only".</summary>
    public string Bias { get; init; } = "none";

    public override void Validate()
    {
        base.Validate();
        if (R < 0 || OftBlockSize < 0)
        {
            throw new AdapterConfigException(R < 0 ? RField : BlockSizeField, "must not be negative.");
        }
        if ((R != 0) == (OftBlockSize != 0))
        {
            throw new AdapterConfigException(RField, $"exactly one of r ({R}) and oft_block_size ({OftBlockSize}) must be non-zero, because r × oft_block_size = in_features.");
        }
        if (ModuleDropout is < 0 or >= 1)
        {
            throw new AdapterConfigException(DropoutField, $"must be in [0, 1); got {ModuleDropout}.");
        }
        if (Bias is not ("none" or "all" or "oft_only"))
        {
            throw new AdapterConfigException(BiasField, $"must be \"none\", \"all\" or \"oft_only\"; got \"{Bias}\".");
        }
        if (Preserved.TryGetPropertyValue(CoftField, out var c) && c is JsonValue cv && cv.TryGetValue<bool>(out var coft) && coft)
        {
            throw new AdapterConfigException(CoftField, "true (constrained OFT, which projects the parameters during the forward pass) is not supported.");
        }
    }

    internal static OftConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadCommon(new OftConfig(), r);
        return c with
        {
            R = r.Int(RField, 8),
            OftBlockSize = r.Int(BlockSizeField, 0),
            ModuleDropout = r.Number(DropoutField, 0),
            BlockShare = r.Bool(BlockShareField, false),
            InitWeights = r.Bool(InitField, true),
            Bias = r.String(BiasField, "none")!,
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson() => WriteCommon()
        .Set(RField, R)
        .Set(BlockSizeField, OftBlockSize)
        .SetFloat(DropoutField, ModuleDropout)
        .Set(BlockShareField, BlockShare)
        .Set(InitField, InitWeights)
        .Set(BiasField, Bias)
        .ToJsonObject();

    /// <summary>
    /// Blocks and block size for a layer with <paramref name="inFeatures"/> inputs. A value that does not divide
    /// in_features is moved to the nearest divisor (the lower one on a tie), as Hugging Face PEFT does.
    /// </summary>
    public (int Blocks, int BlockSize) Layout(int inFeatures)
    {
        if (R == 0)
        {
            int size = inFeatures % OftBlockSize != 0 || OftBlockSize > inFeatures ? NearestDivisor(inFeatures, OftBlockSize) : OftBlockSize;
            return (inFeatures / size, size);
        }
        int blocks = inFeatures % R != 0 || R > inFeatures ? NearestDivisor(inFeatures, R) : R;
        return (blocks, inFeatures / blocks);
    }

    internal static int NearestDivisor(int n, int value)
    {
        if (value >= n)
        {
            return n;
        }
        int higher = value;
        while (higher <= n && n % higher != 0)
        {
            higher++;
        }
        int lower = value;
        while (lower > 1 && n % lower != 0)
        {
            lower--;
        }
        return value - lower <= higher - value ? lower : higher;
    }
}
