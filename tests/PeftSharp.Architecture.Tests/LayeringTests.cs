using System.Xml.Linq;

namespace PeftSharp.Architecture.Tests;

/// <summary>
/// Pins the one rule of the architecture: layers point one way
/// (Tensors → Nn → Models, Nn → Peft, {Models, Peft, Text} → Training / Serving → Cli).
/// A project may reference only the projects listed for it here.
/// </summary>
public class LayeringTests
{
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["PeftSharp.Tensors"] = [],
        ["PeftSharp.Text"] = [],
        ["PeftSharp.Nn"] = ["PeftSharp.Tensors"],
        ["PeftSharp.Models"] = ["PeftSharp.Tensors", "PeftSharp.Nn"],
        ["PeftSharp.Peft"] = ["PeftSharp.Tensors", "PeftSharp.Nn"],
        ["PeftSharp.Training"] = ["PeftSharp.Tensors", "PeftSharp.Nn", "PeftSharp.Models", "PeftSharp.Peft", "PeftSharp.Text"],
        ["PeftSharp.Serving"] = ["PeftSharp.Tensors", "PeftSharp.Nn", "PeftSharp.Models", "PeftSharp.Peft", "PeftSharp.Text"],
        ["PeftSharp.Cli"] = ["PeftSharp.Tensors", "PeftSharp.Nn", "PeftSharp.Models", "PeftSharp.Peft", "PeftSharp.Text", "PeftSharp.Training", "PeftSharp.Serving"],
    };

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PeftSharp.slnx")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("PeftSharp.slnx not found");
    }

    public static TheoryData<string> SourceProjects()
    {
        var data = new TheoryData<string>();
        foreach (var p in Directory.GetFiles(Path.Combine(RepoRoot(), "src"), "*.csproj", SearchOption.AllDirectories).OrderBy(p => p, StringComparer.Ordinal))
        {
            data.Add(Path.GetFileNameWithoutExtension(p));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(SourceProjects))]
    public void SourceProject_ReferencesOnlyLowerLayers(string project)
    {
        Assert.True(Allowed.ContainsKey(project), $"{project} is not in the layer map; add it to LayeringTests and DESIGN.md's layering rule.");
        var path = Path.Combine(RepoRoot(), "src", project, project + ".csproj");
        var refs = XDocument.Load(path).Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value.Replace('\\', '/')))
            .ToArray();
        var forbidden = refs.Except(Allowed[project]).ToArray();
        Assert.True(forbidden.Length == 0, $"{project} references {string.Join(", ", forbidden)}, which the layering rule forbids.");
    }

    [Fact]
    public void EveryProject_IsInTheSolution()
    {
        var root = RepoRoot();
        var slnx = File.ReadAllText(Path.Combine(root, "PeftSharp.slnx"));
        var projects = Directory.GetFiles(root, "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Select(p => Path.GetRelativePath(root, p).Replace('\\', '/'));
        foreach (var p in projects)
        {
            Assert.Contains(p, slnx);
        }
    }
}
