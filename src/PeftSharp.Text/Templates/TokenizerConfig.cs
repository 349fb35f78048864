using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;

namespace PeftSharp.Text.Templates;

/// <summary>
/// The parts of a Hugging Face <c>tokenizer_config.json</c> this library uses: chat template(s), special token
/// strings, <c>additional_special_tokens</c>, <c>clean_up_tokenization_spaces</c>, <c>add_bos_token</c>,
/// <c>add_eos_token</c> and <c>model_max_length</c>. Other fields are ignored. Special tokens may be written as a
/// string or as an object with a <c>content</c> string (an AddedToken); null means unset.
/// </summary>
public sealed class TokenizerConfig
{
    /// <summary>The special-token fields, in the order transformers lists them.</summary>
    public static readonly IReadOnlyList<string> SpecialTokenFields =
        ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    private readonly ConcurrentDictionary<string, ChatTemplate> _parsed = new(StringComparer.Ordinal);

    private TokenizerConfig()
    {
    }

    /// <summary>Chat templates by name; a single-string <c>chat_template</c> is named "default". Empty when absent.</summary>
    public IReadOnlyDictionary<string, string> ChatTemplates { get; private init; } = new Dictionary<string, string>();

    /// <summary>The template <see cref="GetChatTemplate"/> picks without a name, or null when there is none.</summary>
    public string? ChatTemplate => ChatTemplates.TryGetValue("default", out var t) ? t : ChatTemplates.Count == 1 ? ChatTemplates.Values.First() : null;

    /// <summary>Set special tokens by field name ("bos_token", ...), in <see cref="SpecialTokenFields"/> order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> SpecialTokens { get; private init; } = [];

    public string? BosToken => Special("bos_token");

    public string? EosToken => Special("eos_token");

    public string? UnkToken => Special("unk_token");

    public string? SepToken => Special("sep_token");

    public string? PadToken => Special("pad_token");

    public string? ClsToken => Special("cls_token");

    public string? MaskToken => Special("mask_token");

    public IReadOnlyList<string> AdditionalSpecialTokens { get; private init; } = [];

    /// <summary><c>clean_up_tokenization_spaces</c>, or null when absent.</summary>
    public bool? CleanUpTokenizationSpaces { get; private init; }

    public bool? AddBosToken { get; private init; }

    public bool? AddEosToken { get; private init; }

    /// <summary>
    /// <c>model_max_length</c>, or null when absent. transformers writes 1e30 for "no limit"; values beyond the
    /// 64-bit range read as <see cref="long.MaxValue"/>.
    /// </summary>
    public long? ModelMaxLength { get; private init; }

    private string? Special(string field) => SpecialTokens.FirstOrDefault(kv => kv.Key == field).Value;

