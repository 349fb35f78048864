namespace PeftSharp.Tensors.Autograd;

/// <summary>
/// Activation checkpointing: runs a block without keeping its intermediate activations and recomputes them
/// during the backward pass, trading one extra forward of the block for its activation memory.
/// The block must be deterministic (same inputs → same outputs; seed any dropout inside it from a fixed
/// state) and must not change its parameters between forward and backward.
/// </summary>
public static class Checkpoint
{
    /// <summary>Runs <paramref name="block"/> on <paramref name="inputs"/>, recording one node instead of the block's graph.</summary>
    public static Tensor Run(Func<Tensor[], Tensor> block, params Tensor[] inputs)
    {
        Tensor output;
        using (GradMode.NoGrad())
        {
            output = block(inputs);
        }
        if (!GradMode.IsEnabled)
        {
            return output;
        }
        // The block's parameters are leaves reached only by recomputation, so record the node even when no
        // input requires grad: a marker input that "requires grad" keeps the node on the tape.
        var marker = Tensor.Zeros([]);
        marker.RequiresGrad = true;
        var all = inputs.Append(marker).ToArray();
        var node = Tape.Record(output, "checkpoint", Recompute, all);
        if (node is not null)
        {
            node.State = block;
        }
        return output;
    }

    private static Tensor?[] Recompute(Node n, Tensor g)
    {
        var block = (Func<Tensor[], Tensor>)n.State!;
        int count = n.Inputs.Length - 1;
        var leaves = new Tensor[count];
        for (int i = 0; i < count; i++)
        {
            leaves[i] = n.Inputs[i].Detach();
            if (n.Inputs[i].RequiresGrad)
            {
                leaves[i].RequiresGrad = true;
            }
        }
        Tensor output;
        using (GradMode.EnableGrad())
        {
            output = block(leaves);
        }
        if (output.RequiresGrad)
        {
            Tape.Backward(output, g);
        }
        var grads = new Tensor?[n.Inputs.Length];
        for (int i = 0; i < count; i++)
        {
            grads[i] = leaves[i].Grad;
        }
        return grads;
    }
}
