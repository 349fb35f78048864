using PeftSharp.Tensors;

namespace PeftSharp.Nn;

/// <summary>
/// A node of a model tree. A module owns named parameters (trainable or frozen tensors), named buffers
/// (non-trainable state saved with the model) and named child modules, in registration order. Dotted
/// paths ("model.layers.0.self_attn.q_proj") name modules and "<c>path.weight</c>" names parameters, exactly
/// as Hugging Face state dicts do. Children can be replaced by name, which is how adapters wrap layers.
/// </summary>
public abstract class Module
{
    private readonly List<string> _parameterOrder = new();
    private readonly Dictionary<string, Tensor?> _parameters = new(StringComparer.Ordinal);
    private readonly List<string> _bufferOrder = new();
    private readonly Dictionary<string, Tensor> _buffers = new(StringComparer.Ordinal);
    private readonly List<string> _childOrder = new();
    private readonly Dictionary<string, Module> _children = new(StringComparer.Ordinal);

    /// <summary>True in training mode (dropout active), false in evaluation mode.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Applies the module to one tensor. Modules with other signatures throw <see cref="NotSupportedException"/>.</summary>
    public virtual Tensor Forward(Tensor input) =>
        throw new NotSupportedException($"{GetType().Name} does not take a single tensor; call its specific Forward overload.");

    /// <summary>Sets training mode on this module and all descendants.</summary>
    public void Train(bool training = true)
    {
        Training = training;
        foreach (var c in _children.Values)
        {
            c.Train(training);
        }
    }

    /// <summary>Evaluation mode (equivalent to <c>Train(false)</c>).</summary>
    public void Eval() => Train(false);

    // ---- registration ----

    /// <summary>Registers a parameter (null allowed: an optional parameter such as a missing bias).</summary>
    protected Tensor? RegisterParameter(string name, Tensor? value)
    {
        CheckName(name);
        if (!_parameters.ContainsKey(name))
        {
            _parameterOrder.Add(name);
        }
        _parameters[name] = value;
        if (value is not null)
        {
            value.Name ??= name;
        }
        return value;
    }

    /// <summary>Registers a buffer: state saved in the state dict that is never trained.</summary>
    protected Tensor RegisterBuffer(string name, Tensor value)
    {
        CheckName(name);
        if (!_buffers.ContainsKey(name))
        {
            _bufferOrder.Add(name);
        }
        _buffers[name] = value;
        return value;
    }

