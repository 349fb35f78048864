using System.Text.Json;

namespace PeftSharp.Text.Tokenization;

/// <summary>The few fields of tokenizer_config.json that change encoding or decoding.</summary>
internal sealed class TokenizerConfig
{
    public bool CleanUpTokenizationSpaces { get; private init; }
    public List<AddedToken> AddedTokens { get; } = new();
    public List<string> AdditionalSpecialTokens { get; } = new();

    public static TokenizerConfig Parse(string? json)
    {
        var c = new TokenizerConfig();
        if (json is null)
        {
            return c;
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException($"tokenizer_config.json is not valid JSON: {e.Message}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new TokenizerFormatException("tokenizer_config.json must hold a JSON object.");
            }
            c = new TokenizerConfig
            {
                CleanUpTokenizationSpaces = root.TryGetProperty("clean_up_tokenization_spaces", out var cu) && cu.ValueKind == JsonValueKind.True,
            };
            if (root.TryGetProperty("added_tokens_decoder", out var atd) && atd.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in atd.EnumerateObject())
                {
                    if (!int.TryParse(p.Name, out int id) || p.Value.ValueKind != JsonValueKind.Object)
                    {
                        throw new TokenizerFormatException($"tokenizer_config.json added_tokens_decoder: entry '{p.Name}' is not an id with a token object.");
                    }
                    c.AddedTokens.Add(TokenizerJson.ReadAddedToken(p.Value, id));
                }
            }
            if (root.TryGetProperty("additional_special_tokens", out var ast) && ast.ValueKind == JsonValueKind.Array)
            {
                foreach (var t in ast.EnumerateArray())
                {
                    if (t.ValueKind == JsonValueKind.String)
                    {
                        c.AdditionalSpecialTokens.Add(t.GetString()!);
                    }
                    else if (t.ValueKind == JsonValueKind.Object && t.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
                    {
                        c.AdditionalSpecialTokens.Add(content.GetString()!);
                    }
                }
            }
        }
        return c;
    }
}
