namespace PeftSharp.Tensors.Autograd;

/// <summary>A backward rule: given the node (inputs and saved state) and dLoss/dOutput, returns dLoss/dInput per input (null = none).</summary>
internal delegate Tensor?[] BackwardRule(Node node, Tensor gradOutput);

/// <summary>One recorded operation on the tape: its inputs, the rule that differentiates it and what the forward saved.</summary>
internal sealed class Node
{
    public Node(string op, Tensor[] inputs, BackwardRule rule)
    {
        Op = op;
        Inputs = inputs;
        Rule = rule;
    }

    /// <summary>Operation name, for error messages.</summary>
    public string Op { get; }

    public Tensor[] Inputs { get; }

    public BackwardRule Rule { get; }

    /// <summary>The tensor this node produced (set by <see cref="Tape.Record"/>).</summary>
    public Tensor Output { get; set; } = null!;

    /// <summary>Tensors the forward kept for the backward (e.g. softmax output, norm statistics).</summary>
    public Tensor[] Saved { get; set; } = [];

    /// <summary>Integer arguments of the op (dims, sizes, ...).</summary>
    public int[] Ints { get; set; } = [];

    /// <summary>Float arguments of the op (scalars, eps, ...).</summary>
    public float[] Floats { get; set; } = [];

    /// <summary>Any other state the rule needs.</summary>
    public object? State { get; set; }

    /// <summary>Whether input <paramref name="i"/> wants a gradient.</summary>
    public bool NeedsGrad(int i) => Inputs[i].RequiresGrad;
}
