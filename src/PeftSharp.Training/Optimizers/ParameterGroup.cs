using PeftSharp.Tensors;

namespace PeftSharp.Training.Optimizers;

/// <summary>
/// A set of parameters sharing hyperparameters (torch's <c>param_groups</c>). A typical use is two groups:
/// weights with weight decay and biases/norm scales without (see <see cref="ParameterGroups.SplitWeightDecay"/>).
/// Values left null take the optimizer's defaults when the optimizer is constructed.
/// </summary>
public sealed class ParameterGroup
{
    /// <summary>Creates a group from named parameters (names are the keys of the optimizer's state dict).</summary>
    public ParameterGroup(IEnumerable<(string Name, Tensor Parameter)> parameters, double? learningRate = null, double? weightDecay = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Parameters = parameters.ToArray();
        RequestedLearningRate = learningRate;
        RequestedWeightDecay = weightDecay;
    }

    /// <summary>The parameters of this group, in order.</summary>
    public IReadOnlyList<(string Name, Tensor Parameter)> Parameters { get; }

    /// <summary>The learning rate the next <see cref="Optimizer.Step"/> uses. Schedules set it every step.</summary>
    public double LearningRate { get; set; }

    /// <summary>The learning rate the group was created with; schedules multiply it (torch's <c>initial_lr</c>).</summary>
    public double InitialLearningRate { get; internal set; }

    /// <summary>Weight decay of this group.</summary>
    public double WeightDecay { get; set; }

    internal double? RequestedLearningRate { get; }

    internal double? RequestedWeightDecay { get; }
}

/// <summary>Helpers that build parameter groups.</summary>
public static class ParameterGroups
{
    /// <summary>
    /// Splits parameters into a group with <paramref name="weightDecay"/> and a group without it, as the
    /// transformers Trainer does. By default biases (names ending in "bias") and normalisation scales (a name
    /// segment containing "norm", case-insensitive, e.g. <c>input_layernorm.weight</c>) get no decay; pass
    /// <paramref name="noDecay"/> to decide otherwise. Empty groups are omitted.
    /// </summary>
    public static IReadOnlyList<ParameterGroup> SplitWeightDecay(IEnumerable<(string Name, Tensor Parameter)> parameters, double weightDecay, Func<string, bool>? noDecay = null)
    {
        noDecay ??= IsBiasOrNorm;
        var decay = new List<(string, Tensor)>();
        var plain = new List<(string, Tensor)>();
        foreach (var p in parameters)
        {
            (noDecay(p.Name) ? plain : decay).Add(p);
        }
        var groups = new List<ParameterGroup>();
        if (decay.Count > 0)
        {
            groups.Add(new ParameterGroup(decay, weightDecay: weightDecay));
        }
        if (plain.Count > 0)
        {
            groups.Add(new ParameterGroup(plain, weightDecay: 0.0));
        }
        return groups;
    }

    /// <summary>The default no-decay rule of <see cref="SplitWeightDecay"/>.</summary>
    public static bool IsBiasOrNorm(string name)
    {
        if (name.EndsWith("bias", StringComparison.Ordinal))
        {
            return true;
        }
        foreach (var part in name.Split('.'))
        {
            if (part.Contains("norm", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }
}
