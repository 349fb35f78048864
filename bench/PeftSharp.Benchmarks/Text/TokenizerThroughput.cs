using System.Diagnostics;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using PeftSharp.Text.Tokenization;

namespace PeftSharp.Benchmarks.Text;

/// <summary>
/// Encode throughput (MB of UTF-8 input per second, one thread). Console path used by
/// bench/compare/tokenizers/compare.js: <c>dotnet PeftSharp.Benchmarks.dll tokenizers &lt;text file&gt; &lt;seconds&gt; name=tokenizer.json...</c>;
/// prints one JSON line per tokenizer with MB/s, the token count and a checksum of the ids, so the caller
/// can check both libraries produced the same ids before comparing speed.
/// </summary>
public static class TokenizerThroughput
{
    public static int Run(string[] args)
    {
        if (args.Length < 3)
        {
            Console.Error.WriteLine("usage: tokenizers <text file> <seconds per tokenizer> name=path/to/tokenizer.json ...");
            return 2;
        }
        string text = File.ReadAllText(args[0]);
        double seconds = double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
        double megabytes = System.Text.Encoding.UTF8.GetByteCount(text) / 1e6;
        foreach (var spec in args.Skip(2))
        {
            int eq = spec.IndexOf('=');
            string name = spec[..eq], path = spec[(eq + 1)..];
            var tokenizer = Tokenizer.FromFile(path);
            var first = tokenizer.Encode(text, addSpecialTokens: false); // warm-up: JIT and word cache, as the reference's cache is warm too
            var sw = Stopwatch.StartNew();
            int reps = 0;
            while (sw.Elapsed.TotalSeconds < seconds || reps < 2)
            {
                tokenizer.Encode(text, addSpecialTokens: false);
                reps++;
            }
            double elapsed = sw.Elapsed.TotalSeconds;
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                name,
                mbps = megabytes * reps / elapsed,
                tokens = first.Length,
                checksum = Checksum(first.Ids),
                reps,
            }));
        }
        return 0;
    }

    /// <summary>Order-sensitive checksum of the ids (same formula in compare.js).</summary>
    public static long Checksum(IReadOnlyList<int> ids)
    {
        long h = 0;
        foreach (int id in ids)
        {
            h = (h * 31 + id) % 1_000_000_007L;
        }
        return h;
    }
}

/// <summary>
/// BenchmarkDotNet view of the same measurement on each fixture tokenizer (needs PEFTSHARP_FIXTURES or ../shared/fixtures):
/// <c>dotnet run -c Release --project bench/PeftSharp.Benchmarks -- --filter '*TokenizerEncode*'</c>. The Rust comparison
/// lives in bench/compare/tokenizers because the reference runs in another process.
/// </summary>
[MemoryDiagnoser]
public class TokenizerEncodeBenchmark
{
    private Tokenizer _tokenizer = null!;
    private string _text = "";

    [Params("mistral", "llama3", "qwen3", "synthetic-wordpiece", "synthetic-unigram", "synthetic-gpt2")]
    public string Name { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var root = Environment.GetEnvironmentVariable("PEFTSHARP_FIXTURES") ?? FindShared();
        var dir = Path.Combine(root, "tokenizers", Name);
        _tokenizer = Tokenizer.FromDirectory(dir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "cases.json")));
        var cases = doc.RootElement.EnumerateArray().ToList();
        _text = string.Join("\n", cases.Select(c => c.GetProperty("text").GetString()));
        // Correctness before timing: the first case must give the fixture's ids.
        var expected = cases[0].GetProperty("ids_no_special").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var actual = _tokenizer.Encode(cases[0].GetProperty("text").GetString()!, addSpecialTokens: false).Ids;
        if (!expected.SequenceEqual(actual))
        {
            throw new InvalidOperationException($"{Name}: encode does not match the fixture; not timing it.");
        }
    }

    private static string FindShared()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PeftSharp.slnx")))
        {
            dir = dir.Parent;
        }
        return Path.Combine(dir?.FullName ?? ".", "..", "shared", "fixtures");
    }

    [Benchmark]
    public int Encode() => _tokenizer.Encode(_text, addSpecialTokens: false).Length;
}
