using System.Globalization;
using System.Text.RegularExpressions;

namespace PeftSharp.Text.Tokenization;

/// <summary>
/// Finds the matches of a split pattern in a text and reports the whole text as alternating matches and
/// gaps (Hugging Face's <c>Pattern::find_matches</c>). Positions are UTF-16 indices; a surrogate pair is
/// always treated as one character, as Rust's <c>char</c> is.
/// </summary>
internal abstract class SplitPattern
{
    /// <summary>Next match at or after <paramref name="from"/>; false when there is none.</summary>
    protected abstract bool TryMatch(ReadOnlySpan<char> text, int from, out int start, out int end);

    public virtual void FindMatches(ReadOnlySpan<char> text, List<PatternSpan> spans)
    {
        if (text.IsEmpty)
        {
            spans.Add(new PatternSpan(0, 0, false));
            return;
        }
        int prev = 0, pos = 0;
        while (pos <= text.Length && TryMatch(text, pos, out int s, out int e))
        {
            if (prev != s)
            {
                spans.Add(new PatternSpan(prev, s, false));
            }
            spans.Add(new PatternSpan(s, e, true));
            prev = e;
            // An empty match must not stall the scan: step over one character.
            pos = e > s ? e : e + (e < text.Length && char.IsHighSurrogate(text[e]) && e + 1 < text.Length ? 2 : 1);
        }
        if (prev != text.Length)
        {
            spans.Add(new PatternSpan(prev, text.Length, false));
        }
    }
}

/// <summary>Every character for which the predicate holds is a match of its own (Rust's <c>Fn(char) -> bool</c> pattern).</summary>
internal sealed class CharPredicatePattern(Func<int, bool> predicate) : SplitPattern
{
    protected override bool TryMatch(ReadOnlySpan<char> text, int from, out int start, out int end)
    {
        for (int i = from; i < text.Length;)
        {
            int cp = TextUtil.CodePointAt(text, i, out int n);
            if (predicate(cp))
            {
                start = i;
                end = i + n;
                return true;
            }
            i += n;
        }
        start = end = 0;
        return false;
    }

    public static readonly CharPredicatePattern WhiteSpace = new(TextUtil.IsWhiteSpace);
    public static readonly CharPredicatePattern BertPunctuation = new(TextUtil.IsBertPunctuation);
    public static readonly CharPredicatePattern Numeric = new(TextUtil.IsNumber);
}

/// <summary>A literal string (Hugging Face <c>SplitPattern::String</c>).</summary>
internal sealed class LiteralPattern(string literal) : SplitPattern
{
    public string Literal { get; } = literal;

    public override void FindMatches(ReadOnlySpan<char> text, List<PatternSpan> spans)
    {
        if (Literal.Length == 0)
        {
            spans.Add(new PatternSpan(0, text.Length, false));
            return;
        }
        base.FindMatches(text, spans);
    }

    protected override bool TryMatch(ReadOnlySpan<char> text, int from, out int start, out int end)
    {
        int i = from >= text.Length ? -1 : text[from..].IndexOf(Literal.AsSpan(), StringComparison.Ordinal);
        if (i < 0)
        {
            start = end = 0;
            return false;
        }
        start = from + i;
        end = start + Literal.Length;
        return true;
    }
}

/// <summary>
/// A regular expression (Hugging Face <c>SplitPattern::Regex</c>, Oniguruma syntax) run with .NET's engine.
/// .NET matches UTF-16 chars, so when the text holds astral characters the regex runs on a stand-in text
/// with one BMP character of the same Unicode category per code point and the positions are mapped
/// back; character classes then see whole code points as Oniguruma does. (Literal astral characters in
/// a pattern are the one thing this cannot match.)
/// </summary>
internal sealed class RegexPattern : SplitPattern
{
    private readonly Regex _regex;
    [ThreadStatic] private static int[]? t_map;

