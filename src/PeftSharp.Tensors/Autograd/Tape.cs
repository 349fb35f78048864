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
        for (int n = order.Count - 1; n >= 0; n--)
        {
            var node = order[n];
            if (!grads.Remove(node, out var gOut))
            {
                continue;
            }
            long start = profile ? OpProfiler.Now() : 0;
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
                    grads[input.GradFn] = existing.Add(g);
                }
                else
                {
                    grads[input.GradFn] = g;
                }
            }
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
