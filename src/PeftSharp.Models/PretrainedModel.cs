using PeftSharp.Nn;
using PeftSharp.Tensors;

namespace PeftSharp.Models;

/// <summary>
/// Inputs of a model forward pass. <see cref="InputIds"/> is int32 (B, T); <see cref="AttentionMask"/> is int32
/// (B, P + T) with 1 for real tokens and 0 for padding, where P is the number of cached (or prefix) positions;
/// <see cref="PositionIds"/> int32 (B, T) defaults to P..P+T−1; <see cref="Labels"/> int32 (B, T) for causal LMs
/// (−100 = ignored) or (B) class ids for classifiers. <see cref="InputsEmbeds"/> (B, T, C) replaces the
/// embedding lookup (prompt tuning).
/// </summary>
public sealed record ModelInput
{
    public Tensor? InputIds { get; init; }

    public Tensor? InputsEmbeds { get; init; }

    public Tensor? AttentionMask { get; init; }

    public Tensor? PositionIds { get; init; }

    public Tensor? TokenTypeIds { get; init; }

    public Tensor? Labels { get; init; }

    /// <summary>Key/value cache to read and extend (generation, prefix tuning).</summary>
    public KvCache? Cache { get; init; }

    /// <summary>Batch size and sequence length of the inputs.</summary>
    public (int Batch, int Length) Size()
    {
        if (InputIds is { } ids)
        {
            if (ids.Rank != 2 || ids.DType != DType.I32)
            {
                throw new ArgumentException($"input_ids must be int32 (batch, length); got {ids.DType} {Shapes.Format(ids.Shape)}.");
            }
            return (ids.Dim(0), ids.Dim(1));
        }
        if (InputsEmbeds is { } e)
        {
            if (e.Rank != 3)
            {
                throw new ArgumentException($"inputs_embeds must be (batch, length, hidden); got {Shapes.Format(e.Shape)}.");
            }
            return (e.Dim(0), e.Dim(1));
        }
        throw new ArgumentException("A forward pass needs input_ids or inputs_embeds.");
    }
}

/// <summary>Outputs: logits ((B, T, V) for causal LMs, (B, labels) for classifiers) and the loss when labels were given.</summary>
public sealed record ModelOutput(Tensor Logits, Tensor? Loss);

/// <summary>A model built from a Hugging Face config whose parameter names equal the checkpoint's keys.</summary>
public abstract class PretrainedModel : Module
{
    protected PretrainedModel(HfConfig config)
    {
        Config = config;
    }

    /// <summary>The config it was built from (saved back unchanged).</summary>
    public HfConfig Config { get; }

    /// <summary>The Hugging Face class name written to config.json's architectures.</summary>
    public abstract string ArchitectureName { get; }

    /// <summary>Tied parameters: key → the key whose tensor it shares (omitted from saved files, as transformers does).</summary>
    public virtual IReadOnlyDictionary<string, string> TiedWeights { get; } = new Dictionary<string, string>();

    /// <summary>Runs the model.</summary>
    public abstract ModelOutput Forward(ModelInput input);

    /// <summary>Names of the output head modules (excluded from "all-linear" adapter targeting).</summary>
    public virtual IReadOnlyList<string> OutputHeads => [];

    /// <summary>Re-links tied parameters after a parameter was replaced (loading, precision change).</summary>
    public virtual void TieWeights()
    {
        foreach (var (key, source) in TiedWeights)
        {
            var (srcModule, srcName) = Split(source);
            var (dstModule, dstName) = Split(key);
            Get(dstModule).SetParameter(dstName, Get(srcModule).Parameter(srcName));
        }
    }

    internal static (string Module, string Name) Split(string key)
    {
        int dot = key.LastIndexOf('.');
        return dot < 0 ? ("", key) : (key[..dot], key[(dot + 1)..]);
    }
}

/// <summary>
/// A causal language model: logits over the vocabulary for every position. It hosts prompt-learning adapters: while
/// <see cref="PromptSource"/> supplies virtual tokens, <see cref="WithPrompt"/> rewrites each input as
/// <see cref="PromptInputs"/> describes.
/// </summary>
public abstract class CausalLanguageModel : PretrainedModel, IPromptLearningHost
{
    protected CausalLanguageModel(HfConfig config) : base(config)
    {
    }

    /// <inheritdoc/>
    public IPromptSource? PromptSource { get; set; }

    /// <inheritdoc/>
    public PromptModelShape PromptShape => new(HiddenSize, NumLayers,
        Config.GetIntOrNull("num_attention_heads") ?? Config.GetIntOrNull("n_head") ?? KvShape.KvHeads, KvShape.KvHeads, KvShape.HeadDim, VocabSize);

    Embedding IPromptLearningHost.WordEmbeddings => InputEmbeddings;

    /// <summary>The input with the prompt source's virtual tokens applied (unchanged when there are none).</summary>
    protected ModelInput WithPrompt(ModelInput input) =>
        PromptSource is { } source ? PromptInputs.Apply(input, source, InputEmbeddings, NumLayers) : input;

    public abstract int VocabSize { get; }

    public abstract int HiddenSize { get; }

    public abstract int NumLayers { get; }

    /// <summary>Key/value heads and head dim of the attention (for caches and prefix tuning).</summary>
    public abstract (int KvHeads, int HeadDim) KvShape { get; }

    /// <summary>The token embedding table (V, C).</summary>
    public abstract Embedding InputEmbeddings { get; }

    /// <summary>EOS ids from the config (may be empty).</summary>
    public int[] EosTokenIds => Config.GetIntList("eos_token_id");

