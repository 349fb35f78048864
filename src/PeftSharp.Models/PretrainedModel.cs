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

    /// <summary>
    /// When true, a causal LM computes logits for the last position only: (B, 1, V) instead of (B, T, V). Generation's
    /// prefill needs no more, and the output head is the largest single product of a short prompt.
    /// </summary>
    public bool LastPositionLogitsOnly { get; init; }

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

    /// <summary>The hidden states (B, T, C) the output head sees: all positions, or only the last one when asked.</summary>
    /// <exception cref="ArgumentException">Last-position logits were asked for together with labels (the loss needs every position).</exception>
    protected static Tensor HeadInput(Tensor hidden, ModelInput input)
    {
        if (!input.LastPositionLogitsOnly)
        {
            return hidden;
        }
        if (input.Labels is not null)
        {
            throw new ArgumentException("LastPositionLogitsOnly cannot be combined with labels: the loss needs logits at every position.");
        }
        return hidden.Narrow(1, hidden.Dim(1) - 1, 1);      // (B, 1, C)
    }

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
        // Rather than narrowing the logits to positions 0..T−2 (a copy of B·(T−1)·V floats forward and two more in
        // backward), every position is scored and the last one of each sequence gets the ignore index: ignored
        // rows add nothing and are not counted, so the mean is the same.
        var lab = labels.ToIntArray();
        var targets = new int[b * t];
        for (int i = 0; i < b; i++)
        {
            Array.Copy(lab, i * t + 1, targets, i * t, t - 1);
            targets[i * t + t - 1] = PeftSharp.Tensors.Kernels.CrossEntropy.DefaultIgnoreIndex;
        }
        var flat = logits.IsContiguous ? logits.Reshape(b * t, v) : logits.Contiguous().Reshape(b * t, v);
        return Tensor.CrossEntropy(flat, Tensor.FromInts(targets, targets.Length));
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

    /// <summary>
    /// Where a decoder's layer loop starts handing each layer's temporaries back to the pool in no-grad forwards
    /// (<see cref="TensorScope.ReleaseSince"/> after every layer). A growing cache keeps the keys and values each layer
    /// concatenates, so with one nothing is released (the default mark).
    /// </summary>
    public static ScopeMark LayerReleaseMark(KvCache? cache) => cache is { Capacity: 0 } ? default : TensorScope.Mark();

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

/// <summary>
/// Per-layer key/value tensors (B, Hkv, S, D). Built with <see cref="KvCache(int)"/> the tensors grow by concatenation
/// (and carry gradients, as prefix tuning needs). Built with <see cref="Preallocated"/> each layer owns one buffer
/// (B, Hkv, capacity, D) allocated outside any <see cref="TensorScope"/>: appending copies only the new positions
/// and the returned tensors are views of the first S positions, so a decode step costs O(T), not O(S), in copies and
/// the cache survives the per-step scopes generation uses.
/// </summary>
public sealed class KvCache
{
    private readonly Tensor?[] _keys;
    private readonly Tensor?[] _values;
    private readonly int[] _lengths;

