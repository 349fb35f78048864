using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Core;

/// <summary>
/// A module listed in modules_to_save: the original (child "original_module") plus one trainable copy of its
/// parameters per adapter (under "modules_to_save.&lt;adapter&gt;", as Hugging Face names them). The forward pass runs
/// the original module with the active adapter's copies swapped in, so any module type works without cloning it.
/// </summary>
public sealed class ModulesToSaveWrapper : Module
{
    public const string OriginalName = "original_module";
    public const string CopiesName = "modules_to_save";

    private readonly List<string> _order = new();
    private readonly Dictionary<string, List<(string Path, Tensor Copy)>> _copies = new(StringComparer.Ordinal);

    public ModulesToSaveWrapper(Module original, AdapterSelection selection)
    {
        RegisterModule(OriginalName, original);
        Selection = selection;
        Train(original.Training);
    }

    public Module Original => Child(OriginalName);

    public AdapterSelection Selection { get; internal set; }

    public IReadOnlyList<string> AdapterNames => _order;

    public bool HasCopy(string adapter) => _copies.ContainsKey(adapter);

    /// <summary>Adds a float32 copy of every parameter of the original module for <paramref name="adapter"/>.</summary>
    public void AddCopy(string adapter)
    {
        if (_copies.ContainsKey(adapter))
        {
            throw new InvalidOperationException($"modules_to_save already holds a copy for adapter \"{adapter}\".");
        }
        var list = new List<(string, Tensor)>();
        foreach (var (path, p) in Original.NamedParameters())
        {
            var copy = Tensor.Wrap(p.ToArray(), p.Shape.ToArray());
            copy.RequiresGrad = true;
            list.Add((path, copy));
            ParameterSlots.Place(this, CopiesName + "." + adapter + "." + path, copy, AddChild);
        }
        _copies[adapter] = list;
        _order.Add(adapter);
    }

    /// <summary>The copy's tensors: module path below this wrapper and file key relative to the wrapped module.</summary>
    public IEnumerable<AdapterParameter> CopyParameters(string adapter) =>
        _copies.TryGetValue(adapter, out var list)
            ? list.Select(c => new AdapterParameter(CopiesName + "." + adapter + "." + c.Path, c.Path, c.Copy))
            : throw new KeyNotFoundException($"modules_to_save holds no copy for adapter \"{adapter}\".");

    public void DeleteCopy(string adapter)
    {
        foreach (var p in CopyParameters(adapter).ToArray())
        {
            ParameterSlots.Remove(this, p.ModulePath);
        }
        _copies.Remove(adapter);
        _order.Remove(adapter);
    }

    public override Tensor Forward(Tensor input)
    {
        if (Selection.Disabled)
        {
            return Original.Forward(input);
        }
        if (Selection.RowAdapters is { } rows)
        {
            return RowGroups.Run(input, rows, (x, name) => _copies.ContainsKey(name) ? WithCopy(x, name) : Original.Forward(x));
        }
        var active = Selection.Active.FirstOrDefault(_copies.ContainsKey);
        return active is null ? Original.Forward(input) : WithCopy(input, active);
    }

    private Tensor WithCopy(Tensor input, string adapter)
    {
        var list = _copies[adapter];
        var saved = new Tensor?[list.Count];
        for (int i = 0; i < list.Count; i++)
        {
            var (owner, local) = Locate(list[i].Path);
            saved[i] = owner.Parameter(local);
            owner.SetParameter(local, list[i].Copy);
        }
        try
        {
            return Original.Forward(input);
        }
        finally
        {
            for (int i = 0; i < list.Count; i++)
            {
                var (owner, local) = Locate(list[i].Path);
                owner.SetParameter(local, saved[i]);
            }
        }
    }

    private (Module Owner, string Local) Locate(string path)
    {
        int dot = path.LastIndexOf('.');
        return dot < 0 ? (Original, path) : (Original.Get(path[..dot]), path[(dot + 1)..]);
    }

    /// <summary>The original module with <paramref name="adapter"/>'s copy written into it (or untouched when null).</summary>
    internal Module Unwrap(string? adapter)
    {
        if (adapter is not null && _copies.TryGetValue(adapter, out var list))
        {
            foreach (var (path, copy) in list)
            {
                var (owner, local) = Locate(path);
                var detached = Tensor.Wrap(copy.ToArray(), copy.Shape.ToArray());
                detached.Name = owner.Parameter(local)?.Name;
                owner.SetParameter(local, detached);
            }
        }
        return Original;
    }

    public override string Describe() => $"ModulesToSaveWrapper({Original.Describe()}, adapters=[{string.Join(", ", _order)}])";
}
