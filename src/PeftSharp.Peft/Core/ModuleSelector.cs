using System.Text.Json.Nodes;

namespace PeftSharp.Peft.Core;

/// <summary>
/// A Hugging Face module selector as used by target_modules, exclude_modules and feedforward_modules: either a
/// list of names (a module matches when its dotted path equals an entry or ends with "." + entry) or one regular
/// expression that must match the whole path. The shorthand "all-linear" is kept as a string and resolved by the
/// target selector.
/// </summary>
public sealed record ModuleSelector
{
    /// <summary>The shorthand for every linear layer except the output head.</summary>
    public const string AllLinear = "all-linear";

    private ModuleSelector(IReadOnlyList<string>? names, string? pattern)
    {
        Names = names;
        Pattern = pattern;
    }

    /// <summary>The names of a list selector (null for a regex selector).</summary>
    public IReadOnlyList<string>? Names { get; }

    /// <summary>The regular expression of a regex selector (null for a list selector).</summary>
    public string? Pattern { get; }

    /// <summary>True for the "all-linear" shorthand.</summary>
    public bool IsAllLinear => Pattern is not null && string.Equals(Pattern, AllLinear, StringComparison.OrdinalIgnoreCase);

    /// <summary>A list selector.</summary>
    public static ModuleSelector List(params string[] names) => new(names.ToArray(), null);

    /// <summary>A regex selector (full match), or "all-linear".</summary>
    public static ModuleSelector Regex(string pattern) => new(null, pattern);

    /// <summary>True when the dotted module path is selected (list: equal or "." suffix; regex: full match).</summary>
    public bool Matches(string path)
    {
        if (Pattern is not null)
        {
            return PyRegex.FullMatch(Pattern, path);
        }
        foreach (var n in Names!)
        {
            if (path == n || path.EndsWith("." + n, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>True when <paramref name="path"/> equals a list entry exactly (Hugging Face skips the layer filter then).</summary>
    public bool MatchesExactly(string path) => Names is not null && Names.Contains(path, StringComparer.Ordinal);

    internal JsonNode ToJson() => Pattern is not null ? JsonValue.Create(Pattern) : new JsonArray(Names!.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray());

    public bool Equals(ModuleSelector? other) =>
        other is not null && Pattern == other.Pattern &&
        (Names is null ? other.Names is null : other.Names is not null && Names.SequenceEqual(other.Names));

    public override int GetHashCode() => HashCode.Combine(Pattern, Names?.Count);

    public override string ToString() => Pattern is not null ? $"\"{Pattern}\"" : "[" + string.Join(", ", Names!) + "]";
}
