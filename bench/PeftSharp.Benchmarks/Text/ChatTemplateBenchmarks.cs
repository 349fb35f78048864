using System.Text.Json;
using BenchmarkDotNet.Attributes;
using PeftSharp.Text.Templates;

namespace PeftSharp.Benchmarks.Text;

/// <summary>
/// Chat-template rendering of the Qwen3 template on its longest fixture conversation (tools, a tool call, a tool
/// response). Render (parse once, render many) is the baseline; ParseAndRender adds the one-off parse cost.
/// <c>dotnet run -c Release --project bench/PeftSharp.Benchmarks -- --filter '*ChatTemplate*'</c>
/// </summary>
[MemoryDiagnoser]
public class ChatTemplateBenchmarks
{
    private TokenizerConfig _config = null!;
    private ChatTemplate _template = null!;
    private List<KeyValuePair<string, object?>> _context = null!;
    private string _source = null!;

    [GlobalSetup]
    public void Setup()
    {
        var dir = Path.Combine(FindFixtures(), "tokenizers", "qwen3");
        _config = TokenizerConfig.Load(Path.Combine(dir, "tokenizer_config.json"));
        _source = _config.ChatTemplate!;
        _template = ChatTemplate.Parse(_source);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "chat_cases.json")));
        var c = doc.RootElement.EnumerateArray().First(e => e.GetProperty("label").GetString() == "tool_call"
            && e.GetProperty("add_generation_prompt").GetBoolean()).Clone();
        var extra = c.GetProperty("context").EnumerateObject().Select(p => new KeyValuePair<string, object?>(p.Name, p.Value)).ToList();
        _context = ChatTemplate.BuildContext(_config, c.GetProperty("messages"), true, extra);
        var expected = c.GetProperty("rendered").GetString();
        if (Render() != expected || ParseAndRender() != expected)
        {
            throw new InvalidOperationException("Chat template output differs from the qwen3 fixture; refusing to time it.");
        }
    }

    [Benchmark(Baseline = true)]
    public string Render() => _template.Render(_context);

    [Benchmark]
    public string ParseAndRender() => ChatTemplate.Parse(_source).Render(_context);

    private static string FindFixtures()
    {
        var env = Environment.GetEnvironmentVariable("PEFTSHARP_FIXTURES");
        if (!string.IsNullOrEmpty(env))
        {
            return env;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { Path.Combine(dir.FullName, "shared", "fixtures"), Path.Combine(dir.FullName, "tests", "fixtures") })
            {
                if (Directory.Exists(Path.Combine(candidate, "tokenizers", "qwen3")))
                {
                    return candidate;
                }
            }
        }
        throw new DirectoryNotFoundException("Fixtures not found; set PEFTSHARP_FIXTURES.");
    }
}
