using System.Text.Json;

namespace PeftSharp.Text.Tokenization;

/// <summary>
/// A Hugging Face tokenizer read from tokenizer.json (and tokenizer_config.json when present). It produces the
/// ids, tokens and decoded text of the reference Rust <c>tokenizers</c> library. Instances are immutable and
/// safe to use from several threads.
/// </summary>
public sealed class Tokenizer
{
    private readonly Normalizer? _normalizer;
    private readonly PreTokenizer? _preTokenizer;
    private readonly Model _model;
    private readonly PostProcessor? _postProcessor;
    private readonly Decoder? _decoder;
    private readonly AddedTokenMatcher _rawMatcher, _normalizedMatcher;
    private readonly Dictionary<int, AddedToken> _addedById = new();
    private readonly Dictionary<string, AddedToken> _addedByContent = new(StringComparer.Ordinal);
    private readonly HashSet<string> _specialContents = new(StringComparer.Ordinal);
    [ThreadStatic] private static Workspace? t_workspace;

    private Tokenizer(JsonElement root, TokenizerConfig config)
    {
        _normalizer = TokenizerJson.ReadNormalizer(Get(root, "normalizer"));
        _preTokenizer = TokenizerJson.ReadPreTokenizer(Get(root, "pre_tokenizer"));
        _model = TokenizerJson.ReadModel(Get(root, "model"));
        _postProcessor = TokenizerJson.ReadPostProcessor(Get(root, "post_processor"));
        _decoder = TokenizerJson.ReadDecoder(Get(root, "decoder"));
        var added = TokenizerJson.ReadAddedTokens(root);
        foreach (var t in config.AddedTokens)
        {
            if (!added.Any(a => a.Id == t.Id))
            {
                added.Add(t);
            }
        }
        foreach (var t in added)
        {
            _addedById[t.Id] = t;
            _addedByContent.TryAdd(t.Content, t);
            if (t.Special)
            {
                _specialContents.Add(t.Content);
            }
        }
        foreach (var s in config.AdditionalSpecialTokens)
        {
            _specialContents.Add(s);
        }
        CleanUpTokenizationSpaces = config.CleanUpTokenizationSpaces;
        _rawMatcher = new AddedTokenMatcher(added.Where(t => !t.Normalized).Select(t => (t.Content, t)));
        _normalizedMatcher = new AddedTokenMatcher(added.Where(t => t.Normalized).Select(t => (NormalizeContent(t.Content), t)));
        DefaultTruncation = ReadTruncation(Get(root, "truncation"));
        DefaultPadding = ReadPadding(Get(root, "padding"));
    }

    /// <summary>Whether <see cref="Decode"/> removes spaces before punctuation and contractions (from tokenizer_config.json; default false).</summary>
    public bool CleanUpTokenizationSpaces { get; }

    /// <summary>Truncation from tokenizer.json, used when a call gives none.</summary>
    public TruncationOptions? DefaultTruncation { get; }

    /// <summary>Padding from tokenizer.json, used by <see cref="EncodeBatch"/> when a call gives none.</summary>
    public PaddingOptions? DefaultPadding { get; }

    /// <summary>Tokens added on top of the model vocabulary, by id.</summary>
    public IReadOnlyDictionary<int, AddedToken> AddedTokens => _addedById;

    /// <summary>Number of distinct ids: model vocabulary plus added tokens not already in it.</summary>
    public int VocabSize => _model.VocabSize + _addedById.Values.Count(t => !_model.TryTokenToId(t.Content, out _));

