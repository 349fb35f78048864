using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Core;

/// <summary>
/// A plain container module (like torch's ModuleDict/ParameterDict) that lets adapter layers place tensors
/// at Hugging Face paths such as "lora_A.default.weight" or "ia3_l.default", and remove them again.
/// </summary>
internal sealed class ParameterSlots : Module
{
    private readonly HashSet<string> _liveParameters = new(StringComparer.Ordinal);

    public bool IsEmpty => _liveParameters.Count == 0 && !Children().Any();

    public void Put(string name, Tensor value)
    {
        RegisterParameter(name, value);
        _liveParameters.Add(name);
    }

    public void Drop(string name)
    {
        if (_liveParameters.Remove(name))
        {
            SetParameter(name, null);
        }
    }

    public ParameterSlots Slot(string name)
    {
        if (HasChild(name))
        {
            return (ParameterSlots)Child(name);
        }
        var s = new ParameterSlots();
        AddChild(name, s);
        return s;
    }

    /// <summary>Places <paramref name="value"/> at a dotted path below <paramref name="owner"/>, creating containers.</summary>
    public static void Place(Module owner, string path, Tensor value, Action<string, Module> addChild)
    {
        var parts = path.Split('.');
        if (!owner.HasChild(parts[0]))
        {
            addChild(parts[0], new ParameterSlots());
        }
        var slot = (ParameterSlots)owner.Child(parts[0]);
        for (int i = 1; i < parts.Length - 1; i++)
        {
            slot = slot.Slot(parts[i]);
        }
        slot.Put(parts[^1], value);
    }

    /// <summary>Removes the tensor at a dotted path and every container left empty.</summary>
    public static void Remove(Module owner, string path)
    {
        var parts = path.Split('.');
        if (!owner.HasChild(parts[0]) || owner.Child(parts[0]) is not ParameterSlots top)
        {
            return;
        }
        RemoveBelow(top, parts, 1);
        if (top.IsEmpty)
        {
            owner.RemoveChild(parts[0]);
        }
    }

    private static void RemoveBelow(ParameterSlots slot, string[] parts, int i)
    {
        if (i == parts.Length - 1)
        {
            slot.Drop(parts[i]);
            return;
        }
        if (!slot.HasChild(parts[i]))
        {
            return;
        }
        var child = (ParameterSlots)slot.Child(parts[i]);
        RemoveBelow(child, parts, i + 1);
        if (child.IsEmpty)
        {
            slot.RemoveChild(parts[i]);
        }
    }
}
