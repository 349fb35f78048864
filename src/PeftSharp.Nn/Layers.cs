using PeftSharp.Tensors;

namespace PeftSharp.Nn;

/// <summary>y = x·Wᵀ + b with W (out, in), as torch.nn.Linear. W may be stored in BF16/F16 when frozen.</summary>
public sealed class Linear : Module, ILinearLayer
{
    public const string WeightName = "weight";
    public const string BiasName = "bias";

    public Linear(int inFeatures, int outFeatures, bool bias = true, Rng? rng = null)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        // torch's default: Kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in) for both weight and bias.
        float bound = inFeatures > 0 ? 1f / MathF.Sqrt(inFeatures) : 0f;
        var r = rng ?? new Rng(0);
        var w = Tensor.Uniform([outFeatures, inFeatures], -bound, bound, r);
        w.RequiresGrad = true;
        RegisterParameter(WeightName, w);
        Tensor? b = null;
        if (bias)
        {
            b = Tensor.Uniform([outFeatures], -bound, bound, r);
            b.RequiresGrad = true;
        }
        RegisterParameter(BiasName, b);
    }

    /// <summary>Wraps existing tensors (weight (out, in), optional bias (out)).</summary>
    public Linear(Tensor weight, Tensor? bias)
    {
        if (weight.Rank != 2)
        {
            throw new ArgumentException($"Linear weight must be (out, in); got {Shapes.Format(weight.Shape)}.");
        }
        if (bias is not null && (bias.Rank != 1 || bias.Dim(0) != weight.Dim(0)))
        {
            throw new ArgumentException($"Linear bias {Shapes.Format(bias.Shape)} does not match weight {Shapes.Format(weight.Shape)}.");
        }
        OutFeatures = weight.Dim(0);
        InFeatures = weight.Dim(1);
        RegisterParameter(WeightName, weight);
        RegisterParameter(BiasName, bias);
    }

    public int InFeatures { get; }

    public int OutFeatures { get; }

    public Tensor Weight => Parameter(WeightName)!;

    public Tensor? Bias => Parameter(BiasName);

    /// <summary>Always false: the weight is stored (out, in).</summary>
    public bool WeightIsTransposed => false;

    public override Tensor Forward(Tensor input) => Tensor.Linear(input, Weight, Bias);

    public override string Describe() => $"Linear(in={InFeatures}, out={OutFeatures}, bias={Bias is not null})";
}

/// <summary>A lookup table of rows (vocab, dim); input is an int32 id tensor.</summary>
public sealed class Embedding : Module
{
    public Embedding(int count, int dim, Rng? rng = null)
    {
        var w = Tensor.Normal([count, dim], 0f, 1f, rng ?? new Rng(0));
        w.RequiresGrad = true;
        RegisterParameter(Linear.WeightName, w);
    }

    public Embedding(Tensor weight)
    {
        if (weight.Rank != 2)
        {
            throw new ArgumentException($"Embedding weight must be (count, dim); got {Shapes.Format(weight.Shape)}.");
        }
        RegisterParameter(Linear.WeightName, weight);
    }

    public Tensor Weight => Parameter(Linear.WeightName)!;

    public int Count => Weight.Dim(0);

    public int EmbeddingDim => Weight.Dim(1);

    public override Tensor Forward(Tensor ids) => Tensor.Embedding(Weight, ids);

    public override string Describe() => $"Embedding({Count}, {EmbeddingDim})";
}

/// <summary>Dropout active only in training mode; draws from its own seeded generator so runs repeat.</summary>
public sealed class Dropout : Module
{
    public Dropout(float p, Rng? rng = null)
    {
        if (p is < 0f or >= 1f)
        {
            throw new ArgumentOutOfRangeException(nameof(p), $"Dropout probability must be in [0, 1); got {p}.");
        }
        P = p;
        Generator = rng ?? new Rng(0x5EED);
    }

    public float P { get; }

    /// <summary>The generator (its State is saved in checkpoints for exact resumption).</summary>
    public Rng Generator { get; }

    public override Tensor Forward(Tensor input) => Training && P > 0f ? input.Dropout(P, Generator) : input;

    public override string Describe() => $"Dropout(p={P})";
}

/// <summary>Applies children in order.</summary>
public sealed class Sequential : Module
{
    private readonly List<string> _names = new();

    public Sequential(params Module[] modules)
    {
        for (int i = 0; i < modules.Length; i++)
        {
            var name = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            RegisterModule(name, modules[i]);
            _names.Add(name);
        }
    }

    public override Tensor Forward(Tensor input)
    {
        var x = input;
        foreach (var n in _names)
        {
            x = Child(n).Forward(x);
        }
        return x;
    }
}

/// <summary>A pointwise activation as a module (for Sequential models).</summary>
public sealed class Activation : Module
{
    private readonly Func<Tensor, Tensor> _f;

    public Activation(string name, Func<Tensor, Tensor> f)
    {
        Name = name;
        _f = f;
    }

    public string Name { get; }

    public static Activation Relu() => new("relu", x => x.Relu());

    public static Activation Tanh() => new("tanh", x => x.Tanh());

    public static Activation Sigmoid() => new("sigmoid", x => x.Sigmoid());

    public override Tensor Forward(Tensor input) => _f(input);

    public override string Describe() => $"Activation({Name})";
}
