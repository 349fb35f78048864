namespace PeftSharp.Conformance.Tests;

/// <summary>
/// Locates the conformance fixtures: a folder holding <c>peft/</c> and <c>tokenizers/</c>.
/// Order: the <c>PEFTSHARP_FIXTURES</c> environment variable; then <c>../shared/fixtures</c> beside the
/// repository (the complete set); then the copy the repository carries in <c>tests/fixtures</c>.
/// </summary>
public static class FixtureRoot
{
    public const string EnvironmentVariable = "PEFTSHARP_FIXTURES";

    private static readonly Lazy<(string? Path, string Source)> Resolved = new(Resolve);

    /// <summary>The fixture root, or null when none exists.</summary>
    public static string? Path => Resolved.Value.Path;

    /// <summary>Where the root came from, for test output.</summary>
    public static string Source => Resolved.Value.Source;

    /// <summary>The repository root (the folder holding PeftSharp.slnx).</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>Sub-folders of <c>&lt;root&gt;/&lt;kind&gt;</c> (kind = "peft" or "tokenizers"), sorted; empty when absent.</summary>
    public static IReadOnlyList<string> Folders(string kind)
    {
        if (Path is null)
        {
            return [];
        }
        var dir = System.IO.Path.Combine(Path, kind);
        return Directory.Exists(dir)
            ? Directory.GetDirectories(dir).OrderBy(d => d, StringComparer.Ordinal).ToArray()
            : [];
    }

    /// <summary>xunit theory data: one row per fixture folder name, or a single "(none)" row so the absence is reported, not hidden.</summary>
    public static TheoryData<string> FolderNames(string kind)
    {
        var data = new TheoryData<string>();
        var folders = Folders(kind);
        if (folders.Count == 0)
        {
            data.Add(NoFixtures);
        }
        foreach (var f in folders)
        {
            data.Add(System.IO.Path.GetFileName(f));
        }
        return data;
    }

    /// <summary>The row name used when no fixture folder exists.</summary>
    public const string NoFixtures = "(no fixture root)";

    /// <summary>Full path of a fixture folder by kind and name.</summary>
    public static string FolderPath(string kind, string name) =>
        System.IO.Path.Combine(Path ?? throw new InvalidOperationException("No fixture root."), kind, name);

    private static (string?, string) Resolve()
    {
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env))
        {
            if (!Directory.Exists(env))
            {
                throw new DirectoryNotFoundException($"{EnvironmentVariable}={env} does not exist.");
            }
            return (System.IO.Path.GetFullPath(env), $"{EnvironmentVariable}={env}");
        }
        var shared = System.IO.Path.GetFullPath(System.IO.Path.Combine(RepositoryRoot, "..", "shared", "fixtures"));
        if (Directory.Exists(shared))
        {
            return (shared, "../shared/fixtures");
        }
        var carried = System.IO.Path.Combine(RepositoryRoot, "tests", "fixtures");
        if (Directory.Exists(carried))
        {
            return (carried, "tests/fixtures (the repository's copy)");
        }
        return (null, "none found");
    }

    private static string FindRepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "PeftSharp.slnx")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("PeftSharp.slnx not found above " + AppContext.BaseDirectory);
    }
}
