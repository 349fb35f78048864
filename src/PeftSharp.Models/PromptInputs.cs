using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Models;

/// <summary>
/// How a causal language model applies virtual tokens, as Hugging Face PEFT's PeftModelForCausalLM does:
/// <list type="bullet">
/// <item>Input embeddings (prompt tuning, p-tuning): the N virtual embeddings go before the token embeddings, the attention
/// mask gets N leading ones, labels get N leading −100, and positions run 0..N+T−1, so logits have N + T positions.</item>
/// <item>A key/value prefix (prefix tuning): the prefix becomes the first N entries of every layer's key/value cache
/// (used as given: no rotary embedding is applied to it), the attention mask gets N leading ones and the real tokens get
/// positions N..N+T−1; logits keep T positions.</item>
/// </list>
/// Given position ids and token type ids are ignored, as PEFT ignores them for prompt learning. When the input carries a
/// cache that already holds positions (a later generation step), the virtual tokens are already in it and the input is
/// used unchanged; its attention mask must then cover the cached virtual positions.
/// </summary>
public static class PromptInputs
{
    /// <summary>The label value the loss ignores.</summary>
    public const int IgnoreIndex = -100;

    /// <summary>Rewrites <paramref name="input"/> with the virtual tokens <paramref name="source"/> supplies for its batch.</summary>
    /// <exception cref="ArgumentException">The prompt or the inputs do not fit together (batch, hidden size, layers, mask shape).</exception>
    public static ModelInput Apply(ModelInput input, IPromptSource source, Embedding wordEmbeddings, int layers)
    {
        var (b, t) = input.Size();
        if (input.Cache is { Length: > 0 })
        {
            return input;
        }
        var prompt = source.For(b);
        if (prompt is null)
        {
            return input;
        }
        int n = prompt.Length;
        var mask = input.AttentionMask is { } m ? Prefixed(m, b, t, n, 1, "attention_mask") : null;
        if (prompt.Embeddings is { } virtualEmbeds)
        {
            int c = wordEmbeddings.EmbeddingDim;
            if (virtualEmbeds.Dim(0) != b || virtualEmbeds.Dim(2) != c)
            {
                throw new ArgumentException($"Virtual token embeddings {Shapes.Format(virtualEmbeds.Shape)} do not fit a batch of {b} rows with hidden size {c}.");
            }
            var embeds = input.InputsEmbeds ?? wordEmbeddings.Forward(input.InputIds!);   // (B, T, C)
            return input with
            {
                InputIds = null,
                InputsEmbeds = Tensor.Cat([virtualEmbeds, embeds], 1),                  // (B, N + T, C)
                AttentionMask = mask,
                Labels = input.Labels is { } l ? Prefixed(l, b, t, n, IgnoreIndex, "labels") : null,
                PositionIds = null,
                TokenTypeIds = null,
            };
        }
        var prefix = prompt.PrefixKeyValues!;
        if (prefix.Count != layers)
        {
            throw new ArgumentException($"The key/value prefix has {prefix.Count} layers but the model has {layers}.");
        }
        if (prefix[0].Keys.Dim(0) != b)
        {
            throw new ArgumentException($"The key/value prefix has batch {prefix[0].Keys.Dim(0)} but the input has {b} rows.");
        }
        var cache = input.Cache ?? new KvCache(layers);
        if (cache.Layers != layers)
        {
            throw new ArgumentException($"The cache has {cache.Layers} layers but the model has {layers}.");
        }
        for (int i = 0; i < layers; i++)
        {
            cache.Set(i, prefix[i].Keys, prefix[i].Values);
        }
        return input with { AttentionMask = mask, Cache = cache, PositionIds = null, TokenTypeIds = null };
    }

    /// <summary>An int32 (B, T) tensor with <paramref name="n"/> columns of <paramref name="value"/> in front: (B, N + T).</summary>
    private static Tensor Prefixed(Tensor x, int b, int t, int n, int value, string what)
    {
        if (x.Rank != 2 || x.Dim(0) != b || x.Dim(1) != t || x.DType != DType.I32)
        {
            throw new ArgumentException($"{what} must be int32 (batch, length) = [{b}, {t}] when virtual tokens are added; got {x.DType} {Shapes.Format(x.Shape)}.");
        }
        var src = x.ToIntArray();
        var dst = new int[b * (n + t)];
        for (int r = 0; r < b; r++)
        {
            dst.AsSpan(r * (n + t), n).Fill(value);
            src.AsSpan(r * t, t).CopyTo(dst.AsSpan(r * (n + t) + n, t));
        }
        return Tensor.FromInts(dst, b, n + t);
    }
}
