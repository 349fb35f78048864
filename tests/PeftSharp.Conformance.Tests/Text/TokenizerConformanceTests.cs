using System.Security.Cryptography;
using System.Text.Json;
using PeftSharp.Text.Tokenization;
using Xunit.Abstractions;

namespace PeftSharp.Conformance.Tests.Text;

/// <summary>
/// Every case of every tokenizer fixture folder must match the reference Rust <c>tokenizers</c> output exactly:
/// ids, ids without special tokens, token strings, and decoding with and without special tokens; plus the
/// ids of every rendered chat prompt.
/// </summary>
public sealed class TokenizerConformanceTests(ITestOutputHelper output)
{
    public static TheoryData<string> Folders() => FixtureRoot.FolderNames("tokenizers");

    /// <summary>Where a tokenizer.json left out of the fixtures may be found: $PEFTSHARP_TOKENIZER_CACHE/&lt;name&gt; or ~/.cache/peftsharp/&lt;name&gt;.</summary>
    private static IEnumerable<string> CacheCandidates(string name)
    {
        var env = Environment.GetEnvironmentVariable("PEFTSHARP_TOKENIZER_CACHE");
        if (!string.IsNullOrEmpty(env))
        {
            yield return Path.Combine(env, name, "tokenizer.json");
        }
        yield return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "peftsharp", name, "tokenizer.json");
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void Tokenizer_MatchesReferenceOnEveryCase(string folder)
    {
        Assert.False(folder == FixtureRoot.NoFixtures, $"No fixture root found ({FixtureRoot.Source}); tokenizer conformance cannot run.");
        var dir = FixtureRoot.FolderPath("tokenizers", folder);
        output.WriteLine($"fixtures: {FixtureRoot.Source}, folder {folder}");
        var casesPath = Path.Combine(dir, "cases.json");
        Assert.True(File.Exists(casesPath), $"{folder}: cases.json is missing, so the folder cannot be checked.");
        var metaPath = Path.Combine(dir, "meta.json");
        Assert.True(File.Exists(metaPath), $"{folder}: meta.json is missing.");
        using var meta = JsonDocument.Parse(File.ReadAllText(metaPath));
        var tokJson = meta.RootElement.GetProperty("source").GetProperty("tokenizer_json");
        string expectedSha = tokJson.GetProperty("sha256").GetString()!;
        bool included = !tokJson.TryGetProperty("included_in_shared", out var inc) || inc.GetBoolean();

        string? tokenizerPath = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(tokenizerPath))
        {
            Assert.False(included, $"{folder}: meta.json says tokenizer.json is included, but it is missing.");
            tokenizerPath = CacheCandidates(folder).FirstOrDefault(File.Exists);
            if (tokenizerPath is null)
            {
                output.WriteLine($"NOT RUN: {folder} encode cases — tokenizer.json is not in the fixtures and not in the cache " +
                    $"({string.Join(", ", CacheCandidates(folder))}). See the fixture README for where to get it.");
                return;
            }
        }
        string actualSha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(tokenizerPath)));
        Assert.True(actualSha == expectedSha, $"{folder}: {tokenizerPath} has sha256 {actualSha}, meta.json expects {expectedSha}.");

        var configPath = Path.Combine(dir, "tokenizer_config.json");
        var tokenizer = Tokenizer.FromJson(File.ReadAllText(tokenizerPath), File.Exists(configPath) ? File.ReadAllText(configPath) : null);

        var failures = new List<string>();
        int count = 0;
        foreach (var c in ReadLines(casesPath))
        {
            count++;
            string label = c.GetProperty("label").GetString()!;
            string text = c.GetProperty("text").GetString()!;
            var enc = tokenizer.Encode(text);
            var encNo = tokenizer.Encode(text, addSpecialTokens: false);
            var ids = Ints(c.GetProperty("ids"));
            Check(failures, label, "ids", ids, enc.Ids);
            Check(failures, label, "ids_no_special", Ints(c.GetProperty("ids_no_special")), encNo.Ids);
            Check(failures, label, "tokens", c.GetProperty("tokens").EnumerateArray().Select(x => x.GetString()!).ToArray(), enc.Tokens);
            Check(failures, label, "decoded", c.GetProperty("decoded").GetString()!, tokenizer.Decode(ids));
            Check(failures, label, "decoded_skip", c.GetProperty("decoded_skip").GetString()!, tokenizer.Decode(ids, skipSpecialTokens: true));
            Assert.Equal(enc.Ids.Count, enc.Offsets.Count);
        }
        Assert.True(count > 0, $"{folder}: cases.json holds no case.");

        int chatCount = 0;
        var chatPath = Path.Combine(dir, "chat_cases.json");
        if (File.Exists(chatPath))
        {
            foreach (var c in ReadLines(chatPath))
            {
                if (c.GetProperty("rendered").ValueKind != JsonValueKind.String || !c.TryGetProperty("ids", out var idsEl) || idsEl.ValueKind != JsonValueKind.Array)
                {
                    continue;
                }
                chatCount++;
                var rendered = c.GetProperty("rendered").GetString()!;
                Check(failures, "chat " + c.GetProperty("label").GetString() + (c.GetProperty("add_generation_prompt").GetBoolean() ? " +gen" : ""),
                    "ids", Ints(idsEl), tokenizer.Encode(rendered, addSpecialTokens: false).Ids);
            }
        }
        output.WriteLine($"{folder}: {count} cases, {chatCount} chat prompts, {failures.Count} mismatches");
        foreach (var f in failures.Take(15))
        {
            output.WriteLine(f);
        }
        Assert.True(failures.Count == 0, $"{folder}: {failures.Count} mismatches; first: {string.Join("\n", failures.Take(5))}");
    }

    private static IEnumerable<JsonElement> ReadLines(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            yield return e.Clone();
        }
    }

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static void Check<T>(List<string> failures, string label, string field, IReadOnlyList<T> expected, IReadOnlyList<T> actual)
    {
        if (!expected.SequenceEqual(actual))
        {
            int i = 0;
            while (i < Math.Min(expected.Count, actual.Count) && EqualityComparer<T>.Default.Equals(expected[i], actual[i]))
            {
                i++;
            }
            failures.Add($"[{label}] {field}: first difference at {i}: expected {Show(expected, i)} got {Show(actual, i)} (lengths {expected.Count}/{actual.Count})");
        }
    }

    private static void Check(List<string> failures, string label, string field, string expected, string actual)
    {
        if (expected != actual)
        {
            failures.Add($"[{label}] {field}: expected \"{Escape(expected)}\" got \"{Escape(actual)}\"");
        }
    }

    private static string Show<T>(IReadOnlyList<T> list, int i) =>
        "[" + string.Join(", ", list.Skip(Math.Max(0, i - 2)).Take(6).Select(x => Escape(x?.ToString() ?? "null"))) + "]";

    private static string Escape(string s)
    {
        var t = s.Length > 160 ? s[..160] + "…" : s;
        return string.Concat(t.Select(ch => ch < 32 || (ch >= 0x7F && ch < 0xA0) ? $"\\u{(int)ch:X4}" : ch.ToString()));
    }
}
