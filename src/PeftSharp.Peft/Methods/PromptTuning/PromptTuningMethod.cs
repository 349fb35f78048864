using System.Text.Json.Nodes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.PromptLearning;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.PromptTuning;

/// <summary>Prompt tuning in the registry: peft_type "PROMPT_TUNING"; N trainable virtual token embeddings.</summary>
public sealed class PromptTuningMethod : PromptLearningMethod
{
    public const string Type = "PROMPT_TUNING";

    public static PromptTuningMethod Instance { get; } = new();

    public override string PeftType => Type;

    public override AdapterConfig ReadConfig(JsonObject json) => PromptTuningConfig.Read(json);

    /// <exception cref="AdapterConfigException">TEXT initialisation of a new adapter without <see cref="PromptTuningConfig.InitTokenIds"/>, or an id outside the vocabulary.</exception>
    public override PromptEncoder CreateEncoder(PromptLearningConfig config, IPromptLearningHost model, Rng rng, bool weightsFollow)
    {
        var c = (PromptTuningConfig)config;
        var encoder = new PromptEmbedding(c.NumVirtualTokens, c.TokenDim!.Value, rng);
        // As PEFT: the text initialisation runs only for a trainable adapter; a loaded one gets the file's values anyway.
        if (c.PromptTuningInit == PromptTuningConfig.TextInit && !c.InferenceMode && !weightsFollow)
        {
            var ids = c.InitTokenIds is { Count: > 0 } given ? given : throw new AdapterConfigException(PromptTuningConfig.InitTextField,
                "TEXT initialisation needs the token ids of prompt_tuning_init_text: tokenize it and set InitTokenIds.");
            var words = model.WordEmbeddings.Weight;
            int vocab = words.Dim(0), width = words.Dim(1);
            var table = encoder.Embedding.Weight.Span;
            for (int i = 0; i < c.NumVirtualTokens; i++)
            {
                // Too many ids are cut, too few repeated from the start.
                int id = ids[i % ids.Count];
                if ((uint)id >= (uint)vocab)
                {
                    throw new AdapterConfigException(PromptTuningConfig.InitTextField, $"token id {id} is outside the vocabulary of {vocab}.");
                }
                words.Narrow(0, id, 1).ToArray().CopyTo(table.Slice(i * width, width));
            }
        }
        return encoder;
    }
}

/// <summary>Prompt tuning's encoder (Hugging Face's PromptEmbedding): the table is the output.</summary>
public sealed class PromptEmbedding : InputPromptEncoder
{
    public PromptEmbedding(int tokens, int width, Rng rng) : base(tokens, width, rng)
    {
    }

    public override bool HasNetwork => false;

    public override Tensor Output() => Embedding.Weight;
}
