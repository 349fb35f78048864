using PeftSharp.Models;

namespace PeftSharp.Models.Tests;

/// <summary>
/// The tiny Hugging Face models of the PEFT fixtures (base weights only): the <c>PEFTSHARP_FIXTURES</c> folder, else
/// <c>../shared/fixtures</c> beside the repository, else the copy in <c>tests/fixtures</c>. A missing root is an error, not a skip.
/// </summary>
internal static class Fixtures
{
    private static readonly Lazy<string> Root = new(Resolve);
    private static readonly Dictionary<string, CausalLanguageModel> Cache = new();

    /// <summary>The fixture's base model (loaded once per test run; generation never changes weights).</summary>
    public static CausalLanguageModel Model(string name)
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue(name, out var model))
            {
                model = (CausalLanguageModel)AutoModel.FromPretrained(Path.Combine(Root.Value, "peft", name));
                Cache[name] = model;
            }
            return model;
        }
    }

    private static string Resolve()
    {
        var env = Environment.GetEnvironmentVariable("PEFTSHARP_FIXTURES");
        if (!string.IsNullOrWhiteSpace(env))
        {
            return Directory.Exists(env) ? env : throw new DirectoryNotFoundException($"PEFTSHARP_FIXTURES={env} does not exist.");
        }
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PeftSharp.slnx")))
        {
            dir = dir.Parent;
        }
        var shared = dir is null ? null : Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "fixtures"));
        if (shared is not null && Directory.Exists(Path.Combine(shared, "peft")))
        {
            return shared;
        }
        var carried = dir is null ? null : Path.Combine(dir.FullName, "tests", "fixtures");
        return carried is not null && Directory.Exists(Path.Combine(carried, "peft"))
            ? carried
            : throw new DirectoryNotFoundException("No fixture root: set PEFTSHARP_FIXTURES to the folder holding peft/ (e.g. /work/shared/fixtures).");
    }
}
