namespace PeftSharp.Tensors.Autograd;

/// <summary>
/// Define-by-run reverse-mode differentiation. Ops call <see cref="Record"/>; <see cref="Backward"/> walks the
/// recorded nodes from the output in reverse topological order, summing gradients that meet, and adds
/// (accumulates) the result into each leaf's <see cref="Tensor.Grad"/>.
/// </summary>
internal static class Tape
{
    /// <summary>
    /// Attaches a node to <paramref name="output"/> when grad mode is on and any input requires grad;
    /// returns the node (to save state on) or null when nothing is recorded.
    /// </summary>
    public static Node? Record(Tensor output, string op, BackwardRule rule, params Tensor[] inputs)
    {
        if (!GradMode.IsEnabled)
        {
            return null;
        }
        bool any = false;
        foreach (var t in inputs)
        {
            any |= t.RequiresGrad;
        }
        if (!any)
        {
            return null;
        }
        var node = new Node(op, inputs, rule) { Output = output };
        output.GradFn = node;
        output.SetRequiresGradFromOp(true);
        if (OpProfiler.Active)
        {
            OpProfiler.Forward(op);
        }
        return node;
    }

    public static void Backward(Tensor root, Tensor? gradient)
    {
        if (!root.RequiresGrad)
        {
            throw new InvalidOperationException($"Backward() called on {root}, which does not require grad: no input of the computation requires grad, or it ran under GradMode.NoGrad().");
        }
        if (gradient is null)
        {
            if (root.Numel != 1)
            {
                throw new InvalidOperationException($"Backward() without a gradient needs a scalar output; got shape {Shapes.Format(root.Shape)}.");
            }
            gradient = Tensor.Ones(root.ShapeArray);
        }
        else if (!gradient.Shape.SequenceEqual(root.Shape))
        {
            throw new ArgumentException($"Gradient shape {Shapes.Format(gradient.Shape)} does not match output shape {Shapes.Format(root.Shape)}.");
        }

        using var noGrad = GradMode.NoGrad();
        if (root.GradFn is null)
        {
            AccumulateLeaf(root, gradient);
            return;
        }

        var order = TopologicalOrder(root.GradFn);
        var grads = new Dictionary<Node, Tensor>(ReferenceEqualityComparer.Instance) { [root.GradFn] = gradient };
        bool profile = OpProfiler.Active;
        var frees = BackwardBuffers.Begin();
        for (int n = order.Count - 1; n >= 0; n--)
        {
            var node = order[n];
            if (!grads.Remove(node, out var gOut))
            {
                continue;
            }
            long start = profile ? OpProfiler.Now() : 0;
            frees?.Take(gOut);
            int mark = frees?.Mark ?? 0;
            var inputGrads = node.Rule(node, gOut);
            for (int i = 0; i < node.Inputs.Length; i++)
            {
                var input = node.Inputs[i];
                var g = i < inputGrads.Length ? inputGrads[i] : null;
                if (g is null || !input.RequiresGrad)
                {
                    continue;
                }
                if (!g.Shape.SequenceEqual(input.Shape))
                {
                    throw new InvalidOperationException($"Internal error: backward of {node.Op} produced a gradient of shape {Shapes.Format(g.Shape)} for an input of shape {Shapes.Format(input.Shape)}.");
                }
                if (input.GradFn is null)
                {
                    AccumulateLeaf(input, g);
                }
                else if (grads.TryGetValue(input.GradFn, out var existing))
                {
                    var sum = existing.Add(g);
                    grads[input.GradFn] = sum;
                    frees?.Put(sum);
                    frees?.Take(existing);
                }
                else
                {
                    grads[input.GradFn] = g;
                    frees?.Put(g);
                }
            }
            frees?.ReleaseUnreferenced(mark);
            if (profile)
            {
                OpProfiler.Backward(node.Op, start);
            }
        }
    }

