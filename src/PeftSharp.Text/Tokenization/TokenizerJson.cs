using System.Text.Json;
using PeftSharp.Text.Tokenization.Unicode;

namespace PeftSharp.Text.Tokenization;

/// <summary>Reads the components of a Hugging Face tokenizer.json. Unknown component types are rejected by name.</summary>
internal static class TokenizerJson
{
    public static Normalizer? ReadNormalizer(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        string type = TypeOf(e, "normalizer");
        return type switch
        {
            "NFC" => new Normalizer.UnicodeForm(NormalForm.Nfc),
            "NFD" => new Normalizer.UnicodeForm(NormalForm.Nfd),
            "NFKC" => new Normalizer.UnicodeForm(NormalForm.Nfkc),
            "NFKD" => new Normalizer.UnicodeForm(NormalForm.Nfkd),
            "Lowercase" => new Normalizer.Lowercase(),
            "Strip" => new Normalizer.Strip(Bool(e, "strip_left", true), Bool(e, "strip_right", true)),
            "StripAccents" => new Normalizer.Sequence([new Normalizer.Bert(false, false, true, false)]),
            "Prepend" => new Normalizer.Prepend(Str(e, "prepend", "normalizer Prepend")),
            "Replace" => new Normalizer.Replace(ReadPattern(e, "normalizer Replace"), Str(e, "content", "normalizer Replace")),
            "BertNormalizer" => ReadBert(e),
            "ByteLevel" => new Normalizer.ByteLevel(),
            "Sequence" => new Normalizer.Sequence(Array(e, "normalizers", "normalizer Sequence").Select(x => ReadNormalizer(x)!).Where(x => x is not null).ToArray()),
            _ => throw Unknown("normalizer", type),
        };
    }

    private static Normalizer ReadBert(JsonElement e)
    {
        bool lowercase = Bool(e, "lowercase", true);
        bool strip = e.TryGetProperty("strip_accents", out var sa) && sa.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? sa.GetBoolean() : lowercase;
        return new Normalizer.Bert(Bool(e, "clean_text", true), Bool(e, "handle_chinese_chars", true), strip, lowercase);
    }

    public static PreTokenizer? ReadPreTokenizer(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        string type = TypeOf(e, "pre_tokenizer");
        return type switch
        {
            "ByteLevel" => new PreTokenizer.ByteLevel(Bool(e, "add_prefix_space", true), Bool(e, "use_regex", true)),
            "Split" => new PreTokenizer.Split(ReadPattern(e, "pre_tokenizer Split"), ReadBehavior(e, "pre_tokenizer Split"), Bool(e, "invert", false)),
            "Metaspace" => new PreTokenizer.Metaspace(Char(e, "replacement", "pre_tokenizer Metaspace"), ReadPrependScheme(e), Bool(e, "split", true)),
            "Whitespace" => new PreTokenizer.Whitespace(),
            "WhitespaceSplit" => new PreTokenizer.WhitespaceSplit(),
            "BertPreTokenizer" => new PreTokenizer.Bert(),
            "Punctuation" => new PreTokenizer.Punctuation(e.TryGetProperty("behavior", out _) ? ReadBehavior(e, "pre_tokenizer Punctuation") : SplitBehavior.Isolated),
            "Digits" => new PreTokenizer.Digits(Bool(e, "individual_digits", false)),
            "CharDelimiterSplit" => new PreTokenizer.CharDelimiterSplit(Char(e, "delimiter", "pre_tokenizer CharDelimiterSplit")),
            "Sequence" => new PreTokenizer.Sequence(Array(e, "pretokenizers", "pre_tokenizer Sequence").Select(x => ReadPreTokenizer(x)!).Where(x => x is not null).ToArray()),
            _ => throw Unknown("pre_tokenizer", type),
        };
    }

