using PeftSharp.Text.Templates;
using PeftSharp.Text.Tokenization;

namespace PeftSharp.Training.Data;

/// <summary>
/// Turns records into token sequences with labels:
/// <list type="bullet">
/// <item><see cref="TextRecord"/>: BOS/… + text + closing specials (+ EOS); labels = ids.</item>
/// <item><see cref="PromptCompletionRecord"/>: BOS/… + prompt + completion + closing specials (+ EOS); prompt and
/// opening specials get -100. Prompt and completion are tokenized separately, so the boundary is exact.</item>
/// <item><see cref="ChatRecord"/>: the conversation rendered with the chat template and tokenized without added special
/// tokens (the template writes them, as in transformers' <c>apply_chat_template</c>); labels only on the content of
/// <see cref="TokenizationOptions.AssistantRoles"/> messages and on the end-of-turn special token the template writes
/// right after it (e.g. <c>&lt;|eot_id|&gt;</c>, <c>&lt;|im_end|&gt;</c>).</item>
/// </list>
/// Opening and closing special tokens are those the tokenizer's post-processor adds around a single text; then
/// tokenizer_config's <c>add_bos_token</c>/<c>add_eos_token</c>, when set, force the BOS/EOS token on (true) or off (false).
/// Instances are immutable; <see cref="Tokenize"/> is thread-safe.
/// </summary>
public sealed class ExampleTokenizer
{
    /// <summary>The label of positions without loss (PyTorch's cross-entropy ignore index).</summary>
    public const int IgnoreIndex = -100;

    private readonly Tokenizer _tokenizer;
    private readonly TokenizerConfig? _config;
    private readonly TokenizationOptions _options;
    private readonly int[] _prefix, _suffix;
    private readonly ChatMasker? _chat;

    /// <summary>Creates a tokenizer of examples.</summary>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="config">The model's tokenizer_config.json (special tokens, chat template, add_bos_token); null when absent.</param>
    /// <param name="options">Truncation, EOS and chat settings; defaults when null.</param>
    /// <exception cref="ArgumentException"><see cref="TokenizationOptions.MaxLength"/> leaves no room for text between the special tokens.</exception>
    public ExampleTokenizer(Tokenizer tokenizer, TokenizerConfig? config = null, TokenizationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _config = config;
        _options = options ?? new TokenizationOptions();
        BosId = Id(config?.BosToken);
        EosId = Id(config?.EosToken);
        PadId = Id(config?.PadToken) ?? EosId ?? 0;
        (_prefix, _suffix) = SpecialFrame();
        if (_options.MaxLength is { } max && max < _prefix.Length + _suffix.Length + 1)
        {
            throw new ArgumentException(
                $"MaxLength {max} leaves no room for text: the tokenizer adds {_prefix.Length} opening and {_suffix.Length} closing special tokens.", nameof(options));
        }
        if (config?.ChatTemplates.Count > 0)
        {
            _chat = new ChatMasker(tokenizer, config, _options);
        }
    }

    /// <summary>Ids put before every text (e.g. BOS or [CLS]).</summary>
    public IReadOnlyList<int> PrefixIds => _prefix;

    /// <summary>Ids put after every text (e.g. [SEP] or &lt;/s&gt;).</summary>
    public IReadOnlyList<int> SuffixIds => _suffix;

    /// <summary>Id of tokenizer_config's <c>bos_token</c>, or null.</summary>
    public int? BosId { get; }

    /// <summary>Id of tokenizer_config's <c>eos_token</c>, or null.</summary>
    public int? EosId { get; }

    /// <summary>Padding id: <c>pad_token</c>, else <c>eos_token</c>, else 0 (padding is masked out, so any id works).</summary>
    public int PadId { get; }

    /// <summary>The options in use.</summary>
    public TokenizationOptions Options => _options;

    /// <summary>Tokenizes a causal-LM record (text, prompt/completion or chat).</summary>
    /// <exception cref="DataFormatException">The chat template rejects the conversation, or there is no chat template; names the record.</exception>
    /// <exception cref="ArgumentException">A classification record (use <see cref="TokenizeClassification"/>).</exception>
    public TokenizedExample Tokenize(DataRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        switch (record)
        {
            case TextRecord t:
            {
                var body = Encode(t.Text);
                return Frame(record, [], body);
            }
            case PromptCompletionRecord pc:
                return Frame(record, Encode(pc.Prompt), Encode(pc.Completion));
            case ChatRecord c:
            {
                if (_chat is null)
                {
                    throw new DataFormatException(record.Source, record.Line, "a conversation needs a chat template, and the tokenizer_config.json given has none");
                }
                var (ids, labels) = _chat.Tokenize(c);
                bool cut = _options.MaxLength is { } max && ids.Length > max;
                if (cut)
                {
                    ids = ids[.._options.MaxLength!.Value];
                    labels = labels[.._options.MaxLength!.Value];
                }
                return new TokenizedExample(ids, labels, record.Source, record.Line) { Truncated = cut };
            }
            default:
                throw new ArgumentException($"{record.GetType().Name} is not a language-modelling record; use TokenizeClassification.", nameof(record));
        }
    }

