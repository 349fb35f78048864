using PeftSharp.Text.Templates;

namespace PeftSharp.Text.Tests.Templates;

/// <summary>Shorthand for rendering a template string with a few variables.</summary>
internal static class Jinja
{
    public static string Render(string template, params (string Name, object? Value)[] vars) =>
        ChatTemplate.Parse(template).Render(vars.Select(v => new KeyValuePair<string, object?>(v.Name, v.Value)));

    public static Dictionary<string, object?> Dict(params (string Key, object? Value)[] pairs) =>
        pairs.ToDictionary(p => p.Key, p => p.Value);
}
