using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace PeftSharp.Peft.Core;

/// <summary>
/// Python <c>re</c> matching as Hugging Face PEFT uses it on module names: <c>fullmatch</c> (anchored at both
/// ends) and <c>match</c> (anchored at the start). Patterns come from configuration files, so each match runs
/// under a timeout: a hostile pattern fails with a clear error instead of hanging.
/// </summary>
internal static class PyRegex
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);
    private static readonly ConcurrentDictionary<(string, bool), Regex> Cache = new();

    public static bool FullMatch(string pattern, string input) => Get(pattern, full: true).IsMatch(input);

    /// <summary>Python's re.match: the match must start at position 0; returns the match or null.</summary>
    public static Match? MatchStart(string pattern, string input)
    {
        var m = Get(pattern, full: false).Match(input);
        return m.Success ? m : null;
    }

    private static Regex Get(string pattern, bool full)
    {
        return Cache.GetOrAdd((pattern, full), key =>
        {
            try
            {
                var text = key.Item2 ? @"\A(?:" + key.Item1 + @")\z" : @"\A(?:" + key.Item1 + ")";
                return new Regex(text, RegexOptions.CultureInvariant, Timeout);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"Invalid regular expression \"{key.Item1}\": {e.Message}", e);
            }
        });
    }
}
