using PeftSharp.Tensors;

namespace PeftSharp.Nn;

/// <summary>LayerNorm over the last dimension with weight and (optional) bias, as torch.nn.LayerNorm.</summary>
public sealed class LayerNorm : Module
{
    public LayerNorm(int size, float eps, bool bias = true)
    {
        Eps = eps;
        var w = Tensor.Ones(size);
        w.RequiresGrad = true;
        RegisterParameter(Linear.WeightName, w);
        Tensor? b = null;
        if (bias)
        {
            b = Tensor.Zeros(size);
            b.RequiresGrad = true;
        }
        RegisterParameter(Linear.BiasName, b);
    }

    public float Eps { get; }

    public Tensor Weight => Parameter(Linear.WeightName)!;

    public Tensor? Bias => Parameter(Linear.BiasName);

    public override Tensor Forward(Tensor input) => Tensor.LayerNorm(input, Weight, Bias, Eps);

    public override string Describe() => $"LayerNorm({Weight.Dim(0)}, eps={Eps})";
}

/// <summary>RMSNorm over the last dimension (Llama's LlamaRMSNorm): x·rsqrt(mean(x²)+eps)·weight.</summary>
public sealed class RmsNorm : Module
{
    public RmsNorm(int size, float eps)
    {
        Eps = eps;
        var w = Tensor.Ones(size);
        w.RequiresGrad = true;
        RegisterParameter(Linear.WeightName, w);
    }

    public float Eps { get; }

    public Tensor Weight => Parameter(Linear.WeightName)!;

    public override Tensor Forward(Tensor input) => Tensor.RmsNorm(input, Weight, Eps);

    public override string Describe() => $"RmsNorm({Weight.Dim(0)}, eps={Eps})";
}

/// <summary>
/// GPT-2's Conv1D: a linear layer whose weight is stored (in, out), y = x·W + b. Hugging Face PEFT treats it
/// as a linear layer with fan_in_fan_out = true.
/// </summary>
public sealed class Conv1D : Module, ILinearLayer
{
    public Conv1D(int inFeatures, int outFeatures, Rng? rng = null)
    {
        var w = Tensor.Normal([inFeatures, outFeatures], 0f, 0.02f, rng ?? new Rng(0));
        w.RequiresGrad = true;
        var b = Tensor.Zeros(outFeatures);
        b.RequiresGrad = true;
        RegisterParameter(Linear.WeightName, w);
        RegisterParameter(Linear.BiasName, b);
    }

    /// <summary>Weight (in, out).</summary>
    public Tensor Weight => Parameter(Linear.WeightName)!;

    public Tensor? Bias => Parameter(Linear.BiasName);

    public int InFeatures => Weight.Dim(0);

    public int OutFeatures => Weight.Dim(1);

    /// <summary>Always true: the weight is stored (in, out).</summary>
    public bool WeightIsTransposed => true;

    /// <summary>x·W + b, computed as Linear with the transposed view (no copy).</summary>
    public override Tensor Forward(Tensor input) => Tensor.Linear(input, Weight.T, Bias);

    public override string Describe() => $"Conv1D(in={InFeatures}, out={OutFeatures})";
}

/// <summary>An indexed list of modules named "0", "1", ... (torch.nn.ModuleList).</summary>
public sealed class ModuleList : Module
{
    private readonly List<Module> _items = new();

    public ModuleList(IEnumerable<Module> modules)
    {
        foreach (var m in modules)
        {
            RegisterModule(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), m);
            _items.Add(m);
        }
    }

    public int Count => _items.Count;

    /// <summary>The current module at an index (reflects replacements).</summary>
    public Module this[int index] => Child(index.ToString(System.Globalization.CultureInfo.InvariantCulture));
}
