using System.Text.Json;
using PeftSharp.Text.Templates;

namespace PeftSharp.Conformance.Tests.Text;

/// <summary>
/// Every chat case in the tokenizer fixtures (rendered by Python Jinja2 3.1.6 as transformers configures it)
/// must render to exactly the same text, or fail with the same raise_exception message.
/// </summary>
public sealed class ChatTemplateConformanceTests
{
    private const string Kind = "tokenizers";

    /// <summary>One row per chat case: folder, case index, label. A folder with chat_cases.json always yields rows, template or not.</summary>
    public static TheoryData<string, int, string> ChatCases()
    {
        var data = new TheoryData<string, int, string>();
        foreach (var folder in FixtureRoot.FolderNames(Kind))
        {
            if (folder == FixtureRoot.NoFixtures)
            {
                data.Add(folder, -1, "(none)");
                continue;
            }
            var path = Path.Combine(FixtureRoot.FolderPath(Kind, folder), "chat_cases.json");
            if (!File.Exists(path))
            {
                continue;
            }
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            int i = 0;
            foreach (var c in doc.RootElement.EnumerateArray())
            {
                data.Add(folder, i++, $"{c.GetProperty("label").GetString()} agp={c.GetProperty("add_generation_prompt").GetBoolean()}");
            }
        }
        if (data.Count == 0)
        {
            // No folder of this root has chat cases (e.g. only the repository's synthetic tokenizers): one row reports it.
            data.Add(FixtureRoot.NoFixtures, -1, "(no chat cases under " + FixtureRoot.Source + ")");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ChatCases))]
    public void ChatCase_RendersExactlyAsJinja2(string folder, int index, string label)
    {
        if (folder == FixtureRoot.NoFixtures)
        {
            // Reported, not hidden: the row's name says that no chat cases were found under the fixture root.
            Assert.Equal(-1, index);
            Assert.StartsWith("(no", label);
            return;
        }
        var dir = FixtureRoot.FolderPath(Kind, folder);
        var config = TokenizerConfig.Load(Path.Combine(dir, "tokenizer_config.json"));
        Assert.True(config.ChatTemplate is not null, $"{folder} has chat_cases.json but its tokenizer_config.json has no chat_template.");

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "chat_cases.json")));
        var c = doc.RootElement[index];
        Assert.Equal(label, $"{c.GetProperty("label").GetString()} agp={c.GetProperty("add_generation_prompt").GetBoolean()}");

        var extra = new List<KeyValuePair<string, object?>>();
        if (c.TryGetProperty("context", out var ctx))
        {
            foreach (var p in ctx.EnumerateObject())
            {
                extra.Add(new(p.Name, p.Value));
            }
        }
        var messages = c.GetProperty("messages");
        bool agp = c.GetProperty("add_generation_prompt").GetBoolean();
        var expected = c.GetProperty("rendered");

        if (expected.ValueKind == JsonValueKind.Null)
        {
            var error = c.GetProperty("error").GetString();
            var ex = Assert.Throws<TemplateRaisedException>(() => ChatTemplate.ApplyChatTemplate(config, messages, agp, extra));
            Assert.Equal(error, ex.Message);
        }
        else
        {
            var rendered = ChatTemplate.ApplyChatTemplate(config, messages, agp, extra);
            Assert.Equal(expected.GetString(), rendered);
        }
    }

    /// <summary>The special tokens the config yields are those meta.json lists as the render context.</summary>
    [Theory]
    [MemberData(nameof(FolderRows))]
    public void ChatContext_SpecialTokensMatchMeta(string folder)
    {
        Assert.True(folder != FixtureRoot.NoFixtures, $"No fixture root found ({FixtureRoot.Source}).");
        var dir = FixtureRoot.FolderPath(Kind, folder);
        var config = TokenizerConfig.Load(Path.Combine(dir, "tokenizer_config.json"));
        bool hasCases = File.Exists(Path.Combine(dir, "chat_cases.json"));
        Assert.Equal(hasCases, config.ChatTemplate is not null);
        if (!hasCases)
        {
            return;
        }
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")));
        var expected = meta.RootElement.GetProperty("chat_template").GetProperty("render_context").GetProperty("special_tokens")
            .EnumerateObject().Select(p => $"{p.Name}={p.Value.GetString()}").ToList();
        var actual = config.SpecialTokens.Select(kv => $"{kv.Key}={kv.Value}").ToList();
        Assert.Equal(expected, actual);
    }

    public static TheoryData<string> FolderRows() => FixtureRoot.FolderNames(Kind);
}