    public RegexPattern(string pattern)
    {
        Pattern = pattern;
        try
        {
            _regex = new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled);
        }
        catch (ArgumentException e)
        {
            throw new TokenizerFormatException($"Regex pattern '{pattern}' is not supported: {e.Message}", e);
        }
    }

    public string Pattern { get; }

    public override void FindMatches(ReadOnlySpan<char> text, List<PatternSpan> spans)
    {
        if (text.IsEmpty)
        {
            spans.Add(new PatternSpan(0, 0, false));
            return;
        }
        bool astral = text.IndexOfAnyInRange('\uD800', '\uDFFF') >= 0;
        string input;
        int[]? map = null;
        if (astral)
        {
            (input, map) = StandIn(text);
        }
        else
        {
            input = text.ToString();
        }
        int prev = 0;
        foreach (var m in _regex.EnumerateMatches(input))
        {
            int s = m.Index, e = m.Index + m.Length;
            if (map is not null)
            {
                s = map[s];
                e = map[e];
            }
            if (e == s)
            {
                // Empty matches only mark a boundary; the gap before them is still emitted.
                if (s != prev)
                {
                    spans.Add(new PatternSpan(prev, s, false));
                    prev = s;
                }
                continue;
            }
            if (prev != s)
            {
                spans.Add(new PatternSpan(prev, s, false));
            }
            spans.Add(new PatternSpan(s, e, true));
            prev = e;
        }
        if (prev != text.Length)
        {
            spans.Add(new PatternSpan(prev, text.Length, false));
        }
    }

    protected override bool TryMatch(ReadOnlySpan<char> text, int from, out int start, out int end) =>
        throw new NotSupportedException();

    /// <summary>One BMP char per code point; map[k] = UTF-16 index of code point k (map[count] = length).</summary>
    private static (string, int[]) StandIn(ReadOnlySpan<char> text)
    {
        var chars = new char[text.Length];
        var map = t_map is { } m && m.Length > text.Length ? m : (t_map = new int[text.Length + 1]);
        int k = 0;
        for (int i = 0; i < text.Length;)
        {
            int cp = TextUtil.CodePointAt(text, i, out int n);
            map[k] = i;
            chars[k++] = cp < 0x10000 ? (char)cp : Representative(CharUnicodeInfo.GetUnicodeCategory(cp));
            i += n;
        }
        map[k] = text.Length;
        return (new string(chars, 0, k), map);
    }

    private static char Representative(UnicodeCategory c) => c switch
    {
        UnicodeCategory.UppercaseLetter => '\u0181',
        UnicodeCategory.LowercaseLetter => '\u0180',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\u01BB',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u2039',
        UnicodeCategory.FinalQuotePunctuation => '\u203A',
        UnicodeCategory.OtherPunctuation => '\u00B6',
        UnicodeCategory.MathSymbol => '\u00AC',
        UnicodeCategory.CurrencySymbol => '\u00A2',
        UnicodeCategory.ModifierSymbol => '\u02C2',
        UnicodeCategory.OtherSymbol => '\u00A6',
        UnicodeCategory.Format => '\u00AD',
        UnicodeCategory.PrivateUse => '\uE000',
        _ => '\u0378',
    };
}

/// <summary>
/// Hand-written scanners for the pre-tokenization regexes of GPT-2 and of Llama 3 / Qwen (the latter with
/// one or three digits per number). They produce exactly the matches of the regex under Oniguruma's
/// leftmost-first alternation, on code points, and avoid the regex engine on the hot path.
/// </summary>
internal sealed class WellKnownPattern : SplitPattern
{
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    public const string Llama3 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    public const string Qwen2 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private readonly bool _llamaStyle;
    private readonly int _maxDigits;

    private WellKnownPattern(bool llamaStyle, int maxDigits)
    {
        _llamaStyle = llamaStyle;
        _maxDigits = maxDigits;
    }

    public static readonly WellKnownPattern Gpt2Scanner = new(false, int.MaxValue);

    /// <summary>The scanner for a pattern string, or null when it is not one of the known ones.</summary>
    public static WellKnownPattern? For(string pattern) => pattern switch
    {
        Gpt2 => Gpt2Scanner,
        Llama3 => new WellKnownPattern(true, 3),
        Qwen2 => new WellKnownPattern(true, 1),
        _ => null,
    };

    // Character classes of the patterns, computed once per code point.
    private const int L = 1, N = 2, S = 4, Nl = 8; // letter, number, whitespace, \r or \n

    private static int Class(int cp)
    {
        if (cp < 128)
        {
            return AsciiClass[cp];
        }
        if (TextUtil.IsWhiteSpace(cp))
        {
            return S;
        }
        var c = CharUnicodeInfo.GetUnicodeCategory(cp);
        if (c <= UnicodeCategory.OtherLetter)
        {
            return L;
        }
        return c is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber ? N : 0;
    }

    private static readonly byte[] AsciiClass = BuildAscii();

    private static byte[] BuildAscii()
    {
        var a = new byte[128];
        for (int c = 0; c < 128; c++)
        {
            a[c] = (byte)(char.IsAsciiLetter((char)c) ? L : char.IsAsciiDigit((char)c) ? N : char.IsWhiteSpace((char)c) ? S : 0);
        }
        a['\r'] |= Nl;
        a['\n'] |= Nl;
        return a;
    }

