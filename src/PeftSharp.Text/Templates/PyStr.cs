using System.Globalization;
using System.Text;

namespace PeftSharp.Text.Templates;

/// <summary>
/// Python <c>str</c> semantics over .NET strings. Python indexes by code point while .NET indexes by
/// UTF-16 unit, so every length, index and slice goes through code points when a surrogate pair is present.
/// </summary>
internal static class PyStr
{
    private static bool HasSurrogates(string s) => s.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0;

    /// <summary>UTF-16 offset of each code point, plus the string length at the end.</summary>
    private static int[] Offsets(string s)
    {
        var offsets = new List<int>(s.Length + 1);
        for (int i = 0; i < s.Length; i++)
        {
            offsets.Add(i);
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                i++;
            }
        }
        offsets.Add(s.Length);
        return [.. offsets];
    }

    public static long Length(string s) => HasSurrogates(s) ? Offsets(s).Length - 1 : s.Length;

    public static List<object?> Characters(string s)
    {
        if (!HasSurrogates(s))
        {
            var list = new List<object?>(s.Length);
            foreach (char c in s)
            {
                list.Add(c.ToString());
            }
            return list;
        }
        var o = Offsets(s);
        var r = new List<object?>(o.Length - 1);
        for (int i = 0; i + 1 < o.Length; i++)
        {
            r.Add(s[o[i]..o[i + 1]]);
        }
        return r;
    }

    /// <summary>The code point at Python index <paramref name="i"/> (negative counts from the end), or null when out of range.</summary>
    public static string? CharAt(string s, long i)
    {
        if (!HasSurrogates(s))
        {
            if (i < 0)
            {
                i += s.Length;
            }
            return i >= 0 && i < s.Length ? s[(int)i].ToString() : null;
        }
        var o = Offsets(s);
        int n = o.Length - 1;
        if (i < 0)
        {
            i += n;
        }
        return i >= 0 && i < n ? s[o[i]..o[i + 1]] : null;
    }

    public static string Slice(string s, long? start, long? stop, long? step)
    {
        var sb = new StringBuilder();
        if (!HasSurrogates(s))
        {
            foreach (int i in Py.SliceIndices(s.Length, start, stop, step))
            {
                sb.Append(s[i]);
            }
            return sb.ToString();
        }
        var o = Offsets(s);
        foreach (int i in Py.SliceIndices(o.Length - 1, start, stop, step))
        {
            sb.Append(s, o[i], o[i + 1] - o[i]);
        }
        return sb.ToString();
    }

    /// <summary>Code point index of a UTF-16 offset (for <c>find</c> results).</summary>
    public static long CodePointIndex(string s, int utf16Index)
    {
        if (utf16Index < 0 || !HasSurrogates(s))
        {
            return utf16Index;
        }
        int pairs = 0;
        for (int i = 0; i + 1 < utf16Index; i++)
        {
            if (char.IsHighSurrogate(s[i]) && char.IsLowSurrogate(s[i + 1]))
            {
                pairs++;
                i++;
            }
        }
        return utf16Index - pairs;
    }

    public static int CompareCodePoints(string a, string b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            if (a[i] != b[i])
            {
                // A surrogate (a code point above U+FFFF) sorts after every BMP character in code point order.
                bool sa = char.IsSurrogate(a[i]), sb = char.IsSurrogate(b[i]);
                if (sa != sb)
                {
                    return sa ? 1 : -1;
                }
                return a[i].CompareTo(b[i]);
            }
        }
        return a.Length.CompareTo(b.Length);
    }

    /// <summary>Python <c>str.isspace</c> for one UTF-16 unit (U+001C..U+001F count, as in Python).</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || (c >= '\x1c' && c <= '\x1f');

    public static string Strip(string s, string? chars, bool left, bool right)
    {
        int start = 0, end = s.Length;
        if (chars is null)
        {
            while (left && start < end && IsSpace(s[start]))
            {
                start++;
            }
            while (right && end > start && IsSpace(s[end - 1]))
            {
                end--;
            }
            return s[start..end];
        }
        if (!HasSurrogates(chars) && !HasSurrogates(s))
        {
            while (left && start < end && chars.Contains(s[start]))
            {
                start++;
            }
            while (right && end > start && chars.Contains(s[end - 1]))
            {
                end--;
            }
            return s[start..end];
        }
        var set = chars.EnumerateRunes().Select(r => r.Value).ToHashSet();
        var o = Offsets(s);
        int a = 0, b = o.Length - 1;
        while (left && a < b && set.Contains(char.ConvertToUtf32(s, o[a])))
        {
            a++;
        }
        while (right && b > a && set.Contains(CodePointAt(s, o[b - 1])))
        {
            b--;
        }
        return s[o[a]..o[b]];
    }

    private static int CodePointAt(string s, int i) =>
        char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? char.ConvertToUtf32(s[i], s[i + 1]) : s[i];

    /// <summary>Python <c>str.split(sep, maxsplit)</c>; a null separator splits on whitespace runs and drops empty ends.</summary>
    public static List<object?> Split(string s, string? sep, long maxSplit)
    {
        var result = new List<object?>();
        if (sep is null)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && IsSpace(s[i]))
                {
                    i++;
                }
                if (i >= s.Length)
                {
                    break;
                }
                if (maxSplit >= 0 && result.Count == maxSplit)
                {
                    result.Add(s[i..]);
                    break;
                }
                int j = i;
                while (j < s.Length && !IsSpace(s[j]))
                {
                    j++;
                }
                result.Add(s[i..j]);
                i = j;
            }
            return result;
        }
        if (sep.Length == 0)
        {
            throw new PyException("empty separator");
        }
        int pos = 0;
        while (maxSplit < 0 || result.Count < maxSplit)
        {
            int k = s.IndexOf(sep, pos, StringComparison.Ordinal);
            if (k < 0)
            {
                break;
            }
            result.Add(s[pos..k]);
            pos = k + sep.Length;
        }
        result.Add(s[pos..]);
        return result;
    }

    /// <summary>Python <c>str.rsplit(sep, maxsplit)</c>.</summary>
    public static List<object?> RSplit(string s, string? sep, long maxSplit)
    {
        if (maxSplit < 0)
        {
            return Split(s, sep, -1);
        }
        var result = new List<object?>();
        if (sep is null)
        {
            int i = s.Length;
            while (true)
            {
                while (i > 0 && IsSpace(s[i - 1]))
                {
                    i--;
                }
                if (i <= 0)
                {
                    break;
                }
                if (result.Count == maxSplit)
                {
                    result.Add(s[..i]);
                    break;
                }
                int j = i;
                while (j > 0 && !IsSpace(s[j - 1]))
                {
                    j--;
                }
                result.Add(s[j..i]);
                i = j;
            }
            result.Reverse();
            return result;
        }
        if (sep.Length == 0)
        {
            throw new PyException("empty separator");
        }
        int end = s.Length;
        while (result.Count < maxSplit)
        {
            int k = end - sep.Length < 0 ? -1 : s.LastIndexOf(sep, end - 1, end, StringComparison.Ordinal);
            if (k < 0)
            {
                break;
            }
            result.Add(s[(k + sep.Length)..end]);
            end = k;
        }
        result.Add(s[..end]);
        result.Reverse();
        return result;
    }

    private static bool IsLineBreak(char c) =>
        c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029';

    public static List<object?> SplitLines(string s, bool keepEnds)
    {
        var result = new List<object?>();
        int i = 0, start = 0;
        while (i < s.Length)
        {
            if (!IsLineBreak(s[i]))
            {
                i++;
                continue;
            }
            int eol = i;
            i += s[i] == '\r' && i + 1 < s.Length && s[i + 1] == '\n' ? 2 : 1;
            result.Add(keepEnds ? s[start..i] : s[start..eol]);
            start = i;
        }
        if (start < s.Length)
        {
            result.Add(s[start..]);
        }
        return result;
    }

    /// <summary>Python <c>str.replace(old, new, count)</c>, including the empty-<paramref name="old"/> case.</summary>
    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count == 0)
        {
            return s;
        }
        var sb = new StringBuilder();
        if (old.Length == 0)
        {
            var chars = Characters(s);
            long done = 0;
            foreach (var ch in chars)
            {
                if (count < 0 || done < count)
                {
                    sb.Append(replacement);
                    done++;
                }
                sb.Append((string)ch!);
            }
            if (count < 0 || done < count)
            {
                sb.Append(replacement);
            }
            return sb.ToString();
        }
        int pos = 0;
        long n = 0;
        while (count < 0 || n < count)
        {
            int k = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (k < 0)
            {
                break;
            }
            sb.Append(s, pos, k - pos).Append(replacement);
            pos = k + old.Length;
            n++;
        }
        sb.Append(s, pos, s.Length - pos);
        return sb.ToString();
    }

    public static string Upper(string s) => s.ToUpperInvariant();

    public static string Lower(string s) => s.ToLowerInvariant();

    private static bool IsCased(Rune r)
    {
        var cat = Rune.GetUnicodeCategory(r);
        return cat is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;
    }

    /// <summary>Python <c>str.capitalize</c>: first character upper-cased, the rest lower-cased.</summary>
    public static string Capitalize(string s)
    {
        if (s.Length == 0)
        {
            return s;
        }
        var first = Rune.GetRuneAt(s, 0);
        return Rune.ToUpperInvariant(first).ToString() + Lower(s[first.Utf16SequenceLength..]);
    }

    /// <summary>Python <c>str.title</c>: a cased character after an uncased one is upper-cased, others lower-cased.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (var r in s.EnumerateRunes())
        {
            bool cased = IsCased(r);
            sb.Append((cased ? (previousCased ? Rune.ToLowerInvariant(r) : Rune.ToUpperInvariant(r)) : r).ToString());
            previousCased = cased;
        }
        return sb.ToString();
    }
}
