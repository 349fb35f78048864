namespace PeftSharp.Training.Tests;

/// <summary>
/// Finds the PEFT fixtures: the <c>PEFTSHARP_FIXTURES</c> environment variable, else <c>&lt;repo&gt;/../shared/fixtures</c>
/// where the repository root is the folder holding PeftSharp.slnx. Null when neither exists.
/// </summary>
internal static class FixturePaths
{
    public const string EnvironmentVariable = "PEFTSHARP_FIXTURES";

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string? Root { get; } = Resolve();

    public static string Describe() => Root ?? $"no fixture root ({EnvironmentVariable} unset and {Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "fixtures"))} absent)";

    private static string? Resolve()
    {
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env))
        {
            return Directory.Exists(env) ? Path.GetFullPath(env) : null;
        }
        var shared = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "fixtures"));
        return Directory.Exists(shared) ? shared : null;
    }

    private static string FindRepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PeftSharp.slnx")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("PeftSharp.slnx not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A fresh temporary directory removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "peftsharp-training-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
