using System.Text.Json;

namespace PeftSharp.Text.Tokenization;

/// <summary>The few fields of tokenizer_config.json that change encoding or decoding (the shared ones come from <see cref="Templates.TokenizerConfig"/>).</summary>
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
            // The fields shared with chat templating are read by the one public reader of tokenizer_config.json.
            Templates.TokenizerConfig shared;
            try
            {
                shared = Templates.TokenizerConfig.FromJson(root);
            }
            catch (FormatException e)
            {
                throw new TokenizerFormatException(e.Message, e);
            }
            c = new TokenizerConfig { CleanUpTokenizationSpaces = shared.CleanUpTokenizationSpaces == true };
            c.AdditionalSpecialTokens.AddRange(shared.AdditionalSpecialTokens);
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
        }
        return c;
    }
}
