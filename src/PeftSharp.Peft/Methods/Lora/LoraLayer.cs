using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Lora.Variants;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Peft.Methods.Lora;

/// <summary>
/// LoRA (Hu et al., 2021) around a linear-like layer or an embedding: y = base(x) + s · B·A·dropout(x), with
/// A (r, in), B (out, r), s = alpha / r. For embeddings, y = E[ids] + s · Aᵀ[ids]·Bᵀ. DoRA adapters use
/// <see cref="Dora"/>. All adapters of the layer share the base module.
/// </summary>
public sealed class LoraLayer : AdapterLayer<LoraAdapter>
{
    internal const string AName = "lora_A";
    internal const string BName = "lora_B";
    internal const string EmbeddingAName = "lora_embedding_A";
    internal const string EmbeddingBName = "lora_embedding_B";
    internal const string MagnitudeName = "lora_magnitude_vector";

    public LoraLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection)
    {
        switch (baseLayer)
        {
            case Embedding e:
                IsEmbedding = true;
                InFeatures = e.Count;
                OutFeatures = e.EmbeddingDim;
                break;
            case ILinearLayer l:
                InFeatures = l.InFeatures;
                OutFeatures = l.OutFeatures;
                break;
            default:
                throw new NotSupportedException($"LoRA adapts linear layers and embeddings; got {baseLayer.Describe()}.");
        }
    }

    /// <summary>True when the base module is an embedding (in = vocabulary size, out = embedding width).</summary>
    public bool IsEmbedding { get; }

    public int InFeatures { get; }

    public int OutFeatures { get; }

    /// <summary>True when the base weight is stored transposed relative to ΔW = B·A (out, in): embeddings and Conv1D.</summary>
    private bool StorageTransposed => IsEmbedding || BaseWeights.IsTransposed(BaseLayer);

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, LoraAdapter a)
    {
        if (IsEmbedding)
        {
            yield return new(EmbeddingAName + "." + name, EmbeddingAName, a.A);
            yield return new(EmbeddingBName + "." + name, EmbeddingBName, a.B);
            yield break;
        }
        yield return new(AName + "." + name + ".weight", AName + ".weight", a.A);
        yield return new(BName + "." + name + ".weight", BName + ".weight", a.B);
        if (a.Magnitude is not null)
        {
            // Hugging Face saves the DoRA magnitude without its ".weight" suffix.
            yield return new(MagnitudeName + "." + name + ".weight", MagnitudeName, a.Magnitude);
        }
    }

    /// <summary>Adds an adapter with rank <paramref name="r"/> and the given alpha, initialised as <paramref name="config"/> says.</summary>
    internal void AddLora(string name, int r, double alpha, LoraConfig config, Rng rng)
    {
        if (config.UseDora && IsEmbedding)
        {
            throw new NotSupportedException("DoRA on an embedding layer is not supported.");
        }
        float scaling = config.ScalingFor(r, alpha);
        var (a, b) = IsEmbedding ? InitEmbedding(r, config.Init, rng) : InitLinear(r, config.Init, rng);
        float[]? residual = null;
        if (config.Init is LoraInit.Pissa or LoraInit.Olora)
        {
            if (IsEmbedding)
            {
                throw new NotSupportedException($"init_lora_weights \"{config.Init}\" needs a linear layer; got an embedding.");
            }
            (a, b, residual) = LoraInitializers.Decompose(ReadWeightOutIn(), OutFeatures, InFeatures, r, scaling, config.Init);
        }
        a.RequiresGrad = true;
        b.RequiresGrad = true;
        Tensor? magnitude = null;
        if (residual is not null)
        {
            WriteWeightOutIn(residual);
        }
        if (config.UseDora)
        {
            var w = Tensor.Wrap(ReadWeightOutIn(), OutFeatures, InFeatures);
            var probe = new LoraAdapter { Rank = r, Alpha = alpha, Scaling = scaling, A = a, B = b };
            magnitude = Tensor.Wrap(Dora.WeightNorm(w, probe, scaling).ToArray(), OutFeatures);
            magnitude.RequiresGrad = true;
        }
        var adapter = new LoraAdapter
        {
            Rank = r,
            Alpha = alpha,
            Scaling = scaling,
            A = a,
            B = b,
            Dropout = (float)config.LoraDropout,
            DropoutRng = config.LoraDropout > 0 ? new Rng(rng.NextUInt64()) : null,
            Magnitude = magnitude,
        };
        AddAdapterRecord(name, adapter);
    }

    /// <summary>Adds an adapter from given factors (used when combining adapters); scaling is alpha / r.</summary>
    internal void AddLoraFromFactors(string name, Tensor a, Tensor b, double alpha)
    {
        a.RequiresGrad = true;
        b.RequiresGrad = true;
        int r = a.Dim(0);
        AddAdapterRecord(name, new LoraAdapter { Rank = r, Alpha = alpha, Scaling = (float)(alpha / r), A = a, B = b });
    }

    private (Tensor A, Tensor B) InitLinear(int r, LoraInit init, Rng rng)
    {
        // torch's nn.Linear init (Kaiming-uniform with a = √5) is U(−1/√fan_in, 1/√fan_in).
        float boundA = 1f / MathF.Sqrt(InFeatures);
        var a = init == LoraInit.Gaussian
            ? Tensor.Normal([r, InFeatures], 0f, 1f / r, rng)
            : Tensor.Uniform([r, InFeatures], -boundA, boundA, rng);
        var b = init == LoraInit.Random
            ? Tensor.Uniform([OutFeatures, r], -1f / MathF.Sqrt(r), 1f / MathF.Sqrt(r), rng)
            : Tensor.Zeros(OutFeatures, r);
        return (Persist(a), Persist(b));
    }

    private (Tensor A, Tensor B) InitEmbedding(int r, LoraInit init, Rng rng)
    {
        // Hugging Face: every truthy init sets A = 0 and B ~ N(0, 1) (the reverse of a linear layer); false leaves both N(0, 1).
        var a = init == LoraInit.Random ? Tensor.Normal([r, InFeatures], 0f, 1f, rng) : Tensor.Zeros(r, InFeatures);
        var b = Tensor.Normal([OutFeatures, r], 0f, 1f, rng);
        return (Persist(a), Persist(b));
    }

    private static Tensor Persist(Tensor t) => Tensor.Wrap(t.ToArray(), t.Shape.ToArray());

    /// <summary>ΔW = s · B·A as (out, in) float32 (for embeddings (dim, vocab), i.e. the transpose of the weight).</summary>
    public float[] DeltaWeight(string name)
    {
        var a = Adapter(name);
        return LoraMath.Delta(a.B.ToArray(), a.A.ToArray(), OutFeatures, a.Rank, InFeatures, a.Scaling);
    }

    /// <summary>The base weight as (out, in) float32 (for embeddings (dim, vocab)).</summary>
    internal float[] ReadWeightOutIn()
    {
        var w = BaseWeights.WeightOf(BaseLayer).ToArray();
        return StorageTransposed ? BaseWeights.Transpose(w, InFeatures, OutFeatures) : w;
    }

    internal void WriteWeightOutIn(float[] outIn)
    {
        var stored = StorageTransposed ? BaseWeights.Transpose(outIn, OutFeatures, InFeatures) : outIn;
        BaseWeights.Write(BaseLayer, BaseWeights.Weight, stored);
    }

    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        if (adapters.Count == 1 && BaseLayer is PeftSharp.Nn.Linear linear && Adapter(adapters[0]) is { Magnitude: null } only
            && !(Training && only.Dropout > 0f))
        {
            // One plain LoRA adapter on a Linear without dropout: the fused op adds the low-rank product into the
            // base output buffer (same value up to rounding, a quarter of the activation memory, no extra passes).
            return Tensor.LoraLinear(input, linear.Weight, linear.Bias, only.A, only.B, only.Scaling);
        }
        var result = BaseLayer.Forward(input);
        foreach (var name in adapters)
        {
            var a = Adapter(name);
            if (IsEmbedding)
            {
                var h = Tensor.Embedding(a.A.T.Contiguous(), input);   // (..., r)
                result = result.Add(Tensor.Linear(h, a.B).Mul(a.Scaling));
                continue;
            }
            bool dropout = Training && a.Dropout > 0f;
            var x = dropout ? input.Dropout(a.Dropout, a.DropoutRng!) : input;
            if (a.Magnitude is not null)
            {
                var weight = BaseWeights.WeightOf(BaseLayer).ToFloat32();
                var outIn = BaseWeights.IsTransposed(BaseLayer) ? weight.T : weight;
                result = Dora.Forward(x, dropout, result, outIn, BaseWeights.BiasOf(BaseLayer), a);
            }
            else
            {
                result = result.Add(Tensor.Linear(Tensor.Linear(x, a.A), a.B).Mul(a.Scaling));
            }
        }
        return result;
    }

    protected override void MergeAdapter(string name)
    {
        var a = Adapter(name);
        var w = ReadWeightOutIn();
        var delta = DeltaWeight(name);
        if (a.Magnitude is not null)
        {
            a.MergedNorm = Dora.Merge(w, delta, a.Magnitude.ToArray(), OutFeatures, InFeatures);
        }
        else
        {
            System.Numerics.Tensors.TensorPrimitives.Add(w, delta, w);
        }
        WriteWeightOutIn(w);
    }

    protected override void UnmergeAdapter(string name)
    {
        var a = Adapter(name);
        var w = ReadWeightOutIn();
        var delta = DeltaWeight(name);
        if (a.Magnitude is not null)
        {
            Dora.Unmerge(w, delta, a.Magnitude.ToArray(), a.MergedNorm!, OutFeatures, InFeatures);
            a.MergedNorm = null;
        }
        else
        {
            System.Numerics.Tensors.TensorPrimitives.Subtract(w, delta, w);
        }
        WriteWeightOutIn(w);
    }
}

internal static class LoraMath
{
    /// <summary>s · B (out, r) · A (r, in), accumulated in float64 and rounded once.</summary>
    public static float[] Delta(float[] b, float[] a, int outF, int r, int inF, float scaling)
    {
        var d = new float[outF * inF];
        var row = new double[inF];
        for (int o = 0; o < outF; o++)
        {
            Array.Clear(row);
            for (int k = 0; k < r; k++)
            {
                double bv = b[o * r + k];
                for (int i = 0; i < inF; i++)
                {
                    row[i] += bv * a[k * inF + i];
                }
            }
            for (int i = 0; i < inF; i++)
            {
                d[o * inF + i] = (float)row[i] * scaling;
            }
        }
        return d;
    }
}
