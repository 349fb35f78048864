using PeftSharp.Tensors;

namespace PeftSharp.Training.Checkpoints;

/// <summary>A loaded checkpoint folder.</summary>
public sealed class Checkpoint
{
    internal Checkpoint(string path, TrainerState state, Dictionary<string, Tensor> trainable, Dictionary<string, Tensor> optimizer)
    {
        Path = path;
        State = state;
        Trainable = trainable;
        Optimizer = optimizer;
    }

    /// <summary>The folder it was read from.</summary>
    public string Path { get; }

    public TrainerState State { get; }

    /// <summary>The trainable tensors by parameter name.</summary>
    public IReadOnlyDictionary<string, Tensor> Trainable { get; }

    /// <summary>The optimizer's state dict.</summary>
    public IReadOnlyDictionary<string, Tensor> Optimizer { get; }

    /// <summary>
    /// Copies the saved trainable tensors into <paramref name="targets"/> (same names, same shapes), in place, so
    /// optimizers holding these tensors stay valid.
    /// </summary>
    /// <exception cref="CheckpointException">A name is missing or unexpected, or a shape differs; the message lists every mismatch and nothing is copied.</exception>
    public void CopyTrainableInto(IReadOnlyList<(string Name, Tensor Parameter)> targets)
    {
        var problems = new List<string>();
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, p) in targets)
        {
            expected.Add(name);
            if (!Trainable.TryGetValue(name, out var saved))
            {
                problems.Add($"'{name}' is missing from the checkpoint");
            }
            else if (saved.DType != DType.F32 || !saved.Shape.SequenceEqual(p.Shape))
            {
                problems.Add($"'{name}' is saved as {saved.DType} {Shapes.Format(saved.Shape)} but the parameter is {Shapes.Format(p.Shape)}");
            }
        }
        foreach (var name in Trainable.Keys)
        {
            if (!expected.Contains(name))
            {
                problems.Add($"'{name}' is in the checkpoint but is not a trainable parameter of this run");
            }
        }
        if (problems.Count > 0)
        {
            throw new CheckpointException($"Checkpoint {Path} does not match this run's trainable parameters ({problems.Count} problem(s)): {string.Join("; ", problems.Take(20))}{(problems.Count > 20 ? "; ..." : "")}.");
        }
        foreach (var (name, p) in targets)
        {
            Trainable[name].CopyTo(p.Span);
        }
    }
}
