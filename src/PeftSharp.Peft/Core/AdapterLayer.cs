using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Core;

/// <summary>One tensor of an adapter: its path below the layer (with the adapter name, e.g. "lora_A.default.weight")
/// and its key in adapter_model.safetensors relative to the layer (without it, e.g. "lora_A.weight").</summary>
public readonly record struct AdapterParameter(string ModulePath, string FileKey, Tensor Value);

/// <summary>
/// A tensor that every layer of one adapter shares (VeRA's frozen projections, VB-LoRA's vector bank). The adapter file
/// holds it once, at model level, as "base_model.&lt;FileKey&gt;" (e.g. "base_model.vera_A"), however many layers use it.
/// <paramref name="Optional"/>: loading may omit it because the layer can rebuild it exactly from its configuration.
/// </summary>
public readonly record struct SharedAdapterTensor(string FileKey, Tensor Value, bool Optional = false);

/// <summary>
/// A base module wrapped with one or more adapters of one method. This class owns everything methods share:
/// the base module (child "base_layer", as Hugging Face names it), the active set and disable flag (through a
/// shared <see cref="AdapterSelection"/>), mixed batches with one adapter per row, merge bookkeeping and deletion.
/// A method implements only its math: the adapted forward, merge and unmerge of one adapter.
/// </summary>
public abstract class AdapterLayer : Module
{
    /// <summary>The child name of the wrapped module.</summary>
    public const string BaseLayerName = "base_layer";

    private readonly List<string> _merged = new();

    protected AdapterLayer(Module baseLayer, AdapterSelection selection)
    {
        RegisterModule(BaseLayerName, baseLayer);
        Selection = selection;
        Train(baseLayer.Training);
    }

    /// <summary>The wrapped module.</summary>
    public Module BaseLayer => Child(BaseLayerName);

    /// <summary>The shared active-set / disable / per-row state this layer follows.</summary>
    public AdapterSelection Selection { get; internal set; }

    /// <summary>The adapters this layer holds, in the order they were added.</summary>
    public abstract IReadOnlyList<string> AdapterNames { get; }

    /// <summary>True when this layer holds adapter <paramref name="name"/>.</summary>
    public bool HasAdapter(string name) => AdapterNames.Contains(name, StringComparer.Ordinal);

    /// <summary>Adapters currently merged into the base weights, in merge order.</summary>
    public IReadOnlyList<string> MergedAdapters => _merged;

    /// <summary>The tensors of one adapter with their module paths and file keys.</summary>
    public abstract IEnumerable<AdapterParameter> AdapterParameters(string name);

    /// <summary>
    /// The tensors of one adapter that this layer shares with the adapter's other layers, saved once at model level.
    /// A tensor listed here is not also written under this layer's key, even when <see cref="AdapterParameters"/>
    /// lists it (one layer registers a shared trainable tensor so that it appears once among the parameters).
    /// </summary>
    public virtual IEnumerable<SharedAdapterTensor> SharedTensors(string name) => [];

    /// <summary>
    /// The value written to the adapter file for one of this layer's tensors (default: the tensor itself). A method
    /// whose file holds a reduced form of its live tensors overrides this (AdaLoRA after rank allocation).
    /// </summary>
    protected internal virtual Tensor SavedValue(string adapter, AdapterParameter p) => p.Value;

    /// <summary>Applies the base module and, unless disabled, the active (unmerged) adapters present here.</summary>
    public override Tensor Forward(Tensor input)
    {
        var sel = Selection;
        if (sel.Disabled)
        {
            // As Hugging Face does: a disabled layer computes the base function, so merged adapters come out first.
            if (_merged.Count > 0)
            {
                Unmerge();
            }
            return BaseLayer.Forward(input);
        }
        if (sel.RowAdapters is { } rows)
        {
            if (_merged.Count > 0)
            {
                throw new InvalidOperationException($"A mixed batch cannot run while adapters [{string.Join(", ", _merged)}] are merged; unmerge first.");
            }
            return RowGroups.Run(input, rows, (x, name) => name == AdapterSelection.BaseRow || !HasAdapter(name) ? BaseLayer.Forward(x) : ForwardAdapters(x, [name]));
        }
        var active = ActiveUnmerged(sel.Active);
        return active.Count == 0 ? BaseLayer.Forward(input) : ForwardAdapters(input, active);
    }

    private List<string> ActiveUnmerged(IReadOnlyList<string> active)
    {
        var list = new List<string>(active.Count);
        foreach (var a in active)
        {
            if (HasAdapter(a) && !_merged.Contains(a))
            {
                list.Add(a);
            }
        }
        return list;
    }