    /// <summary>
    /// The transformers causal-LM loss: logits at 0..T−2 predict labels at 1..T−1, mean cross-entropy over labels
    /// that are not −100.
    /// </summary>
    public static Tensor ShiftedLoss(Tensor logits, Tensor labels)
    {
        int b = logits.Dim(0), t = logits.Dim(1), v = logits.Dim(2);
        if (labels.Rank != 2 || labels.Dim(0) != b || labels.Dim(1) != t)
        {
            throw new ArgumentException($"labels {Shapes.Format(labels.Shape)} must match input (batch, length) = [{b}, {t}].");
        }
        if (t < 2)
        {
            throw new ArgumentException("A causal-LM loss needs at least 2 positions.");
        }
        var shifted = logits.Narrow(1, 0, t - 1).Reshape(b * (t - 1), v);
        var lab = labels.ToIntArray();
        var targets = new int[b * (t - 1)];
        for (int i = 0; i < b; i++)
        {
            Array.Copy(lab, i * t + 1, targets, i * (t - 1), t - 1);
        }
        return Tensor.CrossEntropy(shifted, Tensor.FromInts(targets, targets.Length));
    }

    /// <summary>
    /// The additive attention mask Hugging Face's eager attention uses: (B, 1, T, P + T) with 0 where query i may
    /// see key j (j ≤ P + i and key j not padding) and the float32 minimum elsewhere.
    /// </summary>
    public static Tensor CausalMask(int batch, int length, int past, Tensor? attentionMask)
    {
        int s = past + length;
        int[]? am = null;
        if (attentionMask is not null)
        {
            if (attentionMask.Rank != 2 || attentionMask.Dim(0) != batch || attentionMask.Dim(1) != s)
            {
                throw new ArgumentException($"attention_mask {Shapes.Format(attentionMask.Shape)} must be (batch, cached + new) = [{batch}, {s}].");
            }
            am = attentionMask.ToIntArray();
        }
        var mask = Tensor.Zeros(batch, 1, length, s);
        var m = mask.Span;
        for (int bi = 0; bi < batch; bi++)
        {
            for (int i = 0; i < length; i++)
            {
                var row = m.Slice((bi * length + i) * s, s);
                for (int j = 0; j < s; j++)
                {
                    if (j > past + i || (am is not null && am[bi * s + j] == 0))
                    {
                        row[j] = float.MinValue;
                    }
                }
            }
        }
        return mask;
    }

    /// <summary>The attention mask (B, P + T) validated as a key-padding mask for the fused attention (null when absent).</summary>
    public static Tensor? KeyPadding(int batch, int length, int past, Tensor? attentionMask)
    {
        if (attentionMask is null)
        {
            return null;
        }
        int s = past + length;
        if (attentionMask.Rank != 2 || attentionMask.Dim(0) != batch || attentionMask.Dim(1) != s)
        {
            throw new ArgumentException($"attention_mask {Shapes.Format(attentionMask.Shape)} must be (batch, cached + new) = [{batch}, {s}].");
        }
        if (attentionMask.DType != DType.I32)
        {
            throw new ArgumentException($"attention_mask must hold int32 0/1 values; got {attentionMask.DType}.");
        }
        return attentionMask;
    }

    /// <summary>Position ids P..P+T−1 for every row, or the given ones (validated).</summary>
    public static int[] Positions(int batch, int length, int past, Tensor? positionIds)
    {
        if (positionIds is not null)
        {
            if (positionIds.Rank != 2 || positionIds.Dim(1) != length || (positionIds.Dim(0) != batch && positionIds.Dim(0) != 1))
            {
                throw new ArgumentException($"position_ids {Shapes.Format(positionIds.Shape)} must be (batch, length) = [{batch}, {length}].");
            }
            var p = positionIds.ToIntArray();
            if (positionIds.Dim(0) == 1 && batch > 1)
            {
                return Enumerable.Range(0, batch).SelectMany(_ => p).ToArray();
            }
            return p;
        }
        var r = new int[batch * length];
        for (int bi = 0; bi < batch; bi++)
        {
            for (int i = 0; i < length; i++)
            {
                r[bi * length + i] = past + i;
            }
        }
        return r;
    }
}

/// <summary>Per-layer key/value tensors (B, Hkv, S, D) that grow as tokens are appended.</summary>
public sealed class KvCache
{
    private readonly Tensor?[] _keys;
    private readonly Tensor?[] _values;

    public KvCache(int layers)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
    }

    /// <summary>Number of cached positions (0 when empty).</summary>
    public int Length => _keys[0]?.Dim(2) ?? 0;

    public int Layers => _keys.Length;

    /// <summary>Sets a layer's cache directly (prefix tuning's virtual keys/values).</summary>
    public void Set(int layer, Tensor keys, Tensor values)
    {
        _keys[layer] = keys;
        _values[layer] = values;
    }

    /// <summary>Appends new keys/values (B, Hkv, T, D) and returns the full cached tensors.</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        var k = _keys[layer] is { } pk ? Tensor.Cat([pk, keys], 2) : keys;
        var v = _values[layer] is { } pv ? Tensor.Cat([pv, values], 2) : values;
        _keys[layer] = k;
        _values[layer] = v;
        return (k, v);
    }

    /// <summary>Keeps only the given batch rows (beam or finished-sequence pruning).</summary>
    public void Reorder(Tensor rows)
    {
        for (int i = 0; i < _keys.Length; i++)
        {
            _keys[i] = _keys[i]?.IndexSelect(0, rows);
            _values[i] = _values[i]?.IndexSelect(0, rows);
        }
    }
}
