using PeftSharp.Tensors;

namespace PeftSharp.Nn;

/// <summary>
/// What a prompt-learning adapter adds to one forward pass: either <see cref="Embeddings"/> (B, N, C) prepended to the
/// input embeddings, or <see cref="PrefixKeyValues"/>, one (keys, values) pair per layer, each (B, Hkv, N, D), placed
/// before the real tokens' keys and values. <see cref="Length"/> is N, the number of virtual positions.
/// </summary>
public sealed class VirtualPrompt
{
    private VirtualPrompt(int length, Tensor? embeddings, IReadOnlyList<(Tensor Keys, Tensor Values)>? prefix)
    {
        Length = length;
        Embeddings = embeddings;
        PrefixKeyValues = prefix;
    }

    /// <summary>Number of virtual positions N.</summary>
    public int Length { get; }

    /// <summary>Virtual input embeddings (B, N, C), or null for a prefix.</summary>
    public Tensor? Embeddings { get; }

    /// <summary>Per-layer prefix keys and values (B, Hkv, N, D), or null for input embeddings.</summary>
    public IReadOnlyList<(Tensor Keys, Tensor Values)>? PrefixKeyValues { get; }

    /// <summary>Virtual input embeddings.</summary>
    /// <exception cref="ArgumentException">The tensor is not (B, N, C) with N ≥ 1.</exception>
    public static VirtualPrompt FromEmbeddings(Tensor embeddings)
    {
        if (embeddings.Rank != 3 || embeddings.Dim(1) < 1)
        {
            throw new ArgumentException($"Virtual token embeddings must be (batch, tokens ≥ 1, hidden); got {Shapes.Format(embeddings.Shape)}.");
        }
        return new VirtualPrompt(embeddings.Dim(1), embeddings, null);
    }

    /// <summary>A key/value prefix, one pair per layer.</summary>
    /// <exception cref="ArgumentException">No layers, a tensor not of rank 4, or keys and values of different shapes.</exception>
    public static VirtualPrompt FromPrefix(IReadOnlyList<(Tensor Keys, Tensor Values)> layers)
    {
        if (layers.Count == 0)
        {
            throw new ArgumentException("A key/value prefix needs at least one layer.");
        }
        var shape = layers[0].Keys.Shape.ToArray();
        for (int i = 0; i < layers.Count; i++)
        {
            var (k, v) = layers[i];
            if (k.Rank != 4 || !k.Shape.SequenceEqual(shape) || !v.Shape.SequenceEqual(shape) || shape[2] < 1)
            {
                throw new ArgumentException($"Prefix layer {i}: keys {Shapes.Format(k.Shape)} and values {Shapes.Format(v.Shape)} must both be (batch, kv heads, tokens ≥ 1, head dim) = {Shapes.Format(shape)}.");
            }
        }
        return new VirtualPrompt(shape[2], null, layers.ToArray());
    }
}