    /// <summary>Tokenizes a classification record: opening specials + text + closing specials, truncated to MaxLength.</summary>
    public ClassificationExample TokenizeClassification(ClassificationRecord record, int labelId)
    {
        ArgumentNullException.ThrowIfNull(record);
        var body = Encode(record.Text);
        int room = _options.MaxLength is { } max ? max - _prefix.Length - _suffix.Length : int.MaxValue;
        bool cut = body.Length > room;
        if (cut)
        {
            body = body[..room];
        }
        return new ClassificationExample([.. _prefix, .. body, .. _suffix], labelId, record.Source, record.Line) { Truncated = cut };
    }

    private int[] Encode(string text) => [.. _tokenizer.Encode(text, addSpecialTokens: false).Ids];

    /// <summary>prefix + unlabelled + labelled + suffix (+ EOS), truncated keeping the start and the suffix.</summary>
    private TokenizedExample Frame(DataRecord record, int[] unlabelled, int[] labelled)
    {
        bool eos = _options.AppendEos && EosId is { } e && !(_suffix.Length > 0 && _suffix[^1] == e)
            && !(_suffix.Length == 0 && labelled.Length > 0 && labelled[^1] == e);
        int total = _prefix.Length + unlabelled.Length + labelled.Length + _suffix.Length + (eos ? 1 : 0);
        int max = _options.MaxLength ?? int.MaxValue;
        bool cut = total > max;
        if (cut)
        {
            // The appended EOS goes with the cut; the post-processor's closing tokens stay (as transformers truncates).
            eos = false;
            int room = max - _prefix.Length - _suffix.Length;
            if (unlabelled.Length >= room)
            {
                unlabelled = unlabelled[..room];
                labelled = [];
            }
            else if (unlabelled.Length + labelled.Length > room)
            {
                labelled = labelled[..(room - unlabelled.Length)];
            }
        }
        int n = _prefix.Length + unlabelled.Length + labelled.Length + _suffix.Length + (eos ? 1 : 0);
        var ids = new int[n];
        var labels = new int[n];
        int at = 0;
        Put(_prefix, false);
        Put(unlabelled, false);
        Put(labelled, true);
        Put(_suffix, labelled.Length > 0 || unlabelled.Length == 0);
        if (eos)
        {
            Put([EosId!.Value], true);
        }
        return new TokenizedExample(ids, labels, record.Source, record.Line) { Truncated = cut };

        void Put(int[] part, bool label)
        {
            for (int i = 0; i < part.Length; i++, at++)
            {
                ids[at] = part[i];
                labels[at] = label ? part[i] : IgnoreIndex;
            }
        }
    }

    private int? Id(string? token) => token is null ? null : _tokenizer.TokenToId(token);

    /// <summary>The special tokens the post-processor puts around one text, adjusted by add_bos_token/add_eos_token.</summary>
    private (int[] Prefix, int[] Suffix) SpecialFrame()
    {
        var probe = _tokenizer.Encode("a", addSpecialTokens: true);
        var mask = probe.SpecialTokensMask;
        int lead = 0;
        while (lead < mask.Count && mask[lead] == 1)
        {
            lead++;
        }
        int trail = 0;
        while (trail < mask.Count - lead && mask[mask.Count - 1 - trail] == 1)
        {
            trail++;
        }
        var prefix = probe.Ids.Take(lead).ToList();
        var suffix = probe.Ids.Skip(mask.Count - trail).ToList();
        if (_config?.AddBosToken is { } addBos && BosId is { } bos)
        {
            if (addBos && !prefix.Contains(bos))
            {
                prefix.Insert(0, bos);
            }
            else if (!addBos)
            {
                prefix.RemoveAll(id => id == bos);
            }
        }
        if (_config?.AddEosToken is { } addEos && EosId is { } eosId)
        {
            if (addEos && !suffix.Contains(eosId))
            {
                suffix.Add(eosId);
            }
            else if (!addEos)
            {
                suffix.RemoveAll(id => id == eosId);
            }
        }
        return (prefix.ToArray(), suffix.ToArray());
    }
}
