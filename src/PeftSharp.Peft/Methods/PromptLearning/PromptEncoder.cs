using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.PromptLearning;

/// <summary>
/// The trainable part of one prompt-learning adapter (Hugging Face's prompt_encoder.&lt;adapter&gt;): an embedding of the
/// virtual tokens (child "embedding", so its table is "embedding.weight") and, for some methods in training mode, a small
/// network reparameterising it. <see cref="Output"/> is the table of virtual tokens the model receives and the adapter file
/// stores as prompt_embeddings; an adapter loaded for inference has no network and its output is the table itself.
/// </summary>
public abstract class PromptEncoder : Module
{
    public const string EmbeddingName = "embedding";

    protected PromptEncoder(int tokens, int width, Rng rng)
    {
        RegisterModule(EmbeddingName, new Embedding(tokens, width, rng));
    }

    /// <summary>The virtual-token table (tokens, width).</summary>
    public Embedding Embedding => (Embedding)Child(EmbeddingName);

    /// <summary>Number of virtual tokens.</summary>
    public int Tokens => Embedding.Count;

    /// <summary>True when a network maps the table to the output (training structure); false when the table is the output.</summary>
    public abstract bool HasNetwork { get; }

    /// <summary>The virtual tokens the model receives, (tokens, output width), on the autograd tape.</summary>
    public abstract Tensor Output();

    /// <summary>What the model receives for a batch of <paramref name="batch"/> rows.</summary>
    public abstract VirtualPrompt Prompt(int batch);

    /// <summary>The output repeated for every row: (batch, tokens, width).</summary>
    protected Tensor Repeated(int batch)
    {
        var o = Output();
        return o.Reshape(1, o.Dim(0), o.Dim(1)).Expand(batch, o.Dim(0), o.Dim(1));
    }

    public override string Describe() => $"{GetType().Name}(tokens={Tokens}, width={Embedding.EmbeddingDim}, network={HasNetwork})";
}

/// <summary>A prompt encoder whose output is prepended to the input embeddings (prompt tuning, p-tuning).</summary>
public abstract class InputPromptEncoder : PromptEncoder
{
    protected InputPromptEncoder(int tokens, int width, Rng rng) : base(tokens, width, rng)
    {
    }

    public override VirtualPrompt Prompt(int batch) => VirtualPrompt.FromEmbeddings(Repeated(batch));
}
