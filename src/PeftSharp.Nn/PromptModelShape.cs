namespace PeftSharp.Nn;

/// <summary>
/// The sizes of a model that prompt adapters depend on: hidden size, decoder layers, attention heads, key/value heads
/// and head dimension (grouped-query attention has fewer key/value heads), and the vocabulary size.
/// </summary>
public readonly record struct PromptModelShape(int HiddenSize, int NumLayers, int NumAttentionHeads, int NumKeyValueHeads, int HeadDim, int VocabSize);
