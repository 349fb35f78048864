using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.Lora;

/// <summary>
/// Everything one LoRA adapter holds at one layer. Linear layers: A (r, in), B (out, r). Embeddings: A (r, vocab)
/// and B (dim, r), Hugging Face's lora_embedding_A / lora_embedding_B. DoRA adds the magnitude vector (out).
/// </summary>
public sealed class LoraAdapter
{
    public required int Rank { get; init; }

    public required double Alpha { get; init; }

    /// <summary>The factor the adapter's output is multiplied by (alpha / r, or alpha / √r with rsLoRA).</summary>
    public required float Scaling { get; init; }

    public required Tensor A { get; init; }

    public required Tensor B { get; init; }

    public float Dropout { get; init; }

    public Rng? DropoutRng { get; init; }

    /// <summary>DoRA's per-output magnitude m; null for plain LoRA.</summary>
    public Tensor? Magnitude { get; init; }

    /// <summary>DoRA: the row norms ‖W + ΔW‖ captured at merge time, needed to unmerge exactly.</summary>
    internal float[]? MergedNorm { get; set; }
}
