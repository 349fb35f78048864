using PeftSharp.Tensors;

namespace PeftSharp.Peft.Core;

public sealed partial class PeftModel
{
    private readonly Dictionary<string, IAdapterTrainingHooks?> _hooks = new(StringComparer.Ordinal);

    /// <summary>
    /// The sum of the extra loss terms the trainable adapters' methods add to the task loss (AdaLoRA: its orthogonal
    /// regulariser), or null when none does. Hugging Face PEFT adds these to the model's loss inside its forward pass;
    /// here the caller adds them (<see cref="AddAuxiliaryLoss"/>), because the base model computes the task loss.
    /// </summary>
    public Tensor? AuxiliaryLoss()
    {
        Tensor? total = null;
        foreach (var hooks in TrainingHooks())
        {
            if (hooks.AuxiliaryLoss() is { } term)
            {
                total = total is null ? term : total.Add(term);
            }
        }
        return total;
    }

    /// <summary><paramref name="taskLoss"/> plus <see cref="AuxiliaryLoss"/> (unchanged when there is none).</summary>
    public Tensor AddAuxiliaryLoss(Tensor taskLoss) => AuxiliaryLoss() is { } aux ? taskLoss.Add(aux) : taskLoss;

    /// <summary>
    /// Call after every optimizer step, before gradients are zeroed, with the number of completed steps (1-based).
    /// Methods that adapt during training act here (AdaLoRA: importance scores and rank allocation, as Hugging Face's
    /// update_and_allocate). Does nothing for methods without training-time behaviour.
    /// </summary>
    public void AfterOptimizerStep(long step)
    {
        foreach (var hooks in TrainingHooks())
        {
            hooks.AfterOptimizerStep(step);
        }
    }

    /// <summary>The hooks of every trainable adapter, created on first use (and dropped with their adapter).</summary>
    private List<IAdapterTrainingHooks> TrainingHooks()
    {
        foreach (var stale in _hooks.Keys.Where(k => !_configs.ContainsKey(k)).ToArray())
        {
            _hooks.Remove(stale);
        }
        var list = new List<IAdapterTrainingHooks>();
        if (_method is null)
        {
            return list;
        }
        foreach (var name in _order)
        {
            if (!IsTrainable(name))
            {
                continue;
            }
            if (!_hooks.TryGetValue(name, out var h))
            {
                h = _method.CreateTrainingHooks(this, name);
                _hooks[name] = h;
            }
            if (h is not null)
            {
                list.Add(h);
            }
        }
        return list;
    }

    /// <summary>Replaces the stored configuration of an adapter (methods that update it while training, e.g. AdaLoRA's rank_pattern).</summary>
    internal void UpdateConfig(string name, AdapterConfig config)
    {
        if (!_configs.ContainsKey(name))
        {
            throw new KeyNotFoundException($"No adapter \"{name}\".");
        }
        _configs[name] = config;
    }
}
