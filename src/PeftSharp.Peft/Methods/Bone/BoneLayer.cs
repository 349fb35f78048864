using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Oft;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Peft.Methods.Bone;

/// <summary>
/// Bone (Kang, 2024, "Bone: Block-Affine Adaptation of Large Language Models") around a linear layer.
/// Bone: ΔW[o, i] = bone[i mod r, o], so y = base(x) + (Σ_k x[k·r … k·r+r−1])·bone with x zero-padded to a
/// multiple of r. Bat: with W split into r × r blocks W_{b,c} and blocks B_b (out/r, r, r),
/// W' = W + ΔW, ΔW_{b,c} = W_{b,c}·B_b + B_b, and y = x·W'ᵀ + bias.
/// </summary>
public sealed class BoneLayer : LinearAdapterLayer<BoneLayer.BoneAdapter>
{
    internal const string BlockName = "bone_block";

    /// <summary>One Bone adapter: bone_block ((r, out) for Bone, (out/r, r, r) for Bat) and its variant.</summary>
    public sealed class BoneAdapter
    {
        public required Tensor Block { get; init; }

        public required int R { get; init; }

        public required bool IsBat { get; init; }
    }

    public BoneLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection, "Bone")
    {
    }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, BoneAdapter a)
    {
        yield return new(BlockName + "." + name, BlockName, a.Block);
    }

    internal void AddBone(string name, BoneConfig config, Rng rng)
    {
        int r = config.R;
        bool bat = config.Variant == BoneVariant.Bat;
        if (AdapterNames.Any(n => Adapter(n).IsBat != bat))
        {
            throw new InvalidOperationException("All Bone adapters of one layer must use the same variant (Bone or \"bat\").");
        }
        Tensor block;
        if (bat)
        {
            if (InFeatures % r != 0 || OutFeatures % r != 0)
            {
                throw new AdapterConfigException(BoneConfig.RField, $"the \"bat\" variant needs the weight ({OutFeatures} × {InFeatures}) to split into {r} × {r} blocks.");
            }
            block = Tensor.Zeros(OutFeatures / r, r, r);
        }
        else if (config.Variant == BoneVariant.BoneRandom)
        {
            // torch's kaiming_uniform(a=√5) on (r, out): fan_in = out, bound 1/√out.
            float bound = 1f / MathF.Sqrt(OutFeatures);
            block = Tensor.Uniform([r, OutFeatures], -bound, bound, rng);
        }
        else
        {
            block = Tensor.Zeros(r, OutFeatures);
        }
        AddAdapterRecord(name, new BoneAdapter { Block = Trainable(block), R = r, IsBat = bat });
    }

    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        if (Adapter(adapters[0]).IsBat)
        {
            // Each adapter transforms the weight left by the previous ones, as merging them in order would.
            var w = WeightOutIn();
            foreach (var n in adapters)
            {
                w = w.Add(BatDelta(w, Adapter(n)));
            }
            return Tensor.Linear(input, w, BaseWeights.BiasOf(BaseLayer));
        }
        var result = BaseLayer.Forward(input);
        foreach (var n in adapters)
        {
            var a = Adapter(n);
            var shape = input.Shape.ToArray();
            var x = input.Contiguous().Reshape(-1, InFeatures);
            int pad = (a.R - InFeatures % a.R) % a.R;
            if (pad > 0)
            {
                x = Tensor.Cat([x, Tensor.Zeros(x.Dim(0), pad)], 1);
            }
            var folded = x.Reshape(x.Dim(0), -1, a.R).Sum(1);                      // (M, r)
            shape[^1] = OutFeatures;
            result = result.Add(Tensor.MatMul(folded, a.Block).Reshape(shape));
        }
        return result;
    }

    /// <summary>The base weight as a float32 (out, in) tensor without gradient.</summary>
    private Tensor WeightOutIn()
    {
        var w = BaseWeights.WeightOf(BaseLayer).ToFloat32().Detach();
        return BaseWeights.IsTransposed(BaseLayer) ? w.T.Contiguous() : w;
    }

    /// <summary>ΔW_{b,c} = W_{b,c}·B_b + B_b for W (out, in) and blocks B (out/r, r, r).</summary>
    private Tensor BatDelta(Tensor w, BoneAdapter a)
    {
        int r = a.R;
        var blocks = w.Reshape(OutFeatures / r, r, InFeatures / r, r).Permute(2, 0, 1, 3);   // (in/r, out/r, r, r)
        var d = Tensor.MatMul(blocks, a.Block).Add(a.Block);
        return d.Permute(1, 2, 0, 3).Contiguous().Reshape(OutFeatures, InFeatures);
    }

    protected override void MergeAdapter(string name)
    {
        var a = Adapter(name);
        var w = ReadWeightOutIn();
        if (a.IsBat)
        {
            var wt = Tensor.FromArray(w, OutFeatures, InFeatures);
            w = wt.Add(BatDelta(wt, a)).ToArray();
        }
        else
        {
            AddBlock(w, a, sign: 1f);
        }
        WriteWeightOutIn(w);
    }

    protected override void UnmergeAdapter(string name)
    {
        var a = Adapter(name);
        var w = ReadWeightOutIn();
        if (a.IsBat)
        {
            // W' = W(I + B) + B blockwise, so W = (W' − B)(I + B)⁻¹.
            int r = a.R;
            var blocks = Tensor.FromArray(w, OutFeatures, InFeatures).Reshape(OutFeatures / r, r, InFeatures / r, r).Permute(2, 0, 1, 3);
            var inv = OrthogonalBlocks.Identity(r).Add(a.Block.Detach()).Inverse();
            w = Tensor.MatMul(blocks.Sub(a.Block.Detach()), inv).Permute(1, 2, 0, 3).Contiguous().Reshape(OutFeatures, InFeatures).ToArray();
        }
        else
        {
            AddBlock(w, a, sign: -1f);
        }
        WriteWeightOutIn(w);
    }

    private void AddBlock(float[] w, BoneAdapter a, float sign)
    {
        var b = a.Block.ToArray();   // (r, out)
        for (int o = 0; o < OutFeatures; o++)
        {
            for (int i = 0; i < InFeatures; i++)
            {
                w[o * InFeatures + i] += sign * b[(i % a.R) * OutFeatures + o];
            }
        }
    }
}
