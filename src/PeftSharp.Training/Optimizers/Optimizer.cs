using PeftSharp.Tensors;

namespace PeftSharp.Training.Optimizers;

/// <summary>
/// Shared machinery of the optimizers: parameter groups, per-parameter state tensors (allocated once, on a
/// parameter's first step, outside any pooled scope), gradient clearing and state dicts.
/// <para>
/// State dict layout: for each parameter that has taken at least one step, <c>&lt;name&gt;.step</c> (int32
/// scalar) and <c>&lt;name&gt;.&lt;state&gt;</c> for each state tensor of the optimizer (e.g. <c>exp_avg</c>),
/// shaped like the parameter. Hyperparameters and learning rates are not part of it: they come from the
/// configuration and the schedule's state.
/// </para>
/// </summary>
public abstract class Optimizer : IOptimizer
{
    /// <summary>Suffix of the step-count entry in the state dict.</summary>
    public const string StepKey = "step";

    private readonly ParameterGroup[] _groups;
    private readonly Slot[] _slots;
    private readonly (string Name, Tensor Parameter)[] _named;

    /// <summary>Per-parameter bookkeeping: the group, the number of steps taken and the state tensors.</summary>
    protected sealed class Slot
    {
        internal Slot(string name, Tensor parameter, ParameterGroup group, int stateCount)
        {
            Name = name;
            Parameter = parameter;
            Group = group;
            State = new Tensor?[stateCount];
        }

        public string Name { get; }

        public Tensor Parameter { get; }

        public ParameterGroup Group { get; }

        /// <summary>Steps this parameter has taken (torch's <c>state["step"]</c>).</summary>
        public int Step { get; set; }

        /// <summary>State tensors in the order of <see cref="StateNames"/>; null until the first step.</summary>
        public Tensor?[] State { get; }
    }

    /// <summary>Validates the groups and fills their unset hyperparameters with the defaults.</summary>
    /// <exception cref="ArgumentException">No parameters, a duplicate name or tensor, or a parameter that is not a contiguous float32 tensor.</exception>
    protected Optimizer(IEnumerable<ParameterGroup> groups, double learningRate, double weightDecay, IReadOnlyList<string> stateNames)
    {
        ArgumentNullException.ThrowIfNull(groups);
        CheckNonNegativeFinite(learningRate, "learning rate");
        CheckNonNegativeFinite(weightDecay, "weight decay");
        _groups = groups.ToArray();
        StateNames = stateNames;
        var names = new HashSet<string>(StringComparer.Ordinal);
        var tensors = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var slots = new List<Slot>();
        foreach (var g in _groups)
        {
            g.LearningRate = g.RequestedLearningRate ?? learningRate;
            g.InitialLearningRate = g.LearningRate;
            g.WeightDecay = g.RequestedWeightDecay ?? weightDecay;
            CheckNonNegativeFinite(g.LearningRate, "learning rate");
            CheckNonNegativeFinite(g.WeightDecay, "weight decay");
            foreach (var (name, p) in g.Parameters)
            {
                if (string.IsNullOrEmpty(name))
                {
                    throw new ArgumentException("Every optimized parameter needs a non-empty name (it keys the state dict).");
                }
                if (!names.Add(name))
                {
                    throw new ArgumentException($"Parameter name '{name}' appears twice in the optimizer's groups.");
                }
                if (!tensors.Add(p))
                {
                    throw new ArgumentException($"Parameter '{name}' is the same tensor as another optimized parameter.");
                }
                if (p.DType != DType.F32 || !p.IsContiguous)
                {
                    throw new ArgumentException($"Parameter '{name}' must be a contiguous float32 tensor; it is {p}.");
                }
                slots.Add(new Slot(name, p, g, stateNames.Count));
            }
        }
        if (slots.Count == 0)
        {
            throw new ArgumentException("The optimizer was given no parameters.");
        }
        _slots = slots.ToArray();
        _named = _slots.Select(s => (s.Name, s.Parameter)).ToArray();
        Parameters = _slots.Select(s => s.Parameter).ToArray();
    }

    /// <inheritdoc />
    public IReadOnlyList<ParameterGroup> Groups => _groups;

    /// <inheritdoc />
    public IReadOnlyList<(string Name, Tensor Parameter)> NamedParameters => _named;

    /// <summary>The optimized tensors, in group order (for gradient clipping without allocation).</summary>
    public IReadOnlyList<Tensor> Parameters { get; }

    /// <summary>Names of the per-parameter state tensors, e.g. <c>exp_avg</c>.</summary>
    public IReadOnlyList<string> StateNames { get; }

