using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;

namespace PeftSharp.Peft.Methods.Boft;

/// <summary>BOFT configuration with Hugging Face PEFT's field names.</summary>
public sealed record BoftConfig : AdapterConfig
{
    internal const string BlockSizeField = "boft_block_size";
    internal const string BlockNumField = "boft_block_num";
    internal const string ButterflyField = "boft_n_butterfly_factor";
    internal const string DropoutField = "boft_dropout";
    internal const string InitField = "init_weights";
    internal const string BiasField = "bias";

    public override string PeftType => BoftMethod.Type;

    protected override bool HasLayerSelection => true;

    /// <summary>boft_block_size: the size b of each orthogonal block (0 when <see cref="BoftBlockNum"/> is given).</summary>
    public int BoftBlockSize { get; init; } = 4;

    /// <summary>boft_block_num: the number D of blocks per factor (0 when <see cref="BoftBlockSize"/> is given).</summary>
    public int BoftBlockNum { get; init; }

    /// <summary>boft_n_butterfly_factor: how many butterfly factors multiply (1 = a single block-diagonal rotation, as OFT).</summary>
    public int BoftNButterflyFactor { get; init; } = 1;

    /// <summary>boft_dropout: in training, this fraction of the blocks of one random factor is replaced by the identity.</summary>
    public double BoftDropout { get; init; }

    /// <summary>init_weights: true starts at the identity (R = 0, s = 1); false draws R ~ N(0, 0.1²), s ~ N(1, 0.1²).</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>bias: "none", "all" or "boft_only".</summary>
    public string Bias { get; init; } = "none";

    public override void Validate()
    {
        base.Validate();
        if (BoftBlockSize < 0 || BoftBlockNum < 0)
        {
            throw new AdapterConfigException(BoftBlockSize < 0 ? BlockSizeField : BlockNumField, "must not be negative.");
        }
        if ((BoftBlockSize != 0) == (BoftBlockNum != 0))
        {
            throw new AdapterConfigException(BlockSizeField, $"exactly one of boft_block_size ({BoftBlockSize}) and boft_block_num ({BoftBlockNum}) must be non-zero, because their product is in_features.");
        }
        if (BoftNButterflyFactor < 1)
        {
            throw new AdapterConfigException(ButterflyField, $"must be a positive integer; got {BoftNButterflyFactor}.");
        }
        if (BoftDropout is < 0 or >= 1)
        {
            throw new AdapterConfigException(DropoutField, $"must be in [0, 1); got {BoftDropout}.");
        }
        if (Bias is not ("none" or "all" or "boft_only"))
        {
            throw new AdapterConfigException(BiasField, $"must be \"none\", \"all\" or \"boft_only\"; got \"{Bias}\".");
        }
    }

    internal static BoftConfig Read(JsonObject json)
    {
        var r = new ConfigReader(json);
        var c = ReadCommon(new BoftConfig(), r);
        return c with
        {
            BoftBlockSize = r.Int(BlockSizeField, 4),
            BoftBlockNum = r.Int(BlockNumField, 0),
            BoftNButterflyFactor = r.Int(ButterflyField, 1),
            BoftDropout = r.Number(DropoutField, 0),
            InitWeights = r.Bool(InitField, true),
            Bias = r.String(BiasField, "none")!,
            Preserved = r.Remaining(),
        };
    }

    public override JsonObject ToJson() => WriteCommon()
        .Set(BlockSizeField, BoftBlockSize)
        .Set(BlockNumField, BoftBlockNum)
        .Set(ButterflyField, BoftNButterflyFactor)
        .SetFloat(DropoutField, BoftDropout)
        .Set(InitField, InitWeights)
        .Set(BiasField, Bias)
        .ToJsonObject();

    /// <summary>
    /// The layout for a layer with <paramref name="inFeatures"/> inputs: blocks per factor and block size, with
    /// PEFT's divisibility rules for the butterfly factor.
    /// </summary>
    /// <exception cref="AdapterConfigException">The sizes do not fit in_features.</exception>
    public (int Blocks, int BlockSize) Layout(int inFeatures)
    {
        int m = BoftNButterflyFactor - 1;
        int blocks, size;
        if (BoftBlockSize == 0)
        {
            blocks = BoftBlockNum;
            if (inFeatures % blocks != 0)
            {
                throw new AdapterConfigException(BlockNumField, $"in_features ({inFeatures}) must be divisible by boft_block_num ({blocks}).");
            }
            if (m != 0 && (m > (int)System.Math.Log2(blocks) || blocks % (1 << m) != 0))
            {
                throw new AdapterConfigException(ButterflyField, $"{m + 1} does not fit boft_block_num {blocks}: the block count must be a multiple of 2^{m}.");
            }
            size = inFeatures / blocks;
        }
        else
        {
            size = BoftBlockSize;
            if (inFeatures % size != 0)
            {
                throw new AdapterConfigException(BlockSizeField, $"in_features ({inFeatures}) must be divisible by boft_block_size ({size}).");
            }
            if (m != 0 && (inFeatures < size << m || inFeatures % (size << m) != 0))
            {
                throw new AdapterConfigException(ButterflyField, $"{m + 1} does not fit in_features {inFeatures} with boft_block_size {size}: in_features must be a multiple of {size << m}.");
            }
            blocks = inFeatures / size;
        }
        if (m != 0 && (blocks % 2 != 0 || size % 2 != 0))
        {
            throw new AdapterConfigException(ButterflyField, $"more than one butterfly factor needs an even block count and block size; got {blocks} blocks of {size}.");
        }
        return (blocks, size);
    }
}
