using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.LnTuning;

/// <summary>
/// LN tuning (Zhao et al., 2023, "Tuning LayerNorm in Attention: Towards Efficient Multi-Modal LLM Finetuning"): each
/// adapter holds a trainable copy of every parameter of the wrapped module (typically a LayerNorm or RMSNorm), and the
/// module runs with the active adapter's copy in place of its own parameters. Only one adapter can be active at a time.
/// Merging writes the copy into the module (the original values are kept to unmerge); the module type does not matter.
/// </summary>
public sealed class LnTuningLayer : AdapterLayer<LnTuningLayer.LnTuningAdapter>
{
    internal const string CopiesName = "ln_tuning_layers";

    /// <summary>One LN-tuning adapter: a copy of each parameter (path below the wrapped module → tensor).</summary>
    public sealed class LnTuningAdapter
    {
        public required IReadOnlyList<(string Path, Tensor Copy)> Copies { get; init; }

        /// <summary>The module's own values while this adapter is merged.</summary>
        internal float[][]? Original { get; set; }
    }

    public LnTuningLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection)
    {
        if (!baseLayer.NamedParameters().Any())
        {
            throw new NotSupportedException($"LN tuning needs a module with parameters; got {baseLayer.Describe()}.");
        }
    }

    protected override IEnumerable<AdapterParameter> ParametersOf(string name, LnTuningAdapter a) =>
        a.Copies.Select(c => new AdapterParameter(CopiesName + "." + name + "." + c.Path, CopiesName + "." + c.Path, c.Copy));

    internal void AddCopy(string name)
    {
        var copies = BaseLayer.NamedParameters().Select(p =>
        {
            var copy = Tensor.Wrap(p.Parameter.ToArray(), p.Parameter.Shape.ToArray());
            copy.RequiresGrad = true;
            return (p.Name, copy);
        }).ToArray();
        AddAdapterRecord(name, new LnTuningAdapter { Copies = copies });
    }

    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        if (adapters.Count != 1)
        {
            throw new InvalidOperationException($"LN tuning runs one adapter at a time; [{string.Join(", ", adapters)}] are active.");
        }
        var copies = Adapter(adapters[0]).Copies;
        var saved = new Tensor?[copies.Count];
        for (int i = 0; i < copies.Count; i++)
        {
            var (owner, local) = Locate(copies[i].Path);
            saved[i] = owner.Parameter(local);
            owner.SetParameter(local, copies[i].Copy);
        }
        try
        {
            return BaseLayer.Forward(input);
        }
        finally
        {
            for (int i = 0; i < copies.Count; i++)
            {
                var (owner, local) = Locate(copies[i].Path);
                owner.SetParameter(local, saved[i]);
            }
        }
    }

    protected override void MergeAdapter(string name)
    {
        if (MergedAdapters.Count > 0)
        {
            throw new InvalidOperationException($"LN tuning merges one adapter at a time; [{string.Join(", ", MergedAdapters)}] is merged already.");
        }
        var a = Adapter(name);
        a.Original = new float[a.Copies.Count][];
        for (int i = 0; i < a.Copies.Count; i++)
        {
            var (owner, local) = Locate(a.Copies[i].Path);
            a.Original[i] = owner.Parameter(local)!.ToArray();
            BaseWeights.Write(owner, local, a.Copies[i].Copy.ToArray());
        }
    }

    protected override void UnmergeAdapter(string name)
    {
        var a = Adapter(name);
        for (int i = 0; i < a.Copies.Count; i++)
        {
            var (owner, local) = Locate(a.Copies[i].Path);
            BaseWeights.Write(owner, local, a.Original![i]);
        }
        a.Original = null;
    }

    private (Module Owner, string Local) Locate(string path)
    {
        int dot = path.LastIndexOf('.');
        return dot < 0 ? (BaseLayer, path) : (BaseLayer.Get(path[..dot]), path[(dot + 1)..]);
    }
}
