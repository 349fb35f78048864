using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Vera;

/// <summary>
/// VeRA (Kopiczko et al., 2024, "VeRA: Vector-based Random Matrix Adaptation") around a linear-like layer: two frozen
/// random projections shared by every layer of the adapter, A (r, max in) and B (max out, r), sliced to the layer as
/// A[:, :in] and B[:out, :], and two trained vectors λd (r) and λb (out):
/// y = base(x) + λb ⊙ (B[:out] · (λd ⊙ (A[:, :in] · dropout(x)))), ΔW = diag(λb)·B[:out]·diag(λd)·A[:, :in].
/// </summary>
public sealed class VeraLayer : DeltaWeightLayer<VeraLayer.VeraAdapter>
{
    internal const string LambdaBName = "vera_lambda_b";
    internal const string LambdaDName = "vera_lambda_d";
    internal const string AName = "vera_A";
    internal const string BName = "vera_B";

    /// <summary>One VeRA adapter at this layer: its vectors and references to the adapter's shared projections.</summary>
    public sealed class VeraAdapter
    {
        public required Tensor LambdaB { get; init; }

        public required Tensor LambdaD { get; init; }

        /// <summary>The shared projection A (r, max in), the same object in every layer of the adapter.</summary>
        public required Tensor A { get; init; }

        /// <summary>The shared projection B (max out, r).</summary>
        public required Tensor B { get; init; }

        public required bool SaveProjection { get; init; }

        public float Dropout { get; init; }

        public Rng? DropoutRng { get; init; }
    }

    public VeraLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection, "VeRA")
    {
    }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, VeraAdapter a)
    {
        yield return new(LambdaBName + "." + name, LambdaBName, a.LambdaB);
        yield return new(LambdaDName + "." + name, LambdaDName, a.LambdaD);
    }

    public override IEnumerable<SharedAdapterTensor> SharedTensors(string name)
    {
        var a = Adapter(name);
        if (a.SaveProjection)
        {
            // Rebuilt exactly from projection_prng_key when a file lacks them, so loading does not require them.
            yield return new(AName, a.A, Optional: true);
            yield return new(BName, a.B, Optional: true);
        }
    }

    internal void AddVera(string name, VeraConfig config, Tensor a, Tensor b, Rng rng)
    {
        int r = config.R;
        if (a.Dim(0) != r || a.Dim(1) < InFeatures || b.Dim(0) < OutFeatures || b.Dim(1) != r)
        {
            throw new ArgumentException($"VeRA projections A {Shapes.Format(a.Shape)} and B {Shapes.Format(b.Shape)} do not cover a layer of {InFeatures} → {OutFeatures} with r = {r}.");
        }
        var lambdaB = config.InitWeights ? Tensor.Zeros(OutFeatures) : Tensor.Ones(OutFeatures);
        var lambdaD = config.InitWeights ? Tensor.Full([r], (float)config.DInitial) : Tensor.Normal([r], 0f, 1f, rng);
        AddAdapterRecord(name, new VeraAdapter
        {
            LambdaB = Trainable(lambdaB),
            LambdaD = Trainable(lambdaD),
            A = a,
            B = b,
            SaveProjection = config.SaveProjection,
            Dropout = (float)config.VeraDropout,
            DropoutRng = config.VeraDropout > 0 ? new Rng(rng.NextUInt64()) : null,
        });
    }

    private (Tensor A, Tensor B) Sliced(VeraAdapter a) => (a.A.Narrow(1, 0, InFeatures), a.B.Narrow(0, 0, OutFeatures));

    protected override Tensor Delta(VeraAdapter a)
    {
        var (sa, sb) = Sliced(a);
        return Tensor.MatMul(a.LambdaB.Unsqueeze(1).Mul(sb), a.LambdaD.Unsqueeze(1).Mul(sa));   // (out, r)·(r, in)
    }

    protected override Tensor AdapterOutput(Tensor x, VeraAdapter a)
    {
        var (sa, sb) = Sliced(a);
        var h = Training && a.Dropout > 0f ? x.Dropout(a.Dropout, a.DropoutRng!) : x;
        h = Tensor.Linear(h, sa).Mul(a.LambdaD);                 // (..., r)
        return Tensor.Linear(h, sb).Mul(a.LambdaB);              // (..., out)
    }
}