    private static PreTokenizer.PrependScheme ReadPrependScheme(JsonElement e)
    {
        if (e.TryGetProperty("prepend_scheme", out var ps) && ps.ValueKind == JsonValueKind.String)
        {
            return ps.GetString() switch
            {
                "always" => PreTokenizer.PrependScheme.Always,
                "first" => PreTokenizer.PrependScheme.First,
                "never" => PreTokenizer.PrependScheme.Never,
                var s => throw new TokenizerFormatException($"Metaspace prepend_scheme '{s}' is not one of always, first, never."),
            };
        }
        // Older files: add_prefix_space instead of prepend_scheme.
        return Bool(e, "add_prefix_space", true) ? PreTokenizer.PrependScheme.Always : PreTokenizer.PrependScheme.Never;
    }

    private static SplitBehavior ReadBehavior(JsonElement e, string where)
    {
        string b = Str(e, "behavior", where);
        return b switch
        {
            "Removed" => SplitBehavior.Removed,
            "Isolated" => SplitBehavior.Isolated,
            "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
            "MergedWithNext" => SplitBehavior.MergedWithNext,
            "Contiguous" => SplitBehavior.Contiguous,
            _ => throw new TokenizerFormatException($"{where}: behavior '{b}' is unknown."),
        };
    }

    private static SplitPattern ReadPattern(JsonElement e, string where)
    {
        if (!e.TryGetProperty("pattern", out var p) || p.ValueKind != JsonValueKind.Object)
        {
            throw new TokenizerFormatException($"{where}: 'pattern' must be an object with 'String' or 'Regex'.");
        }
        if (p.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String)
        {
            return new LiteralPattern(s.GetString()!);
        }
        if (p.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String)
        {
            string regex = r.GetString()!;
            return (SplitPattern?)WellKnownPattern.For(regex) ?? new RegexPattern(regex);
        }
        throw new TokenizerFormatException($"{where}: 'pattern' must hold 'String' or 'Regex'.");
    }

    public static PostProcessor? ReadPostProcessor(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        string type = TypeOf(e, "post_processor");
        switch (type)
        {
            case "TemplateProcessing":
                var specials = new Dictionary<string, PostProcessor.SpecialToken>();
                if (e.TryGetProperty("special_tokens", out var st) && st.ValueKind == JsonValueKind.Object)
                {
                    foreach (var prop in st.EnumerateObject())
                    {
                        var ids = Array(prop.Value, "ids", "TemplateProcessing special token").Select(x => x.GetInt32()).ToArray();
                        var toks = Array(prop.Value, "tokens", "TemplateProcessing special token").Select(x => x.GetString()!).ToArray();
                        if (ids.Length != toks.Length)
                        {
                            throw new TokenizerFormatException($"TemplateProcessing special token '{prop.Name}' has {ids.Length} ids but {toks.Length} tokens.");
                        }
                        specials[prop.Name] = new(prop.Name, ids, toks);
                    }
                }
                return new PostProcessor.Template(ReadTemplate(e, "single", specials), ReadTemplate(e, "pair", specials), specials);
            case "BertProcessing":
            case "RobertaProcessing":
                bool roberta = type == "RobertaProcessing";
                var trim = roberta ? new PostProcessor.ByteLevel(Bool(e, "trim_offsets", true), Bool(e, "add_prefix_space", true)) : null;
                return new PostProcessor.ClsSep(ReadPair(e, "cls", type), ReadPair(e, "sep", type), roberta, trim);
            case "ByteLevel":
                return new PostProcessor.ByteLevel(Bool(e, "trim_offsets", true), Bool(e, "add_prefix_space", true));
            case "Sequence":
                return new PostProcessor.Sequence(Array(e, "processors", "post_processor Sequence").Select(x => ReadPostProcessor(x)!).Where(x => x is not null).ToArray());
            default:
                throw Unknown("post_processor", type);
        }
    }

    private static (string, int) ReadPair(JsonElement e, string name, string where)
    {
        if (!e.TryGetProperty(name, out var p) || p.ValueKind != JsonValueKind.Array || p.GetArrayLength() != 2)
        {
            throw new TokenizerFormatException($"{where}: '{name}' must be [token, id].");
        }
        return (p[0].GetString()!, p[1].GetInt32());
    }