    /// <summary>Reads a tokenizer_config.json file.</summary>
    /// <exception cref="FormatException">Invalid JSON or a field with the wrong type; the message names the file and field.</exception>
    public static TokenizerConfig Load(string path)
    {
        string text = File.ReadAllText(path);
        try
        {
            return Parse(text);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Parses tokenizer_config.json text.</summary>
    /// <exception cref="FormatException">Invalid JSON or a field with the wrong type; the message names the field.</exception>
    public static TokenizerConfig Parse(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, MaxDepth = 256 });
            return FromJson(doc.RootElement);
        }
        catch (JsonException e)
        {
            throw new FormatException($"tokenizer_config.json is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>Reads the fields from an already parsed JSON object.</summary>
    /// <exception cref="FormatException">The root is not an object or a field has the wrong type.</exception>
    public static TokenizerConfig FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"tokenizer_config.json must hold a JSON object, found {root.ValueKind}.");
        }
        var specials = new List<KeyValuePair<string, string>>();
        foreach (var field in SpecialTokenFields)
        {
            if (root.TryGetProperty(field, out var v) && TokenText(v, field) is { } text)
            {
                specials.Add(new(field, text));
            }
        }
        var additional = new List<string>();
        if (root.TryGetProperty("additional_special_tokens", out var add) && add.ValueKind != JsonValueKind.Null)
        {
            if (add.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException($"'additional_special_tokens' must be a list, found {add.ValueKind}.");
            }
            int i = 0;
            foreach (var item in add.EnumerateArray())
            {
                additional.Add(TokenText(item, $"additional_special_tokens[{i++}]")
                    ?? throw new FormatException($"'additional_special_tokens[{i - 1}]' must be a string or an object with 'content', found null."));
            }
        }
        return new TokenizerConfig
        {
            ChatTemplates = ReadTemplates(root),
            SpecialTokens = specials,
            AdditionalSpecialTokens = additional,
            CleanUpTokenizationSpaces = Bool(root, "clean_up_tokenization_spaces"),
            AddBosToken = Bool(root, "add_bos_token"),
            AddEosToken = Bool(root, "add_eos_token"),
            ModelMaxLength = MaxLength(root),
        };
    }

    /// <summary>The template text by name; without a name, "default" (or the only one). Null when the config has none.</summary>
    /// <exception cref="InvalidOperationException">A named template that does not exist, or several templates and none named "default".</exception>
    public string? GetChatTemplate(string? name = null)
    {
        if (name is not null)
        {
            return ChatTemplates.TryGetValue(name, out var t) ? t
                : throw new InvalidOperationException(
                    $"tokenizer_config.json has no chat template named '{name}' (available: {string.Join(", ", ChatTemplates.Keys.Select(k => $"'{k}'"))}).");
        }
        if (ChatTemplates.Count == 0)
        {
            return null;
        }
        return ChatTemplate ?? throw new InvalidOperationException(
            $"tokenizer_config.json has several chat templates and none named 'default'; pass one of: {string.Join(", ", ChatTemplates.Keys.Select(k => $"'{k}'"))}.");
    }

    /// <summary>The parsed template (parsed once per config and name).</summary>
    /// <exception cref="InvalidOperationException">The config has no chat template, or not the one named.</exception>
    /// <exception cref="TemplateSyntaxException">The template does not parse.</exception>
    public ChatTemplate GetParsedChatTemplate(string? name = null)
    {
        var text = GetChatTemplate(name) ?? throw new InvalidOperationException("tokenizer_config.json has no 'chat_template'.");
        return _parsed.GetOrAdd(name ?? "\0default", _ => Templates.ChatTemplate.Parse(text));
    }

    private static IReadOnlyDictionary<string, string> ReadTemplates(JsonElement root)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!root.TryGetProperty("chat_template", out var ct) || ct.ValueKind == JsonValueKind.Null)
        {
            return result;
        }
        switch (ct.ValueKind)
        {
            case JsonValueKind.String:
                result["default"] = ct.GetString()!;
                return result;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in ct.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object
                        || !item.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String
                        || !item.TryGetProperty("template", out var t) || t.ValueKind != JsonValueKind.String)
                    {
                        throw new FormatException($"'chat_template[{i}]' must be an object with string fields 'name' and 'template'.");
                    }
                    if (!result.TryAdd(n.GetString()!, t.GetString()!))
                    {
                        throw new FormatException($"'chat_template' names template '{n.GetString()}' twice.");
                    }
                    i++;
                }
                return result;
            default:
                throw new FormatException($"'chat_template' must be a string or a list of {{name, template}} objects, found {ct.ValueKind}.");
        }
    }

    private static string? TokenText(JsonElement v, string field) =>
        v.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            JsonValueKind.Object => throw new FormatException($"'{field}' is an object without a string 'content' field."),
            _ => throw new FormatException($"'{field}' must be a string, an object with 'content', or null; found {v.ValueKind}."),
        };

    private static bool? Bool(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new FormatException($"'{field}' must be true or false, found {v.ValueKind} {v.GetRawText()}."),
        };
    }

    private static long? MaxLength(JsonElement root)
    {
        if (!root.TryGetProperty("model_max_length", out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (v.ValueKind != JsonValueKind.Number)
        {
            throw new FormatException($"'model_max_length' must be a number, found {v.ValueKind} {v.GetRawText()}.");
        }
        if (v.TryGetInt64(out long l))
        {
            return l > 0 ? l : throw new FormatException($"'model_max_length' must be positive, found {l}.");
        }
        double d = v.GetDouble();
        if (d <= 0 || double.IsNaN(d) || d != Math.Floor(d))
        {
            throw new FormatException($"'model_max_length' must be a positive integer, found {v.GetRawText()}.");
        }
        return d >= 9.2233720368547758E18 ? long.MaxValue : (long)d;
    }
}