    /// <summary>Registers a child module.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        if (!_children.ContainsKey(name))
        {
            _childOrder.Add(name);
        }
        _children[name] = module;
        return module;
    }

    private static void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
        {
            throw new ArgumentException($"Module member names must be non-empty and contain no '.': \"{name}\".");
        }
    }

    // ---- access ----

    /// <summary>A parameter of this module by its local name (null when registered as absent).</summary>
    public Tensor? Parameter(string name) =>
        _parameters.TryGetValue(name, out var p) ? p : throw new KeyNotFoundException($"{GetType().Name} has no parameter \"{name}\".");

    /// <summary>Replaces a registered parameter (e.g. to load a value or change its storage precision).</summary>
    public void SetParameter(string name, Tensor? value)
    {
        if (!_parameters.ContainsKey(name))
        {
            throw new KeyNotFoundException($"{GetType().Name} has no parameter \"{name}\".");
        }
        _parameters[name] = value;
        OnParameterChanged(name, value);
    }

    /// <summary>Called after <see cref="SetParameter"/>; modules caching parameter references refresh them here.</summary>
    protected virtual void OnParameterChanged(string name, Tensor? value)
    {
    }

    /// <summary>A buffer of this module by local name.</summary>
    public Tensor Buffer(string name) =>
        _buffers.TryGetValue(name, out var b) ? b : throw new KeyNotFoundException($"{GetType().Name} has no buffer \"{name}\".");

    /// <summary>Replaces a registered buffer.</summary>
    public void SetBuffer(string name, Tensor value)
    {
        if (!_buffers.ContainsKey(name))
        {
            throw new KeyNotFoundException($"{GetType().Name} has no buffer \"{name}\".");
        }
        _buffers[name] = value;
    }

    /// <summary>A direct child by name.</summary>
    public Module Child(string name) =>
        _children.TryGetValue(name, out var c) ? c : throw new KeyNotFoundException($"{GetType().Name} has no child module \"{name}\".");

    /// <summary>True when a direct child of that name exists.</summary>
    public bool HasChild(string name) => _children.ContainsKey(name);

    /// <summary>Replaces a direct child (adapters wrap layers this way). The new module inherits the training mode.</summary>
    public void ReplaceChild(string name, Module module)
    {
        if (!_children.ContainsKey(name))
        {
            throw new KeyNotFoundException($"{GetType().Name} has no child module \"{name}\" to replace.");
        }
        module.Train(Training);
        _children[name] = module;
    }

    /// <summary>Adds a child after construction (e.g. an adapter's trainable copy).</summary>
    public void AddChild(string name, Module module)
    {
        if (_children.ContainsKey(name))
        {
            throw new InvalidOperationException($"{GetType().Name} already has a child \"{name}\".");
        }
        RegisterModule(name, module);
    }

    /// <summary>Removes a child added with <see cref="AddChild"/>.</summary>
    public void RemoveChild(string name)
    {
        if (_children.Remove(name))
        {
            _childOrder.Remove(name);
        }
    }

    /// <summary>Direct children in registration order.</summary>
    public IEnumerable<(string Name, Module Module)> Children() => _childOrder.Select(n => (n, _children[n]));

    /// <summary>The module at a dotted path relative to this one ("" is this module).</summary>
    public Module Get(string path)
    {
        if (path.Length == 0)
        {
            return this;
        }
        Module m = this;
        foreach (var part in path.Split('.'))
        {
            if (!m._children.TryGetValue(part, out var next))
            {
                throw new KeyNotFoundException($"No module at \"{path}\": {m.GetType().Name} has no child \"{part}\".");
            }
            m = next;
        }
        return m;
    }

    /// <summary>This module and every descendant with its dotted path, depth first in registration order ("" for this one).</summary>
    public IEnumerable<(string Path, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var name in _childOrder)
        {
            var childPrefix = prefix.Length == 0 ? name : prefix + "." + name;
            foreach (var item in _children[name].NamedModules(childPrefix))
            {
                yield return item;
            }
        }
    }

    /// <summary>Every non-null parameter with its dotted path, in registration order.</summary>
    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters(string prefix = "")
    {
        foreach (var (path, module) in NamedModules(prefix))
        {
            foreach (var name in module._parameterOrder)
            {
                if (module._parameters[name] is { } p)
                {
                    yield return (path.Length == 0 ? name : path + "." + name, p);
                }
            }
        }
    }

    /// <summary>Every buffer with its dotted path.</summary>
    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers(string prefix = "")
    {
        foreach (var (path, module) in NamedModules(prefix))
        {
            foreach (var name in module._bufferOrder)
            {
                yield return (path.Length == 0 ? name : path + "." + name, module._buffers[name]);
            }
        }
    }

    /// <summary>Parameters that require grad.</summary>
    public IEnumerable<Tensor> TrainableParameters() => NamedParameters().Select(p => p.Parameter).Where(p => p.RequiresGrad);

    /// <summary>Sets RequiresGrad on every parameter.</summary>
    public void RequiresGrad(bool value)
    {
        foreach (var (_, p) in NamedParameters())
        {
            if (p.DType == DType.F32 || !value)
            {
                p.RequiresGrad = value;
            }
        }
    }

    /// <summary>
    /// Clears the gradients of every parameter: by default zeroes the existing buffers in place (so a training loop
    /// allocates no new gradient memory per step); with <paramref name="setToNone"/> drops them instead.
    /// </summary>
    public void ZeroGrad(bool setToNone = false)
    {
        foreach (var (_, p) in NamedParameters())
        {
            if (setToNone || p.Grad is null)
            {
                p.Grad = null;
            }
            else
            {
                p.Grad.Span.Clear();
            }
        }
    }

    /// <summary>Short description for inspection output.</summary>
    public virtual string Describe() => GetType().Name;
}