    public KvCache(int layers)
    {
        if (layers < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(layers), layers, "A KV cache needs at least one layer.");
        }
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
        _lengths = new int[layers];
    }

    /// <summary>
    /// A cache of fixed <paramref name="capacity"/> positions for <paramref name="batch"/> rows with
    /// <paramref name="kvHeads"/> heads of <paramref name="headDim"/> values. It stores no gradients.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or the buffers would exceed 2³¹ elements per layer.</exception>
    public static KvCache Preallocated(int layers, int batch, int kvHeads, int headDim, int capacity)
    {
        var cache = new KvCache(layers);
        if (batch < 1 || kvHeads < 1 || headDim < 1 || capacity < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), $"A preallocated KV cache needs positive sizes; got batch {batch}, kv heads {kvHeads}, head dim {headDim}, capacity {capacity}.");
        }
        if ((long)batch * kvHeads * headDim * capacity > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), $"A KV cache of {batch}×{kvHeads}×{capacity}×{headDim} values per layer is too large for one buffer.");
        }
        cache.Capacity = capacity;
        using var persistent = TensorScope.Persistent();
        for (int i = 0; i < layers; i++)
        {
            cache._keys[i] = Tensor.Zeros(batch, kvHeads, capacity, headDim);
            cache._values[i] = Tensor.Zeros(batch, kvHeads, capacity, headDim);
        }
        return cache;
    }

    /// <summary>Number of cached positions (0 when empty).</summary>
    public int Length => _lengths[0];

    public int Layers => _keys.Length;

    /// <summary>Positions a preallocated cache can hold; 0 for a growing cache.</summary>
    public int Capacity { get; private set; }

    /// <summary>Sets a layer's cache directly (prefix tuning's virtual keys/values); a preallocated cache copies them in.</summary>
    public void Set(int layer, Tensor keys, Tensor values)
    {
        if (Capacity == 0)
        {
            _keys[layer] = keys;
            _values[layer] = values;
            _lengths[layer] = keys.Dim(2);
            return;
        }
        _lengths[layer] = 0;
        Append(layer, keys, values);
    }

    /// <summary>Appends new keys/values (B, Hkv, T, D) and returns the full cached tensors (B, Hkv, S, D).</summary>
    /// <exception cref="ArgumentException">A preallocated cache got keys/values of another shape.</exception>
    /// <exception cref="InvalidOperationException">A preallocated cache is full, or the keys/values require gradients.</exception>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        if (Capacity == 0)
        {
            var k = _keys[layer] is { } pk ? Tensor.Cat([pk, keys], 2) : keys;
            var v = _values[layer] is { } pv ? Tensor.Cat([pv, values], 2) : values;
            _keys[layer] = k;
            _values[layer] = v;
            _lengths[layer] = k.Dim(2);
            return (k, v);
        }
        var kb = _keys[layer]!;
        var vb = _values[layer]!;
        int past = _lengths[layer];
        int t = keys.Rank == 4 ? keys.Dim(2) : -1;
        if (keys.Rank != 4 || !Fits(keys, kb) || !Fits(values, kb) || values.Dim(2) != t)
        {
            throw new ArgumentException($"KV cache layer {layer} holds (batch, kv heads, positions, head dim) = {Shapes.Format(kb.Shape)}; cannot append keys {Shapes.Format(keys.Shape)} and values {Shapes.Format(values.Shape)}.");
        }
        if (past + t > Capacity)
        {
            throw new InvalidOperationException($"KV cache layer {layer} holds {Capacity} positions; {past} are used and {t} more do not fit.");
        }
        if (keys.RequiresGrad || values.RequiresGrad)
        {
            throw new InvalidOperationException("A preallocated KV cache stores no gradients; run it under GradMode.NoGrad().");
        }
        Write(kb, keys, past);
        Write(vb, values, past);
        _lengths[layer] = past + t;
        return (kb.Narrow(2, 0, past + t), vb.Narrow(2, 0, past + t));
    }

    private static bool Fits(Tensor x, Tensor buffer) =>
        x.Rank == 4 && x.Dim(0) == buffer.Dim(0) && x.Dim(1) == buffer.Dim(1) && x.Dim(3) == buffer.Dim(3);

    // Copies x (B, Hkv, T, D), any layout, into positions past..past+T−1 of the buffer (B, Hkv, capacity, D).
    private static void Write(Tensor buffer, Tensor x, int past)
    {
        int b = x.Dim(0), h = x.Dim(1), t = x.Dim(2), d = x.Dim(3), cap = buffer.Dim(2);
        if (t == 0)
        {
            return;
        }
        var src = x.Contiguous().Span;
        var dst = buffer.Span;
        for (int bh = 0; bh < b * h; bh++)
        {
            src.Slice(bh * t * d, t * d).CopyTo(dst.Slice((bh * cap + past) * d, t * d));
        }
    }

    /// <summary>Keeps only the given batch rows (beam or finished-sequence pruning).</summary>
    public void Reorder(Tensor rows)
    {
        using var persistent = Capacity > 0 ? TensorScope.Persistent() : null;
        for (int i = 0; i < _keys.Length; i++)
        {
            _keys[i] = _keys[i]?.IndexSelect(0, rows);
            _values[i] = _values[i]?.IndexSelect(0, rows);
        }
    }
}
