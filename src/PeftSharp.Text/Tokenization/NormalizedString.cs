using System.Runtime.CompilerServices;
using System.Text;

namespace PeftSharp.Text.Tokenization;

/// <summary>
/// A text buffer in which every UTF-16 char remembers the range of the original input it came from,
/// so offsets survive normalization and pre-tokenization. Rewrites go through a second buffer that is
/// swapped in at the end, so a steady-state encode allocates nothing here.
/// </summary>
internal sealed class NormalizedString
{
    private char[] _chars = new char[256];
    private int[] _starts = new int[256];
    private int[] _ends = new int[256];
    private char[] _chars2 = new char[256];
    private int[] _starts2 = new int[256];
    private int[] _ends2 = new int[256];
    private int _length2;

    public int Length { get; private set; }
    public ReadOnlySpan<char> Span => _chars.AsSpan(0, Length);
    public char this[int i] => _chars[i];
    /// <summary>Start in the original text of the char at <paramref name="i"/>.</summary>
    public int StartOf(int i) => _starts[i];
    /// <summary>End in the original text of the char at <paramref name="i"/>.</summary>
    public int EndOf(int i) => _ends[i];

    /// <summary>Original range covered by normalized chars [start, end); an empty range maps to the position before it.</summary>
    public (int Start, int End) OriginalRange(int start, int end)
    {
        if (end > start)
        {
            return (_starts[start], _ends[end - 1]);
        }
        if (start < Length)
        {
            return (_starts[start], _starts[start]);
        }
        return start > 0 ? (_ends[start - 1], _ends[start - 1]) : (0, 0);
    }

    /// <summary>Loads <paramref name="text"/> with identity alignment; <paramref name="offset"/> is its position in the original input.</summary>
    public void Reset(ReadOnlySpan<char> text, int offset)
    {
        EnsureCapacity(ref _chars, ref _starts, ref _ends, text.Length);
        text.CopyTo(_chars);
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                // A surrogate pair is one code point: both halves map to the whole pair.
                _starts[i] = _starts[i + 1] = offset + i;
                _ends[i] = _ends[i + 1] = offset + i + 2;
                i++;
                continue;
            }
            _starts[i] = offset + i;
            _ends[i] = offset + i + 1;
        }
        Length = text.Length;
    }

    /// <summary>Starts writing a replacement text; read the current one while writing.</summary>
    public void BeginRewrite() => _length2 = 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Emit(char c, int start, int end)
    {
        if (_length2 == _chars2.Length)
        {
            Grow2(_length2 + 1);
        }
        _chars2[_length2] = c;
        _starts2[_length2] = start;
        _ends2[_length2] = end;
        _length2++;
    }

    /// <summary>Copies chars [from, to) of the current text, with their alignment, into the replacement.</summary>
    public void EmitRange(int from, int to)
    {
        int n = to - from;
        if (_length2 + n > _chars2.Length)
        {
            Grow2(_length2 + n);
        }
        Array.Copy(_chars, from, _chars2, _length2, n);
        Array.Copy(_starts, from, _starts2, _length2, n);
        Array.Copy(_ends, from, _ends2, _length2, n);
        _length2 += n;
    }

    /// <summary>Emits a code point (one or two chars) aligned to [start, end).</summary>
    public void EmitCodePoint(int cp, int start, int end)
    {
        if (cp < 0x10000)
        {
            Emit((char)cp, start, end);
        }
        else
        {
            var r = new Rune(cp);
            Span<char> two = stackalloc char[2];
            r.EncodeToUtf16(two);
            Emit(two[0], start, end);
            Emit(two[1], start, end);
        }
    }

    /// <summary>Number of chars written since <see cref="BeginRewrite"/>.</summary>
    public int RewriteLength => _length2;

    /// <summary>Replaces the current text with what was written.</summary>
    public void EndRewrite()
    {
        (_chars, _chars2) = (_chars2, _chars);
        (_starts, _starts2) = (_starts2, _starts);
        (_ends, _ends2) = (_ends2, _ends);
        Length = _length2;
    }

    /// <summary>Code point at <paramref name="i"/> and its UTF-16 length (a lone surrogate counts as itself).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int CodePointAt(int i, out int length) => TextUtil.CodePointAt(Span, i, out length);

    public override string ToString() => new(Span);

    private void Grow2(int needed) => EnsureCapacity(ref _chars2, ref _starts2, ref _ends2, needed, keep: _length2);

    private static void EnsureCapacity(ref char[] c, ref int[] s, ref int[] e, int needed, int keep = 0)
    {
        if (c.Length >= needed)
        {
            return;
        }
        int size = Math.Max(needed, c.Length * 2);
        Array.Resize(ref c, size);
        Array.Resize(ref s, size);
        Array.Resize(ref e, size);
        _ = keep;
    }
}

/// <summary>Small helpers shared by the tokenizer components.</summary>
internal static class TextUtil
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CodePointAt(ReadOnlySpan<char> s, int i, out int length)
    {
        char c = s[i];
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            length = 2;
            return char.ConvertToUtf32(c, s[i + 1]);
        }
        length = 1;
        return c;
    }

    /// <summary>Rust's char::is_whitespace (the Unicode White_Space property).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsWhiteSpace(int cp) => cp < 0x10000 && char.IsWhiteSpace((char)cp);

    public static System.Globalization.UnicodeCategory Category(int cp) =>
        System.Globalization.CharUnicodeInfo.GetUnicodeCategory(cp);

    public static bool IsLetter(int cp)
    {
        if (cp < 128)
        {
            return (uint)((cp | 0x20) - 'a') <= 'z' - 'a';
        }
        var c = Category(cp);
        return c <= System.Globalization.UnicodeCategory.OtherLetter;
    }

    public static bool IsNumber(int cp)
    {
        if (cp < 128)
        {
            return (uint)(cp - '0') <= 9;
        }
        var c = Category(cp);
        return c is System.Globalization.UnicodeCategory.DecimalDigitNumber or System.Globalization.UnicodeCategory.LetterNumber or System.Globalization.UnicodeCategory.OtherNumber;
    }

    /// <summary>Unicode punctuation categories (Pc, Pd, Ps, Pe, Pi, Pf, Po).</summary>
    public static bool IsPunctuation(int cp)
    {
        var c = Category(cp);
        return c is >= System.Globalization.UnicodeCategory.ConnectorPunctuation and <= System.Globalization.UnicodeCategory.OtherPunctuation;
    }

    /// <summary>The BERT notion of punctuation: ASCII punctuation or any Unicode punctuation.</summary>
    public static bool IsBertPunctuation(int cp) =>
        (cp < 128 && (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126)) || IsPunctuation(cp);
}

/// <summary>
/// Hash for packed pair keys. long.GetHashCode folds the halves with XOR, so (a, a) pairs all land in one bucket
/// and BPE merge lookups degrade to long chains; a Fibonacci multiply spreads every bit.
/// </summary>
internal sealed class PairKeyComparer : IEqualityComparer<long>
{
    public static readonly PairKeyComparer Instance = new();

    public bool Equals(long x, long y) => x == y;

    public int GetHashCode(long key) => (int)((ulong)(key * unchecked((long)0x9E3779B97F4A7C15UL)) >> 32);
}