    public override void FindMatches(ReadOnlySpan<char> text, List<PatternSpan> spans)
    {
        if (text.IsEmpty)
        {
            spans.Add(new PatternSpan(0, 0, false));
            return;
        }
        int pos = 0;
        while (pos < text.Length)
        {
            int end = _llamaStyle ? MatchLlama(text, pos) : MatchGpt2(text, pos);
            spans.Add(new PatternSpan(pos, end, true));
            pos = end;
        }
    }

    protected override bool TryMatch(ReadOnlySpan<char> text, int from, out int start, out int end) =>
        throw new NotSupportedException();

    private static int Cls(ReadOnlySpan<char> t, int i, out int n)
    {
        if (i >= t.Length)
        {
            n = 0;
            return -1;
        }
        return Class(TextUtil.CodePointAt(t, i, out n));
    }

    /// <summary>End of the run of chars whose class has any bit of <paramref name="mask"/> (or none of it when <paramref name="negate"/>).</summary>
    private static int Run(ReadOnlySpan<char> t, int i, int mask, bool negate, int max = int.MaxValue)
    {
        int count = 0;
        while (i < t.Length && count < max)
        {
            int c = Cls(t, i, out int n);
            if (((c & mask) != 0) == negate)
            {
                break;
            }
            i += n;
            count++;
        }
        return i;
    }

    private static int Contraction(ReadOnlySpan<char> t, int i, bool ignoreCase)
    {
        if (t[i] != '\'' || i + 1 >= t.Length)
        {
            return -1;
        }
        char a = Fold(t[i + 1], ignoreCase);
        if (a is 's' or 't' or 'm' or 'd')
        {
            return i + 2;
        }
        if (i + 2 < t.Length)
        {
            char b = Fold(t[i + 2], ignoreCase);
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            {
                return i + 3;
            }
        }
        return -1;
    }

    private static char Fold(char c, bool ignoreCase) =>
        !ignoreCase ? c : c == '\u017F' ? 's' : (uint)(c - 'A') <= 'Z' - 'A' ? (char)(c | 0x20) : c;

    // \s+(?!\S) then \s+ : whitespace run, leaving its last char for the next token when a non-space follows.
    private static int WhitespaceTail(ReadOnlySpan<char> t, int i)
    {
        int j = Run(t, i, S, false);
        if (j == t.Length)
        {
            return j;
        }
        int last = j - 1;
        if (last > i && char.IsLowSurrogate(t[last]))
        {
            last--; // no astral whitespace exists; kept for safety
        }
        return last > i ? last : j;
    }

    private static int MatchGpt2(ReadOnlySpan<char> t, int i)
    {
        int e = Contraction(t, i, false);
        if (e > 0)
        {
            return e;
        }
        int c0 = Cls(t, i, out int n0);
        int start = i;
        int c = c0;
        if (t[i] == ' ' && i + 1 < t.Length)
        {
            int c1 = Cls(t, i + 1, out _);
            if ((c1 & (L | N)) != 0 || (c1 & S) == 0)
            {
                start = i + 1;
                c = c1;
            }
        }
        if ((c & L) != 0)
        {
            return Run(t, start, L, false);
        }
        if ((c & N) != 0)
        {
            return Run(t, start, N, false);
        }
        if ((c & S) == 0)
        {
            return Run(t, start, L | N | S, true);
        }
        _ = n0;
        return WhitespaceTail(t, i);
    }

    private int MatchLlama(ReadOnlySpan<char> t, int i)
    {
        int e = Contraction(t, i, true);
        if (e > 0)
        {
            return e;
        }
        int c0 = Cls(t, i, out int n0);
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if ((c0 & L) != 0)
        {
            return Run(t, i, L, false);
        }
        if ((c0 & (Nl | N)) == 0 && i + n0 < t.Length && (Cls(t, i + n0, out _) & L) != 0)
        {
            return Run(t, i + n0, L, false);
        }
        // \p{N}{1,3}
        if ((c0 & N) != 0)
        {
            return Run(t, i, N, false, _maxDigits);
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        int p = i;
        if (t[i] == ' ' && i + 1 < t.Length && (Cls(t, i + 1, out _) & (S | L | N)) == 0)
        {
            p = i + 1;
        }
        if ((Cls(t, p, out _) & (S | L | N)) == 0)
        {
            int j = Run(t, p, S | L | N, true);
            return Run(t, j, Nl, false);
        }
        // \s*[\r\n]+ : up to the last \r or \n of the whitespace run.
        int wsEnd = Run(t, i, S, false);
        for (int k = wsEnd - 1; k >= i; k--)
        {
            if (t[k] is '\r' or '\n')
            {
                return k + 1;
            }
        }
        return WhitespaceTail(t, i);
    }

    public override string ToString() => _llamaStyle ? $"llama-style scanner ({_maxDigits} digits)" : "gpt2 scanner";
}