    /// <summary>Adds <paramref name="g"/> into a leaf's persistent gradient buffer.</summary>
    internal static void AccumulateLeaf(Tensor leaf, Tensor g)
    {
        if (leaf.Grad is null)
        {
            using var persistent = TensorScope.Persistent();
            leaf.Grad = g.Clone();
            return;
        }
        var dst = leaf.Grad.Span;
        if (g.IsContiguous && g.DType == DType.F32)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(dst, g.Span, dst);
        }
        else
        {
            var c = g.ToArray();
            System.Numerics.Tensors.TensorPrimitives.Add(dst, c, dst);
        }
    }

    private static List<Node> TopologicalOrder(Node root)
    {
        // Iterative post-order DFS: a node is emitted after all nodes it depends on.
        var order = new List<Node>();
        var visited = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Node Node, int Next)>();
        stack.Push((root, 0));
        visited.Add(root);
        while (stack.Count > 0)
        {
            var (node, next) = stack.Pop();
            if (next < node.Inputs.Length)
            {
                stack.Push((node, next + 1));
                var child = node.Inputs[next].GradFn;
                if (child is not null && node.Inputs[next].RequiresGrad && visited.Add(child))
                {
                    stack.Push((child, 0));
                }
            }
            else
            {
                order.Add(node);
            }
        }
        return order;
    }
}

/// <summary>
/// Frees backward's own buffers as soon as nothing can read them, so a step's peak holds the forward activations
/// plus the gradients still pending, not every gradient of the pass. Only buffers allocated in the current pooled
/// scope during this backward pass are candidates (never forward activations, saved tensors or the caller's
/// gradient). A candidate is released when no pending gradient (an entry of the gradient map, views included)
/// uses its storage: after a node's rule has run, every buffer the rule and the summing allocated that is not
/// pending, and the node's consumed output gradient once no pending gradient shares its storage.
/// </summary>
internal sealed class BackwardBuffers
{
    private readonly TensorScope _scope;
    private readonly Dictionary<Storage, int> _pending = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Storage> _ours = new(ReferenceEqualityComparer.Instance);
    private readonly List<Storage> _dropped = [];

    private BackwardBuffers(TensorScope scope) => _scope = scope;

    /// <summary>Null outside a pooled scope (nothing to free early then).</summary>
    public static BackwardBuffers? Begin() => TensorScope.CurrentPooled is { } s ? new BackwardBuffers(s) : null;

    public int Mark => _scope.OwnedCount;

    /// <summary>A gradient entered the map.</summary>
    public void Put(Tensor t)
    {
        var s = t.Storage;
        _pending[s] = _pending.GetValueOrDefault(s) + 1;
    }

    /// <summary>A gradient left the map.</summary>
    public void Take(Tensor t)
    {
        var s = t.Storage;
        if (_pending.TryGetValue(s, out int n))
        {
            if (n <= 1)
            {
                _pending.Remove(s);
                if (_ours.Contains(s))
                {
                    _dropped.Add(s);
                }
            }
            else
            {
                _pending[s] = n - 1;
            }
        }
    }

    /// <summary>After a node: frees what it allocated since <paramref name="mark"/> and the gradients that left the map, unless pending.</summary>
    public void ReleaseUnreferenced(int mark)
    {
        if (TensorScope.CurrentPooled != _scope)
        {
            return;   // a rule left a scope open or the caller changed scopes: do not guess
        }
        List<Storage>? free = null;
        foreach (var s in _scope.OwnedSince(mark))
        {
            if (_pending.ContainsKey(s))
            {
                _ours.Add(s);
            }
            else
            {
                (free ??= []).Add(s);
            }
        }
        foreach (var s in _dropped)
        {
            if (!_pending.ContainsKey(s) && _ours.Remove(s))
            {
                (free ??= []).Add(s);
            }
        }
        _dropped.Clear();
        if (free is null)
        {
            return;
        }
        foreach (var s in free)
        {
            TensorScope.ReleaseEarly(s);
        }
    }
}
