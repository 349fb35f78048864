using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Tests.PromptLearning;

/// <summary>
/// A two-layer causal attention model (vocab 11, hidden 8, 2 query heads, 1 key/value head of width 4) that takes virtual
/// tokens the way the real models do: embeddings go before the token embeddings, a prefix before every layer's keys and
/// values. Forward returns logits (B, N + T, V) for input embeddings and (B, T, V) for a prefix.
/// </summary>
public sealed class ToyPromptModel : Module, IPromptLearningHost
{
    public const int Vocab = 11, Hidden = 8, Heads = 2, KvHeads = 1, HeadDim = 4, Layers = 2;

    public ToyPromptModel(ulong seed = 7)
    {
        var rng = new Rng(seed);
        RegisterModule("embed", new Embedding(Vocab, Hidden, rng));
        for (int l = 0; l < Layers; l++)
        {
            RegisterModule($"q{l}", new Linear(Hidden, Heads * HeadDim, bias: false, rng));
            RegisterModule($"k{l}", new Linear(Hidden, KvHeads * HeadDim, bias: false, rng));
            RegisterModule($"v{l}", new Linear(Hidden, KvHeads * HeadDim, bias: false, rng));
            RegisterModule($"o{l}", new Linear(Heads * HeadDim, Hidden, bias: false, rng));
        }
        RegisterModule("head", new Linear(Hidden, Vocab, bias: true, rng));
    }

    public PromptModelShape PromptShape => new(Hidden, Layers, Heads, KvHeads, HeadDim, Vocab);

    public Embedding WordEmbeddings => (Embedding)Child("embed");

    public IPromptSource? PromptSource { get; set; }

    public override Tensor Forward(Tensor ids)
    {
        int b = ids.Dim(0);
        var prompt = PromptSource?.For(b);
        var h = WordEmbeddings.Forward(ids);
        if (prompt?.Embeddings is { } e)
        {
            h = Tensor.Cat([e, h], 1);
        }
        int t = h.Dim(1);
        for (int l = 0; l < Layers; l++)
        {
            var q = Child($"q{l}").Forward(h).Reshape(b, t, Heads, HeadDim).Transpose(1, 2);
            var k = Child($"k{l}").Forward(h).Reshape(b, t, KvHeads, HeadDim).Transpose(1, 2);
            var v = Child($"v{l}").Forward(h).Reshape(b, t, KvHeads, HeadDim).Transpose(1, 2);
            if (prompt?.PrefixKeyValues is { } prefix)
            {
                k = Tensor.Cat([prefix[l].Keys, k], 2);
                v = Tensor.Cat([prefix[l].Values, v], 2);
            }
            var y = Tensor.Attention(q, k, v, causal: true);
            h = h.Add(Child($"o{l}").Forward(y.Transpose(1, 2).Reshape(b, t, Heads * HeadDim)));
        }
        return Child("head").Forward(h);
    }

    public static Tensor Ids(int batch = 2, int tokens = 5) => ToyModel.Ids(batch, tokens);
}