    /// <inheritdoc />
    public double LearningRate
    {
        get => _groups[0].LearningRate;
        set
        {
            CheckNonNegativeFinite(value, "learning rate");
            foreach (var g in _groups)
            {
                g.LearningRate = value;
            }
        }
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">A gradient's shape differs from its parameter's, or it is not contiguous float32.</exception>
    public void Step()
    {
        foreach (var slot in _slots)
        {
            var grad = slot.Parameter.Grad;
            if (grad is null)
            {
                continue;
            }
            if (grad.DType != DType.F32 || !grad.IsContiguous || !grad.Shape.SequenceEqual(slot.Parameter.Shape))
            {
                throw new InvalidOperationException($"Gradient of '{slot.Name}' is {grad}; expected a contiguous float32 tensor of shape {Shapes.Format(slot.Parameter.Shape)}.");
            }
            if (slot.State.Length > 0 && slot.State[0] is null)
            {
                AllocateState(slot);
            }
            slot.Step++;
            Update(slot, grad.Span);
        }
    }

    /// <summary>Applies one update to <paramref name="slot"/>'s parameter (state is allocated; Step already counts this step).</summary>
    protected abstract void Update(Slot slot, ReadOnlySpan<float> grad);

    /// <inheritdoc />
    public void ZeroGrad(bool setToNone = false)
    {
        foreach (var slot in _slots)
        {
            var g = slot.Parameter.Grad;
            if (g is null)
            {
                continue;
            }
            if (setToNone || !g.IsContiguous || g.DType != DType.F32)
            {
                slot.Parameter.Grad = null;
            }
            else
            {
                g.Span.Clear();
            }
        }
    }

    private static void AllocateState(Slot slot)
    {
        // Optimizer state outlives every step, so it must not come from the step's pooled scope.
        using var persistent = TensorScope.Persistent();
        var shape = slot.Parameter.Shape.ToArray();
        for (int i = 0; i < slot.State.Length; i++)
        {
            slot.State[i] = Tensor.Zeros(shape);
        }
    }

    /// <inheritdoc />
    public Dictionary<string, Tensor> StateDict()
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var persistent = TensorScope.Persistent();
        foreach (var slot in _slots)
        {
            if (slot.Step == 0)
            {
                continue;
            }
            result[slot.Name + "." + StepKey] = Tensor.FromInts([slot.Step]);
            for (int i = 0; i < StateNames.Count; i++)
            {
                result[slot.Name + "." + StateNames[i]] = slot.State[i]!.Clone();
            }
        }
        return result;
    }

    /// <inheritdoc />
    /// <exception cref="InvalidDataException">
    /// The state names a parameter this optimizer does not have, misses a state tensor, or holds a tensor of the
    /// wrong shape or dtype. The message lists every problem; nothing is changed when it is thrown.
    /// </exception>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var problems = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        var plan = new List<(Slot Slot, int Step, Tensor[] Values)>();
        foreach (var slot in _slots)
        {
            string stepKey = slot.Name + "." + StepKey;
            if (!state.TryGetValue(stepKey, out var stepTensor))
            {
                foreach (var s in StateNames)
                {
                    if (state.ContainsKey(slot.Name + "." + s))
                    {
                        problems.Add($"'{slot.Name}.{s}' is present but '{stepKey}' is missing");
                        used.Add(slot.Name + "." + s);
                    }
                }
                plan.Add((slot, 0, []));
                continue;
            }
            used.Add(stepKey);
            int step = 0;
            if (stepTensor.DType != DType.I32 || stepTensor.Numel != 1)
            {
                problems.Add($"'{stepKey}' must be one integer; it is {stepTensor}");
            }
            else
            {
                step = stepTensor.ToIntArray()[0];
                if (step < 0)
                {
                    problems.Add($"'{stepKey}' is negative ({step})");
                }
            }
            var values = new Tensor[StateNames.Count];
            for (int i = 0; i < StateNames.Count; i++)
            {
                string key = slot.Name + "." + StateNames[i];
                if (!state.TryGetValue(key, out var t))
                {
                    problems.Add($"'{key}' is missing");
                    continue;
                }
                used.Add(key);
                if (t.DType != DType.F32 || !t.Shape.SequenceEqual(slot.Parameter.Shape))
                {
                    problems.Add($"'{key}' is {t}; expected float32 of shape {Shapes.Format(slot.Parameter.Shape)}");
                    continue;
                }
                values[i] = t;
            }
            plan.Add((slot, step, values));
        }
        foreach (var key in state.Keys)
        {
            if (!used.Contains(key))
            {
                problems.Add($"'{key}' does not belong to any optimized parameter");
            }
        }
        if (problems.Count > 0)
        {
            throw new InvalidDataException($"Optimizer state does not match this {GetType().Name} ({problems.Count} problem(s)): {string.Join("; ", problems.Take(20))}{(problems.Count > 20 ? "; ..." : "")}.");
        }
        foreach (var (slot, step, values) in plan)
        {
            slot.Step = step;
            if (step == 0)
            {
                Array.Clear(slot.State);
                continue;
            }
            if (slot.State.Length > 0 && slot.State[0] is null)
            {
                AllocateState(slot);
            }
            for (int i = 0; i < values.Length; i++)
            {
                values[i].CopyTo(slot.State[i]!.Span);
            }
        }
    }

    /// <summary>Throws unless <paramref name="value"/> is finite and ≥ 0.</summary>
    protected static void CheckNonNegativeFinite(double value, string what)
    {
        if (!double.IsFinite(value) || value < 0)
        {
            throw new ArgumentOutOfRangeException(what, value, $"The {what} must be a finite number ≥ 0; got {value}.");
        }
    }
}