    private static PostProcessor.TemplatePiece[] ReadTemplate(JsonElement e, string name, Dictionary<string, PostProcessor.SpecialToken> specials)
    {
        var list = new List<PostProcessor.TemplatePiece>();
        foreach (var item in Array(e, name, "TemplateProcessing"))
        {
            if (item.TryGetProperty("Sequence", out var seq))
            {
                list.Add(new(true, Str(seq, "id", "TemplateProcessing Sequence"), seq.TryGetProperty("type_id", out var t) ? t.GetInt32() : 0));
            }
            else if (item.TryGetProperty("SpecialToken", out var sp))
            {
                string id = Str(sp, "id", "TemplateProcessing SpecialToken");
                if (!specials.ContainsKey(id))
                {
                    throw new TokenizerFormatException($"TemplateProcessing {name} uses special token '{id}', which special_tokens does not define.");
                }
                list.Add(new(false, id, sp.TryGetProperty("type_id", out var t) ? t.GetInt32() : 0));
            }
            else
            {
                throw new TokenizerFormatException($"TemplateProcessing {name}: an item is neither Sequence nor SpecialToken.");
            }
        }
        return list.ToArray();
    }

    public static Decoder? ReadDecoder(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        string type = TypeOf(e, "decoder");
        return type switch
        {
            "ByteLevel" => new Decoder.ByteLevel(),
            "Metaspace" => new Decoder.Metaspace(Char(e, "replacement", "decoder Metaspace"), ReadPrependScheme(e) != PreTokenizer.PrependScheme.Never),
            "ByteFallback" => new Decoder.ByteFallback(),
            "Fuse" => new Decoder.Fuse(),
            "Strip" => new Decoder.Strip(Char(e, "content", "decoder Strip"), Int(e, "start", 0), Int(e, "stop", 0)),
            "Replace" => new Decoder.Replace(ReadPattern(e, "decoder Replace"), Str(e, "content", "decoder Replace")),
            "WordPiece" => new Decoder.WordPiece(e.TryGetProperty("prefix", out var p) ? p.GetString()! : "##", Bool(e, "cleanup", true)),
            "BPEDecoder" => new Decoder.Bpe(e.TryGetProperty("suffix", out var s) ? s.GetString()! : "</w>"),
            "Sequence" => new Decoder.Sequence(Array(e, "decoders", "decoder Sequence").Select(x => ReadDecoder(x)!).Where(x => x is not null).ToArray()),
            _ => throw Unknown("decoder", type),
        };
    }

