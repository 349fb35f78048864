using PeftSharp.Text.Templates;
using PeftSharp.Text.Tokenization;

namespace PeftSharp.Training.Tests.Data;

/// <summary>Tokenizers for data tests, loaded once: the small synthetic ones in the repository and the large ones from the fixture root.</summary>
internal static class TestTokenizers
{
    private static readonly Dictionary<string, Lazy<(Tokenizer, TokenizerConfig)?>> s_cache = new()
    {
        ["synthetic-gpt2"] = Synthetic("synthetic-gpt2"),
        ["synthetic-unigram"] = Synthetic("synthetic-unigram"),
        ["synthetic-wordpiece"] = Synthetic("synthetic-wordpiece"),
        ["llama3"] = Shared("llama3"),
        ["qwen3"] = Shared("qwen3"),
    };

    public static (Tokenizer Tokenizer, TokenizerConfig Config) Get(string name) =>
        s_cache[name].Value ?? throw new InvalidOperationException($"Tokenizer {name} is missing from the repository.");

    /// <summary>A large fixture tokenizer, or null (with the reason) when the fixture root or the folder is absent.</summary>
    public static (Tokenizer Tokenizer, TokenizerConfig Config)? TryGetShared(string name, out string reason)
    {
        reason = FixturePaths.Root is null ? FixturePaths.Describe() : $"{Path.Combine(FixturePaths.Root, "tokenizers", name)} has no tokenizer.json";
        return s_cache[name].Value;
    }

    private static Lazy<(Tokenizer, TokenizerConfig)?> Synthetic(string name) =>
        new(() => Load(Path.Combine(FixturePaths.RepositoryRoot, "tests", "fixtures", "tokenizers", name)));

    private static Lazy<(Tokenizer, TokenizerConfig)?> Shared(string name) =>
        new(() => FixturePaths.Root is { } root ? Load(Path.Combine(root, "tokenizers", name)) : null);

    private static (Tokenizer, TokenizerConfig)? Load(string dir)
    {
        if (!File.Exists(Path.Combine(dir, "tokenizer.json")))
        {
            return null;
        }
        return (Tokenizer.FromDirectory(dir), TokenizerConfig.Load(Path.Combine(dir, "tokenizer_config.json")));
    }
}
