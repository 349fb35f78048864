using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Models.Generation;

/// <summary>
/// Autoregressive generation with a preallocated KV cache. Prompts of different lengths run as one batch with LEFT
/// padding: the attention mask hides the padding and position ids count real tokens only (cumsum(mask) − 1, as
/// transformers does), so each row continues exactly as it would alone. The prompt is run once (prefill, logits of the
/// last position only); every further step feeds one token per row. Each step runs without autograd in its own
/// <see cref="TensorScope"/>, so decoding allocates almost nothing in steady state.
/// </summary>
public static class Generator
{
    /// <summary>
    /// Generates a continuation of every prompt. <paramref name="onToken"/> is called with (row, token) as each token
    /// is chosen, in row order within a step (finished rows get no calls).
    /// </summary>
    /// <returns>One <see cref="GeneratedSequence"/> per prompt, in order.</returns>
    /// <exception cref="ArgumentException">No prompts, an empty prompt, an id outside the vocabulary, or invalid options.</exception>
    public static IReadOnlyList<GeneratedSequence> Generate(CausalLanguageModel model, IReadOnlyList<int[]> prompts,
        GenerationOptions options, Action<int, int>? onToken = null) => Generate(model, prompts, options, onToken, null);

    /// <summary><paramref name="onLogits"/> sees (step, raw logits (B·V)) before any processor (tests compare rows).</summary>
    internal static IReadOnlyList<GeneratedSequence> Generate(CausalLanguageModel model, IReadOnlyList<int[]> prompts,
        GenerationOptions options, Action<int, int>? onToken, Action<int, float[]>? onLogits)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        int vocab = model.VocabSize;
        options.Validate(vocab);
        if (prompts.Count == 0)
        {
            throw new ArgumentException("Generation needs at least one prompt.");
        }
        for (int r = 0; r < prompts.Count; r++)
        {
            var p = prompts[r] ?? throw new ArgumentException($"Prompt {r} is null.");
            if (p.Length == 0)
            {
                throw new ArgumentException($"Prompt {r} is empty; a prompt needs at least one token.");
            }
            for (int i = 0; i < p.Length; i++)
            {
                if ((uint)p[i] >= (uint)vocab)
                {
                    throw new ArgumentException($"Prompt {r} position {i}: token id {p[i]} is outside the vocabulary of {vocab}.");
                }
            }
        }
        var eos = new HashSet<int>(options.EosTokenIds ?? model.EosTokenIds);
        int pad = options.PadTokenId ?? ConfigPad(model, vocab) ?? (eos.Count > 0 ? eos.Min() : 0);
        var state = new BatchState(prompts, pad, options.MaxNewTokens);
        var rng = new Rng(options.Seed);