    /// <summary>Reads a tokenizer.json file; tokenizer_config.json is read from the same folder when it exists.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="TokenizerFormatException">The file is not a tokenizer this library can run; the message names the part.</exception>
    public static Tokenizer FromFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Tokenizer file not found: {path}", path);
        }
        var config = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "tokenizer_config.json");
        return FromJson(File.ReadAllText(path), File.Exists(config) ? File.ReadAllText(config) : null);
    }

    /// <summary>Reads tokenizer.json (and tokenizer_config.json when present) from a model directory.</summary>
    /// <exception cref="FileNotFoundException">The directory has no tokenizer.json.</exception>
    /// <exception cref="TokenizerFormatException">The files are not a tokenizer this library can run.</exception>
    public static Tokenizer FromDirectory(string directory) => FromFile(Path.Combine(directory, "tokenizer.json"));

    /// <summary>Builds a tokenizer from the text of tokenizer.json and, optionally, tokenizer_config.json.</summary>
    /// <exception cref="TokenizerFormatException">The JSON is malformed or uses an unsupported component; the message names it.</exception>
    public static Tokenizer FromJson(string tokenizerJson, string? tokenizerConfigJson = null)
    {
        try
        {
            using var doc = JsonDocument.Parse(tokenizerJson, new JsonDocumentOptions { MaxDepth = 256 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new TokenizerFormatException("tokenizer.json must hold a JSON object.");
            }
            return new Tokenizer(doc.RootElement, TokenizerConfig.Parse(tokenizerConfigJson));
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException($"tokenizer.json is not valid JSON: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            throw new TokenizerFormatException($"tokenizer.json has a value of the wrong kind: {e.Message}", e);
        }
    }

    /// <summary>Id of a token string (added tokens first, then the model vocabulary), or null.</summary>
    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var a) ? a.Id : _model.TryTokenToId(token, out int id) ? id : null;

    /// <summary>String of a token id, or null when the id is unknown.</summary>
    public string? IdToToken(int id) => _addedById.TryGetValue(id, out var a) ? a.Content : _model.IdToToken(id);

    /// <summary>Encodes one text. With <paramref name="addSpecialTokens"/>, the post-processor's special tokens are added.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    public Encoding Encode(string text, bool addSpecialTokens = true, TruncationOptions? truncation = null) =>
        Encode(text, null, addSpecialTokens, truncation);

    /// <summary>Encodes a pair of texts (e.g. question and context) into one sequence, as the post-processor's pair template says.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    /// <exception cref="ArgumentException">Truncation leaves no room for text.</exception>
    public Encoding Encode(string text, string? pair, bool addSpecialTokens = true, TruncationOptions? truncation = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var a = EncodeSequence(text);
        var b = pair is null ? null : EncodeSequence(pair);
        truncation ??= DefaultTruncation;
        if (truncation is not null)
        {
            int room = truncation.MaxLength - (addSpecialTokens && _postProcessor is not null ? _postProcessor.AddedTokens(b is not null) : 0);
            if (room <= 0 || truncation.Stride < 0 || (truncation.Stride >= room && a.Length + (b?.Length ?? 0) > room))
            {
                throw new ArgumentException($"Truncation to {truncation.MaxLength} tokens with stride {truncation.Stride} leaves {room} for text, which is not enough.", nameof(truncation));
            }
            if (b is null)
            {
                a = Truncate(a, room, truncation.Stride, truncation.Direction);
            }
            else
            {
                // Longest first: remove tokens from the longer sequence until both fit.
                int total = a.Length + b.Length;
                int keepA = a.Length, keepB = b.Length;
                while (keepA + keepB > room)
                {
                    if (keepA >= keepB) { keepA--; } else { keepB--; }
                }
                if (total > room)
                {
                    a = truncation.Direction == Side.Right ? a.Slice(0, keepA) : a.Slice(a.Length - keepA, a.Length);
                    b = truncation.Direction == Side.Right ? b.Slice(0, keepB) : b.Slice(b.Length - keepB, b.Length);
                }
            }
        }
        var result = PostProcess(a, b, addSpecialTokens);
        foreach (var o in a.OverflowList)
        {
            result.OverflowList.Add(PostProcess(o, null, addSpecialTokens));
        }
        return result;
    }

    private Encoding PostProcess(Encoding a, Encoding? b, bool addSpecialTokens)
    {
        if (_postProcessor is not null)
        {
            return _postProcessor.Process(a, b, addSpecialTokens);
        }
        if (b is null)
        {
            return a;
        }
        var e = new Encoding();
        e.AppendFrom(a, 0, a.Length);
        e.AppendFrom(b, 0, b.Length, 1);
        return e;
    }

    /// <summary>Cuts to <paramref name="room"/> tokens; the rest goes to overflow windows that share <paramref name="stride"/> tokens.</summary>
    private static Encoding Truncate(Encoding e, int room, int stride, Side direction)
    {
        if (e.Length <= room)
        {
            return e;
        }
        int step = room - stride;
        var windows = new List<(int, int)>();
        if (direction == Side.Right)
        {
            for (int start = 0; ; start += step)
            {
                int stop = Math.Min(start + room, e.Length);
                windows.Add((start, stop));
                if (stop == e.Length)
                {
                    break;
                }
            }
        }
        else
        {
            for (int stop = e.Length; ; stop -= step)
            {
                int start = Math.Max(0, stop - room);
                windows.Add((start, stop));
                if (start == 0)
                {
                    break;
                }
            }
        }
        var first = e.Slice(windows[0].Item1, windows[0].Item2);
        for (int i = 1; i < windows.Count; i++)
        {
            first.OverflowList.Add(e.Slice(windows[i].Item1, windows[i].Item2));
        }
        return first;
    }

    /// <summary>Encodes several texts, then pads them (to the longest, or to a fixed length) when padding is given.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="texts"/> or one of them is null.</exception>
    public IReadOnlyList<Encoding> EncodeBatch(IReadOnlyList<string> texts, bool addSpecialTokens = true,
        PaddingOptions? padding = null, TruncationOptions? truncation = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var result = new Encoding[texts.Count];
        for (int i = 0; i < texts.Count; i++)
        {
            result[i] = Encode(texts[i] ?? throw new ArgumentNullException(nameof(texts), $"Text {i} is null."), addSpecialTokens, truncation);
        }
        padding ??= DefaultPadding;
        if (padding is not null && result.Length > 0)
        {
            int target = padding.Length ?? result.Max(e => e.Length);
            if (padding.PadToMultipleOf is > 0 and int m && target % m != 0)
            {
                target += m - target % m;
            }
            foreach (var e in result)
            {
                e.Pad(target, padding.Direction == Side.Left, padding.PadId, padding.PadTypeId, padding.PadToken);
                foreach (var o in e.OverflowList)
                {
                    o.Pad(target, padding.Direction == Side.Left, padding.PadId, padding.PadTypeId, padding.PadToken);
                }
            }
        }
        return result;
    }

    /// <summary>
    /// Turns ids back into text with the tokenizer's decoder. Ids that are neither in the vocabulary nor added are
    /// ignored; with <paramref name="skipSpecialTokens"/>, special added tokens are left out.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="ids"/> is null.</exception>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var tokens = new List<string>();
        foreach (int id in ids)
        {
            string? t = _addedById.TryGetValue(id, out var a) ? a.Content : _model.IdToToken(id);
            if (t is null || (skipSpecialTokens && _specialContents.Contains(t)))
            {
                continue;
            }
            tokens.Add(t);
        }
        string text = tokens.Count == 0 ? "" : _decoder is not null ? _decoder.Decode(tokens) : string.Join(' ', tokens);
        return CleanUpTokenizationSpaces ? CleanUp(text) : text;
    }

    /// <summary>transformers' <c>clean_up_tokenization</c>.</summary>
    private static string CleanUp(string s) => s
        .Replace(" .", ".", StringComparison.Ordinal).Replace(" ?", "?", StringComparison.Ordinal)
        .Replace(" !", "!", StringComparison.Ordinal).Replace(" ,", ",", StringComparison.Ordinal)
        .Replace(" ' ", "'", StringComparison.Ordinal).Replace(" n't", "n't", StringComparison.Ordinal)
        .Replace(" 'm", "'m", StringComparison.Ordinal).Replace(" 's", "'s", StringComparison.Ordinal)
        .Replace(" 've", "'ve", StringComparison.Ordinal).Replace(" 're", "'re", StringComparison.Ordinal);

    private string NormalizeContent(string content)
    {
        if (_normalizer is null)
        {
            return content;
        }
        var s = new NormalizedString();
        s.Reset(content, 0);
        _normalizer.Normalize(s);
        return s.ToString();
    }

    /// <summary>Added tokens, normalization, pre-tokenization and the model, for one sequence (no post-processing).</summary>
    private Encoding EncodeSequence(string text)
    {
        var w = t_workspace ??= new Workspace();
        var pt = w.PreTokenized;
        pt.Clear();
        var pieces = pt.Pieces;
        if (_rawMatcher.IsEmpty && _normalizedMatcher.IsEmpty && _normalizer is null)
        {
            pt.Text.Reset(text, 0);
            if (text.Length > 0)
            {
                pieces.Add(new Piece(0, text.Length, -1));
            }
        }
        else
        {
            BuildPieces(text, w);
        }
        _preTokenizer?.PreTokenize(pt);

        var encoding = new Encoding();
        var tokens = w.Tokens;
        var buffer = pt.Text;
        for (int p = 0; p < pt.Pieces.Count; p++)
        {
            var piece = pt.Pieces[p];
            if (piece.IsToken)
            {
                encoding.Add(piece.TokenId, _addedById[piece.TokenId].Content, buffer.OriginalRange(piece.Start, piece.End), p);
                continue;
            }
            tokens.Clear();
            _model.Tokenize(buffer.Span[piece.Start..piece.End], tokens);
            foreach (var t in tokens)
            {
                string value = t.Value ?? _model.IdToToken(t.Id) ?? "";
                encoding.Add(t.Id, value, buffer.OriginalRange(piece.Start + t.Start, piece.Start + t.End), p);
            }
        }
        return encoding;
    }

    /// <summary>Raw added tokens, then normalization of each gap, then normalized added tokens; all written into the workspace buffer.</summary>
    private void BuildPieces(string text, Workspace w)
    {
        var raw = w.RawPieces;
        raw.Clear();
        _rawMatcher.Split(text, raw);
        var pt = w.PreTokenized;
        var outText = pt.Text;
        var segment = w.Segment;
        var sub = w.SubPieces;
        // The workspace buffer is built through a rewrite: Emit appends to its back buffer.
        outText.BeginRewrite();
        foreach (var r in raw)
        {
            if (r.IsToken)
            {
                int s0 = outText.RewriteLength;
                for (int i = r.Start; i < r.End; i++)
                {
                    outText.Emit(text[i], r.Start, r.End);
                }
                pt.Pieces.Add(new Piece(s0, outText.RewriteLength, r.TokenId));
                continue;
            }
            segment.Reset(text.AsSpan(r.Start, r.End - r.Start), r.Start);
            _normalizer?.Normalize(segment);
            sub.Clear();
            if (_normalizedMatcher.IsEmpty)
            {
                sub.Add(new Piece(0, segment.Length, -1));
            }
            else
            {
                _normalizedMatcher.Split(segment.Span, sub);
            }
            foreach (var sp in sub)
            {
                if (sp.End == sp.Start)
                {
                    continue;
                }
                int s0 = outText.RewriteLength;
                for (int i = sp.Start; i < sp.End; i++)
                {
                    outText.Emit(segment[i], segment.StartOf(i), segment.EndOf(i));
                }
                pt.Pieces.Add(new Piece(s0, outText.RewriteLength, sp.TokenId));
            }
        }
        outText.EndRewrite();
    }

    private static JsonElement Get(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) ? v : default;

    private static TruncationOptions? ReadTruncation(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        int max = e.TryGetProperty("max_length", out var m) && m.TryGetInt32(out int mm) ? mm : throw new TokenizerFormatException("truncation: 'max_length' is missing.");
        int stride = e.TryGetProperty("stride", out var s) && s.TryGetInt32(out int ss) ? ss : 0;
        var dir = e.TryGetProperty("direction", out var d) && d.ValueKind == JsonValueKind.String && d.GetString() == "Left" ? Side.Left : Side.Right;
        return new TruncationOptions(max, stride, dir);
    }

    private static PaddingOptions? ReadPadding(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        int? length = e.TryGetProperty("strategy", out var st) && st.ValueKind == JsonValueKind.Object && st.TryGetProperty("Fixed", out var f) ? f.GetInt32() : null;
        int? multiple = e.TryGetProperty("pad_to_multiple_of", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetInt32() : null;
        var dir = e.TryGetProperty("direction", out var d) && d.ValueKind == JsonValueKind.String && d.GetString() == "Left" ? Side.Left : Side.Right;
        return new PaddingOptions(length, multiple,
            e.TryGetProperty("pad_id", out var pid) ? pid.GetInt32() : 0,
            e.TryGetProperty("pad_token", out var pt) ? pt.GetString() ?? "[PAD]" : "[PAD]",
            e.TryGetProperty("pad_type_id", out var ptid) ? ptid.GetInt32() : 0, dir);
    }

    /// <summary>Per-thread buffers reused across encode calls.</summary>
    private sealed class Workspace
    {
        public readonly PreTokenizedString PreTokenized = new();
        public readonly NormalizedString Segment = new();
        public readonly List<Piece> RawPieces = new();
        public readonly List<Piece> SubPieces = new();
        public readonly List<ModelToken> Tokens = new();
    }
}