    public static Model ReadModel(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new TokenizerFormatException("tokenizer.json has no 'model' object.");
        }
        string type = e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()!
            : e.TryGetProperty("merges", out _) ? "BPE" : e.TryGetProperty("vocab", out var v) && v.ValueKind == JsonValueKind.Array ? "Unigram" : "WordPiece";
        switch (type)
        {
            case "BPE":
            {
                var vocab = ReadVocabObject(e, "BPE");
                var merges = new List<(string, string)>();
                int i = 0;
                foreach (var m in Array(e, "merges", "BPE model"))
                {
                    if (m.ValueKind == JsonValueKind.String)
                    {
                        var s = m.GetString()!;
                        var parts = s.Split(' ');
                        if (parts.Length != 2)
                        {
                            throw new TokenizerFormatException($"BPE merge {i} '{s}' is not two tokens separated by one space.");
                        }
                        merges.Add((parts[0], parts[1]));
                    }
                    else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
                    {
                        merges.Add((m[0].GetString()!, m[1].GetString()!));
                    }
                    else
                    {
                        throw new TokenizerFormatException($"BPE merge {i} is neither \"a b\" nor [\"a\", \"b\"].");
                    }
                    i++;
                }
                float? dropout = e.TryGetProperty("dropout", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetSingle() : null;
                return new BpeModel(vocab, merges, OptStr(e, "unk_token"), OptStr(e, "continuing_subword_prefix"), OptStr(e, "end_of_word_suffix"),
                    Bool(e, "fuse_unk", false), Bool(e, "byte_fallback", false), Bool(e, "ignore_merges", false), dropout);
            }
            case "WordPiece":
                return new WordPieceModel(ReadVocabObject(e, "WordPiece"), OptStr(e, "unk_token") ?? "[UNK]",
                    OptStr(e, "continuing_subword_prefix") ?? "##", Int(e, "max_input_chars_per_word", 100));
            case "WordLevel":
                return new WordLevelModel(ReadVocabObject(e, "WordLevel"), OptStr(e, "unk_token") ?? "<unk>");
            case "Unigram":
            {
                var vocab = new List<(string, double)>();
                foreach (var item in Array(e, "vocab", "Unigram model"))
                {
                    if (item.ValueKind != JsonValueKind.Array || item.GetArrayLength() != 2)
                    {
                        throw new TokenizerFormatException($"Unigram vocab entry {vocab.Count} is not [piece, score].");
                    }
                    vocab.Add((item[0].GetString()!, item[1].GetDouble()));
                }
                int? unk = e.TryGetProperty("unk_id", out var u) && u.ValueKind == JsonValueKind.Number ? u.GetInt32() : null;
                return new UnigramModel(vocab, unk, Bool(e, "byte_fallback", false));
            }
            default:
                throw Unknown("model", type);
        }
    }

    private static Dictionary<string, int> ReadVocabObject(JsonElement e, string model)
    {
        if (!e.TryGetProperty("vocab", out var v) || v.ValueKind != JsonValueKind.Object)
        {
            throw new TokenizerFormatException($"{model} model: 'vocab' must be an object of token → id.");
        }
        var d = new Dictionary<string, int>();
        foreach (var p in v.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
            {
                throw new TokenizerFormatException($"{model} model: vocab entry '{p.Name}' has no valid id.");
            }
            d[p.Name] = id;
        }
        return d;
    }

    public static List<AddedToken> ReadAddedTokens(JsonElement root)
    {
        var list = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out var a) || a.ValueKind != JsonValueKind.Array)
        {
            return list;
        }
        foreach (var t in a.EnumerateArray())
        {
            list.Add(ReadAddedToken(t, Int(t, "id", -1)));
        }
        return list;
    }

    public static AddedToken ReadAddedToken(JsonElement t, int id)
    {
        if (id < 0)
        {
            throw new TokenizerFormatException("An added token has no valid 'id'.");
        }
        bool special = Bool(t, "special", false);
        return new AddedToken(id, Str(t, "content", "added token"), special, Bool(t, "single_word", false),
            Bool(t, "lstrip", false), Bool(t, "rstrip", false), Bool(t, "normalized", !special));
    }

    private static string TypeOf(JsonElement e, string what)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String)
        {
            throw new TokenizerFormatException($"A {what} has no 'type'.");
        }
        return t.GetString()!;
    }

    private static TokenizerFormatException Unknown(string what, string type) =>
        new($"Unsupported {what} type '{type}'.");

    private static IEnumerable<JsonElement> Array(JsonElement e, string name, string where) =>
        e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray()
            : throw new TokenizerFormatException($"{where}: '{name}' must be an array.");

    private static bool Bool(JsonElement e, string name, bool fallback) =>
        e.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

    private static int Int(JsonElement e, string name, int fallback) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : fallback;

    private static string Str(JsonElement e, string name, string where) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()!
            : throw new TokenizerFormatException($"{where}: '{name}' must be a string.");

    private static string? OptStr(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static char Char(JsonElement e, string name, string where)
    {
        string s = Str(e, name, where);
        return s.Length == 1 ? s[0] : throw new TokenizerFormatException($"{where}: '{name}' must be one character, got '{s}'.");
    }
}