    /// <summary>The adapted output with the given adapters (all present here, none merged), base output included.</summary>
    protected abstract Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters);

    /// <summary>Folds one adapter into the base module's weights.</summary>
    protected abstract void MergeAdapter(string name);

    /// <summary>Takes one merged adapter back out of the base weights.</summary>
    protected abstract void UnmergeAdapter(string name);

    /// <summary>Merges the named adapters (default: the active ones) that this layer holds and has not merged yet.</summary>
    public void Merge(IEnumerable<string>? names = null)
    {
        using var _ = Tensors.Autograd.GradMode.NoGrad();
        foreach (var n in names ?? Selection.Active)
        {
            if (HasAdapter(n) && !_merged.Contains(n))
            {
                MergeAdapter(n);
                _merged.Add(n);
            }
        }
    }

    /// <summary>Unmerges every merged adapter, newest first, restoring the base weights up to float32 rounding.</summary>
    public void Unmerge()
    {
        using var _ = Tensors.Autograd.GradMode.NoGrad();
        for (int i = _merged.Count - 1; i >= 0; i--)
        {
            UnmergeAdapter(_merged[i]);
            _merged.RemoveAt(i);
        }
    }

    /// <summary>Removes an adapter and all its tensors (it is unmerged first if merged).</summary>
    public void DeleteAdapter(string name)
    {
        if (!HasAdapter(name))
        {
            throw new KeyNotFoundException($"This layer has no adapter \"{name}\"; it holds [{string.Join(", ", AdapterNames)}].");
        }
        var remerge = _merged.Where(m => m != name).ToArray();
        if (_merged.Contains(name))
        {
            Unmerge();
        }
        foreach (var p in AdapterParameters(name))
        {
            ParameterSlots.Remove(this, p.ModulePath);
        }
        RemoveAdapterRecord(name);
        if (remerge.Length > 0 && _merged.Count == 0)
        {
            Merge(remerge);
        }
    }

    /// <summary>Forgets the per-adapter record (its tensors are already unregistered).</summary>
    protected abstract void RemoveAdapterRecord(string name);

    /// <summary>Sets RequiresGrad on every tensor of one adapter.</summary>
    public void SetTrainable(string name, bool trainable)
    {
        foreach (var p in AdapterParameters(name))
        {
            p.Value.RequiresGrad = trainable;
        }
    }

    /// <summary>Registers an adapter tensor at its module path.</summary>
    protected void Place(AdapterParameter p) => ParameterSlots.Place(this, p.ModulePath, p.Value, AddChild);

    public override string Describe() => $"{GetType().Name}({BaseLayer.Describe()}, adapters=[{string.Join(", ", AdapterNames)}])";
}

/// <summary>An adapter layer whose per-adapter state is one record of type <typeparamref name="TAdapter"/>.</summary>
public abstract class AdapterLayer<TAdapter> : AdapterLayer where TAdapter : class
{
    private readonly List<string> _order = new();
    private readonly Dictionary<string, TAdapter> _adapters = new(StringComparer.Ordinal);

    protected AdapterLayer(Module baseLayer, AdapterSelection selection) : base(baseLayer, selection)
    {
    }

    public override IReadOnlyList<string> AdapterNames => _order;

    /// <summary>The record of one adapter.</summary>
    public TAdapter Adapter(string name) =>
        _adapters.TryGetValue(name, out var a) ? a : throw new KeyNotFoundException($"This layer has no adapter \"{name}\"; it holds [{string.Join(", ", _order)}].");

    /// <summary>The tensors of an adapter record, with their paths and file keys.</summary>
    protected abstract IEnumerable<AdapterParameter> ParametersOf(string name, TAdapter adapter);

    public override IEnumerable<AdapterParameter> AdapterParameters(string name) => ParametersOf(name, Adapter(name));

    /// <summary>Adds a new adapter record and registers its tensors under their Hugging Face paths.</summary>
    protected void AddAdapterRecord(string name, TAdapter adapter)
    {
        if (_adapters.ContainsKey(name))
        {
            throw new InvalidOperationException($"Adapter \"{name}\" already exists on this layer.");
        }
        _adapters[name] = adapter;
        _order.Add(name);
        foreach (var p in ParametersOf(name, adapter))
        {
            Place(p);
        }
    }

    protected override void RemoveAdapterRecord(string name)
    {
        _adapters.Remove(name);
        _order.Remove(name);
    }
}
