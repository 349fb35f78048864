using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Oft;

/// <summary>
/// OFT (Qiu et al., 2023, "Controlling Text-to-Image Diffusion by Orthogonal Finetuning") around a linear layer:
/// y = ((x·R)·Wᵀ) ⊙ s + b, with R = blockdiag(Cayley(oft_r₀), …) orthogonal (in, in) and s (out) a learned scale.
/// Merged: W' = diag(s)·W·Rᵀ. Several active adapters compose: R = R_k⋯R_1, s = s_1⊙⋯⊙s_k (see <see cref="OrthogonalLayer{TAdapter}"/>).
/// </summary>
public sealed class OftLayer : OrthogonalLayer<OftLayer.OftAdapter>
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

    public OftLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection, "OFT")
    {
    }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, OftAdapter a)
    {
        yield return new(RName + "." + name, RName, a.R);
        yield return new(SName + "." + name, SName, a.S);
    }

    internal void AddOft(string name, OftConfig config, Rng rng)
    {
        var (blocks, size) = config.Layout(InFeatures);
        int[] rShape = [config.BlockShare ? 1 : blocks, size, size];
        var r = config.InitWeights ? Tensor.Zeros(rShape) : Tensor.Normal(rShape, 0f, 0.1f, rng);
        var s = config.InitWeights ? Tensor.Ones(OutFeatures, 1) : Tensor.Normal([OutFeatures, 1], 1f, 0.1f, rng);
        AddAdapterRecord(name, new OftAdapter
        {
            R = Trainable(r),
            S = Trainable(s),
            Blocks = blocks,
            BlockSize = size,
            Dropout = (float)config.ModuleDropout,
            DropoutRng = config.ModuleDropout > 0 ? new Rng(rng.NextUInt64()) : null,
        });
    }

    /// <summary>The orthogonal blocks Cayley(oft_r) (D or 1, b, b) of one adapter, without dropout.</summary>
    public Tensor Rotation(string name) => OrthogonalBlocks.Cayley(Adapter(name).R);

    private protected override Tensor Scale(OftAdapter a) => a.S;

    private protected override Tensor Rotate(Tensor x, OftAdapter a)
    {
        var q = OrthogonalBlocks.Cayley(a.R);
        if (Training && a.Dropout > 0f)
        {
            q = OrthogonalBlocks.DropBlocks(q, 1, a.Dropout, a.DropoutRng!);
        }
        return OrthogonalBlocks.ApplyBlocks(x, q, a.Blocks);
    }

    private protected override void RotateRows(float[] w, int rows, OftAdapter a, bool transpose) =>
        OrthogonalBlocks.RotateRows(w, rows, a.Blocks, a.BlockSize, OrthogonalBlocks.Cayley(a.R).ToArray(), transpose);
}
