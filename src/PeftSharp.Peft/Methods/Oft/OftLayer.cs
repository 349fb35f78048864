using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Oft;

/// <summary>
/// OFT (Qiu et al., 2023, "Controlling Text-to-Image Diffusion by Orthogonal Finetuning") around a linear layer:
/// y = ((x·R)·Wᵀ) ⊙ s + b, with R = blockdiag(Cayley(oft_r₀), …) orthogonal (in, in) and s (out) a learned scale.
/// Merged: W' = diag(s)·W·Rᵀ. Several active adapters compose: R = R_k⋯R_1, s = s_1⊙⋯⊙s_k.
/// </summary>
public sealed class OftLayer : AdapterLayer<OftLayer.OftAdapter>
{
    internal const string RName = "oft_r";
    internal const string SName = "oft_s";

    /// <summary>One OFT adapter: oft_r (D or 1, b, b), oft_s (out, 1) and its block layout.</summary>
    public sealed class OftAdapter
    {
        public required Tensor R { get; init; }

        public required Tensor S { get; init; }

        public required int Blocks { get; init; }

        public required int BlockSize { get; init; }

        public float Dropout { get; init; }

        public Rng? DropoutRng { get; init; }
    }

    public OftLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection)
    {
        var l = baseLayer as ILinearLayer ?? throw new NotSupportedException($"OFT adapts linear layers; got {baseLayer.Describe()}.");
        InFeatures = l.InFeatures;
        OutFeatures = l.OutFeatures;
    }

    public int InFeatures { get; }

    public int OutFeatures { get; }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, OftAdapter a)
    {
        yield return new(RName + "." + name, RName, a.R);
        yield return new(SName + "." + name, SName, a.S);
    }

    internal void AddOft(string name, OftConfig config, Rng rng)
    {
        var (blocks, size) = config.Layout(InFeatures);
        int[] rShape = [config.BlockShare ? 1 : blocks, size, size];
        Tensor r, s;
        if (config.InitWeights)
        {
            r = Tensor.Zeros(rShape);
            s = Tensor.Ones(OutFeatures, 1);
        }
        else
        {
            r = Tensor.Normal(rShape, 0f, 0.1f, rng);
            s = Tensor.Normal([OutFeatures, 1], 1f, 0.1f, rng);
        }
        r = Tensor.Wrap(r.ToArray(), rShape);
        s = Tensor.Wrap(s.ToArray(), OutFeatures, 1);
        r.RequiresGrad = true;
        s.RequiresGrad = true;
        AddAdapterRecord(name, new OftAdapter
        {
            R = r,
            S = s,
            Blocks = blocks,
            BlockSize = size,
            Dropout = (float)config.ModuleDropout,
            DropoutRng = config.ModuleDropout > 0 ? new Rng(rng.NextUInt64()) : null,
        });
    }

    /// <summary>The orthogonal blocks Cayley(oft_r) (D or 1, b, b) of one adapter, without dropout.</summary>
    public Tensor Rotation(string name) => OrthogonalBlocks.Cayley(Adapter(name).R);

    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        // x·R_k⋯R_1: the last adapter's rotation touches the input first.
        var x = input;
        Tensor? scale = null;
        for (int i = adapters.Count - 1; i >= 0; i--)
        {
            var a = Adapter(adapters[i]);
            var q = OrthogonalBlocks.Cayley(a.R);
            if (Training && a.Dropout > 0f)
            {
                q = OrthogonalBlocks.DropBlocks(q, 1, a.Dropout, a.DropoutRng!);
            }
            x = OrthogonalBlocks.ApplyBlocks(x, q, a.Blocks);
            var s = a.S.Reshape(OutFeatures);
            scale = scale is null ? s : scale.Mul(s);
        }
        return OrthogonalBlocks.ScaledBase(BaseLayer, x, scale!);
    }

    protected override void MergeAdapter(string name) => Apply(name, unmerge: false);

    protected override void UnmergeAdapter(string name) => Apply(name, unmerge: true);

    private void Apply(string name, bool unmerge)
    {
        var a = Adapter(name);
        var q = Rotation(name).ToArray();
        var w = OrthogonalBlocks.ReadOutIn(BaseLayer, OutFeatures, InFeatures);
        var s = a.S.ToArray();
        if (unmerge)
        {
            // W = diag(1/s)·W'·R, since R is orthogonal.
            OrthogonalBlocks.RotateRows(w, OutFeatures, a.Blocks, a.BlockSize, q, transpose: false);
            OrthogonalBlocks.ScaleRows(w, OutFeatures, InFeatures, s, divide: true);
        }
        else
        {
            OrthogonalBlocks.RotateRows(w, OutFeatures, a.Blocks, a.BlockSize, q, transpose: true);
            OrthogonalBlocks.ScaleRows(w, OutFeatures, InFeatures, s, divide: false);
        }
        OrthogonalBlocks.WriteOutIn(BaseLayer, w, OutFeatures, InFeatures);
    }
}