        using var noGrad = GradMode.NoGrad();
        if (options.MaxNewTokens == 0)
        {
            return state.Results(options);
        }
        var (kvHeads, headDim) = model.KvShape;
        var cache = KvCache.Preallocated(model.NumLayers, state.Batch, kvHeads, headDim, state.PromptLength + options.MaxNewTokens);
        var logits = new float[state.Batch * vocab];
        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            using (TensorScope.Begin())
            {
                var input = step == 0 ? state.PrefillInput(cache) : state.DecodeInput(cache);
                var output = model.Forward(input).Logits;                  // (B, 1, V)
                output.CopyTo(logits);
            }
            onLogits?.Invoke(step, logits);
            for (int r = 0; r < state.Batch; r++)
            {
                if (state.Finished[r])
                {
                    continue;
                }
                var row = logits.AsSpan(r * vocab, vocab);
                int token = Choose(row, state.Seen(r), options, rng);
                state.Accept(r, token);
                onToken?.Invoke(r, token);
                if (eos.Contains(token))
                {
                    state.Finish(r, StopReason.EosToken);
                }
                else if (options.StopStrings.Count > 0 && ContainsStop(options, state.Generated[r]))
                {
                    state.Finish(r, StopReason.StopString);
                }
                else if (state.Generated[r].Count == options.MaxNewTokens)
                {
                    state.Finish(r, StopReason.MaxNewTokens);
                }
            }
            if (state.AllFinished)
            {
                break;
            }
        }
        return state.Results(options);
    }

    /// <summary>Applies the processors of <paramref name="options"/> to one row of logits (in place) and picks a token.</summary>
    public static int Choose(Span<float> logits, ReadOnlySpan<int> seen, GenerationOptions options, Rng rng)
    {
        Sampling.ApplyRepetitionPenalty(logits, seen, options.RepetitionPenalty);
        if (options.Greedy)
        {
            return Sampling.ArgMax(logits);
        }
        Sampling.ApplyTemperature(logits, options.Temperature);
        Sampling.ApplyTopK(logits, options.TopK);
        Sampling.ApplyTopP(logits, options.TopP);
        return Sampling.Sample(logits, rng);
    }

    /// <summary>The first stop string in <paramref name="text"/> and where it starts, or (null, −1).</summary>
    public static (string? Stop, int Index) FindStop(string text, IReadOnlyList<string> stopStrings)
    {
        string? best = null;
        int at = -1;
        foreach (var s in stopStrings)
        {
            int i = text.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && (at < 0 || i < at))
            {
                (best, at) = (s, i);
            }
        }
        return (best, at);
    }

    private static bool ContainsStop(GenerationOptions options, List<int> generated) =>
        FindStop(options.Decode!(generated), options.StopStrings).Index >= 0;

    private static int? ConfigPad(CausalLanguageModel model, int vocab)
    {
        var ids = model.Config.GetIntList("pad_token_id");
        return ids.Length > 0 && ids[0] >= 0 && ids[0] < vocab ? ids[0] : null;
    }

    /// <summary>The rows of one generation: left-padded prompt, attention mask, positions, generated ids.</summary>
    private sealed class BatchState
    {
        private readonly IReadOnlyList<int[]> _prompts;
        private readonly int _pad;
        private readonly List<int> _mask = new();       // (B, S) row-major, rebuilt as S grows
        private readonly int[] _nextPosition;
        private readonly int[] _lastToken;
        private readonly List<int>[] _seen;
        private readonly StopReason[] _reasons;
        private int _length;                            // S: prompt length + decoded steps fed so far

        public BatchState(IReadOnlyList<int[]> prompts, int pad, int maxNew)
        {
            _prompts = prompts;
            _pad = pad;
            Batch = prompts.Count;
            PromptLength = prompts.Max(p => p.Length);
            Finished = new bool[Batch];
            Generated = Enumerable.Range(0, Batch).Select(_ => new List<int>(maxNew)).ToArray();
            _nextPosition = new int[Batch];
            _lastToken = new int[Batch];
            _seen = prompts.Select(p => new List<int>(p)).ToArray();
            _reasons = new StopReason[Batch];
        }

        public int Batch { get; }

        public int PromptLength { get; }

        public bool[] Finished { get; }

        public List<int>[] Generated { get; }

        public bool AllFinished => Finished.All(f => f);

        public ReadOnlySpan<int> Seen(int row) => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_seen[row]);

        public ModelInput PrefillInput(KvCache cache)
        {
            int b = Batch, t = PromptLength;
            var ids = new int[b * t];
            var mask = new int[b * t];
            var positions = new int[b * t];
            for (int r = 0; r < b; r++)
            {
                var p = _prompts[r];
                int padding = t - p.Length;
                for (int i = 0; i < t; i++)
                {
                    bool real = i >= padding;
                    ids[r * t + i] = real ? p[i - padding] : _pad;
                    mask[r * t + i] = real ? 1 : 0;
                    // transformers: cumsum(mask) − 1, with padded positions filled with 1 (any valid position works:
                    // padding is never attended to).
                    positions[r * t + i] = real ? i - padding : 1;
                }
                _nextPosition[r] = p.Length;
            }
            _mask.AddRange(mask);
            _length = t;
            return new ModelInput
            {
                InputIds = Tensor.FromInts(ids, b, t),
                AttentionMask = Tensor.FromInts(mask, b, t),
                PositionIds = Tensor.FromInts(positions, b, t),
                Cache = cache,
                LastPositionLogitsOnly = true,
            };
        }

        public ModelInput DecodeInput(KvCache cache)
        {
            int b = Batch, s = _length + 1;
            var mask = new int[b * s];
            var positions = new int[b];
            for (int r = 0; r < b; r++)
            {
                for (int j = 0; j < _length; j++)
                {
                    mask[r * s + j] = _mask[r * _length + j];
                }
                mask[r * s + _length] = 1;
                positions[r] = _nextPosition[r]++;
            }
            _mask.Clear();
            _mask.AddRange(mask);
            _length = s;
            return new ModelInput
            {
                InputIds = Tensor.FromInts(_lastToken, b, 1),
                AttentionMask = Tensor.FromInts(mask, b, s),
                PositionIds = Tensor.FromInts(positions, b, 1),
                Cache = cache,
            };
        }

        public void Accept(int row, int token)
        {
            Generated[row].Add(token);
            _seen[row].Add(token);
            _lastToken[row] = token;
        }

        public void Finish(int row, StopReason reason)
        {
            Finished[row] = true;
            _reasons[row] = reason;
            _lastToken[row] = _pad;   // finished rows keep the batch shape with padding; their logits are ignored
        }

        public IReadOnlyList<GeneratedSequence> Results(GenerationOptions options)
        {
            var results = new GeneratedSequence[Batch];
            for (int r = 0; r < Batch; r++)
            {
                var tokens = Generated[r].ToArray();
                string? text = null;
                if (options.Decode is { } decode)
                {
                    text = decode(tokens);
                    var (_, at) = FindStop(text, options.StopStrings);
                    if (at >= 0)
                    {
                        text = text[..at];
                    }
                }
                results[r] = new GeneratedSequence(tokens, Finished[r] ? _reasons[r] : StopReason.MaxNewTokens, text);
            }
            return results;
        }
    }
}
