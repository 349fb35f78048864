using System.Text;
using PeftSharp.Text.Tokenization.Unicode;

namespace PeftSharp.Text.Tokenization;

/// <summary>
/// A tokenizer.json normalizer. Each one rewrites a <see cref="NormalizedString"/> in place, keeping for
/// every output char the range of the original text it came from.
/// </summary>
internal abstract class Normalizer
{
    public abstract void Normalize(NormalizedString s);

    /// <summary>NFC, NFD, NFKC or NFKD, with the tables in <see cref="UnicodeData"/>.</summary>
    internal sealed class UnicodeForm(NormalForm form) : Normalizer
    {
        public NormalForm Form { get; } = form;
        [ThreadStatic] private static List<(int Cp, int Start, int End)>? t_buffer;
        [ThreadStatic] private static List<int>? t_decomposed;

        public override void Normalize(NormalizedString s)
        {
            // Chars below this bound never change under the form (and never combine with a neighbour).
            int bound = Form switch { NormalForm.Nfc => 0x300, NormalForm.Nfd => 0xC0, _ => 0xA0 };
            var span = s.Span;
            int first = -1;
            for (int i = 0; i < span.Length; i++)
            {
                if (span[i] >= bound && UnicodeData.IsUnsafe(Form, TextUtil.CodePointAt(span, i, out _)))
                {
                    first = i;
                    break;
                }
            }
            if (first < 0)
            {
                return;
            }
            s.BeginRewrite();
            int pos = 0;
            while (pos < span.Length)
            {
                int j = NextUnsafe(span, pos, bound);
                if (j < 0)
                {
                    s.EmitRange(pos, span.Length);
                    break;
                }
                // The safe character just before j may compose with what follows: it opens the segment.
                int segStart = j > pos ? PreviousCodePoint(span, j) : j;
                s.EmitRange(pos, segStart);
                int segEnd = j;
                while (segEnd < span.Length)
                {
                    int cp = TextUtil.CodePointAt(span, segEnd, out int n);
                    if (span[segEnd] < bound || !UnicodeData.IsUnsafe(Form, cp))
                    {
                        break;
                    }
                    segEnd += n;
                }
                NormalizeSegment(s, segStart, segEnd);
                pos = segEnd;
            }
            s.EndRewrite();
        }

        private int NextUnsafe(ReadOnlySpan<char> span, int from, int bound)
        {
            for (int i = from; i < span.Length;)
            {
                int cp = TextUtil.CodePointAt(span, i, out int n);
                if (cp >= bound && UnicodeData.IsUnsafe(Form, cp))
                {
                    return i;
                }
                i += n;
            }
            return -1;
        }

        private static int PreviousCodePoint(ReadOnlySpan<char> span, int j) =>
            j >= 2 && char.IsLowSurrogate(span[j - 1]) && char.IsHighSurrogate(span[j - 2]) ? j - 2 : j - 1;

        private void NormalizeSegment(NormalizedString s, int start, int end)
        {
            var buf = t_buffer ??= new();
            var dec = t_decomposed ??= new();
            buf.Clear();
            bool compat = Form is NormalForm.Nfkc or NormalForm.Nfkd;
            var span = s.Span;
            for (int i = start; i < end;)
            {
                int cp = TextUtil.CodePointAt(span, i, out int n);
                dec.Clear();
                UnicodeData.Decompose(cp, compat, dec);
                foreach (var d in dec)
                {
                    buf.Add((d, s.StartOf(i), s.EndOf(i + n - 1)));
                }
                i += n;
            }
            // Canonical ordering: stable sort of each run of non-starters by combining class.
            for (int i = 1; i < buf.Count; i++)
            {
                int cc = UnicodeData.CombiningClass(buf[i].Cp);
                if (cc == 0)
                {
                    continue;
                }
                for (int k = i; k > 0; k--)
                {
                    int pc = UnicodeData.CombiningClass(buf[k - 1].Cp);
                    if (pc <= cc || pc == 0)
                    {
                        break;
                    }
                    (buf[k - 1], buf[k]) = (buf[k], buf[k - 1]);
                }
            }
            if (Form is NormalForm.Nfc or NormalForm.Nfkc)
            {
                Compose(buf);
            }
            foreach (var (cp, st, en) in buf)
            {
                s.EmitCodePoint(cp, st, en);
            }
        }

        private static void Compose(List<(int Cp, int Start, int End)> buf)
        {
            int starter = -1, lastClass = 0, w = 0;
            for (int r = 0; r < buf.Count; r++)
            {
                var item = buf[r];
                int cc = UnicodeData.CombiningClass(item.Cp);
                if (starter >= 0 && (lastClass == 0 || lastClass < cc) && (w - 1 == starter || lastClass < cc))
                {
                    int composite = UnicodeData.ComposePair(buf[starter].Cp, item.Cp);
                    if (composite >= 0)
                    {
                        var st = buf[starter];
                        buf[starter] = (composite, Math.Min(st.Start, item.Start), Math.Max(st.End, item.End));
                        continue;
                    }
                }
                if (cc == 0)
                {
                    starter = w;
                }
                lastClass = cc;
                buf[w++] = item;
            }
            buf.RemoveRange(w, buf.Count - w);
        }
    }

    /// <summary>Full Unicode lowercase per character, as Rust's <c>char::to_lowercase</c>.</summary>
    internal sealed class Lowercase : Normalizer
    {
        public override void Normalize(NormalizedString s) => Apply(s);

        public static void Apply(NormalizedString s)
        {
            var span = s.Span;
            s.BeginRewrite();
            for (int i = 0; i < span.Length;)
            {
                char c = span[i];
                if (c < 128)
                {
                    s.Emit((uint)(c - 'A') <= 'Z' - 'A' ? (char)(c | 0x20) : c, s.StartOf(i), s.EndOf(i));
                    i++;
                    continue;
                }
                int cp = TextUtil.CodePointAt(span, i, out int n);
                var mapped = UnicodeData.LowercaseMapping(cp);
                if (mapped is null)
                {
                    s.EmitRange(i, i + n);
                }
                else
                {
                    foreach (var m in mapped)
                    {
                        s.EmitCodePoint(m, s.StartOf(i), s.EndOf(i + n - 1));
                    }
                }
                i += n;
            }
            s.EndRewrite();
        }
    }

    /// <summary>Removes leading and/or trailing whitespace.</summary>
    internal sealed class Strip(bool left, bool right) : Normalizer
    {
        public override void Normalize(NormalizedString s)
        {
            var span = s.Span;
            int a = 0, b = span.Length;
            while (left && a < b && char.IsWhiteSpace(span[a]))
            {
                a++;
            }
            while (right && b > a && char.IsWhiteSpace(span[b - 1]))
            {
                b--;
            }
            if (a == 0 && b == span.Length)
            {
                return;
            }
            s.BeginRewrite();
            s.EmitRange(a, b);
            s.EndRewrite();
        }
    }

    /// <summary>Puts a string in front of a non-empty text.</summary>
    internal sealed class Prepend(string prefix) : Normalizer
    {
        public override void Normalize(NormalizedString s)
        {
            if (s.Length == 0)
            {
                return;
            }
            s.BeginRewrite();
            foreach (char c in prefix)
            {
                s.Emit(c, s.StartOf(0), s.EndOf(0));
            }
            s.EmitRange(0, s.Length);
            s.EndRewrite();
        }
    }

    /// <summary>Replaces every match of a literal or regex pattern with a fixed string.</summary>
    internal sealed class Replace(SplitPattern pattern, string content) : Normalizer
    {
        [ThreadStatic] private static List<PatternSpan>? t_spans;

        public override void Normalize(NormalizedString s) => Apply(s, pattern, content);

        public static void Apply(NormalizedString s, SplitPattern pattern, string content)
        {
            var spans = t_spans ??= new();
            spans.Clear();
            pattern.FindMatches(s.Span, spans);
            bool any = false;
            foreach (var sp in spans)
            {
                any |= sp.IsMatch;
            }
            if (!any)
            {
                return;
            }
            s.BeginRewrite();
            foreach (var sp in spans)
            {
                if (!sp.IsMatch)
                {
                    s.EmitRange(sp.Start, sp.End);
                    continue;
                }
                var (os, oe) = s.OriginalRange(sp.Start, sp.End);
                foreach (char c in content)
                {
                    s.Emit(c, os, oe);
                }
            }
            s.EndRewrite();
        }
    }

    /// <summary>BERT's normalizer: control-character cleanup, spaces around CJK ideographs, accent stripping, lowercasing.</summary>
    internal sealed class Bert(bool cleanText, bool handleChineseChars, bool stripAccents, bool lowercase) : Normalizer
    {
        private static readonly UnicodeForm Nfd = new(NormalForm.Nfd);

        public override void Normalize(NormalizedString s)
        {
            if (cleanText || handleChineseChars)
            {
                var span = s.Span;
                s.BeginRewrite();
                for (int i = 0; i < span.Length;)
                {
                    int cp = TextUtil.CodePointAt(span, i, out int n);
                    int st = s.StartOf(i), en = s.EndOf(i + n - 1);
                    if (cleanText)
                    {
                        if (cp == 0 || cp == 0xFFFD || IsControl(cp))
                        {
                            i += n;
                            continue;
                        }
                        if (cp is '\t' or '\n' or '\r' || TextUtil.IsWhiteSpace(cp))
                        {
                            s.Emit(' ', st, en);
                            i += n;
                            continue;
                        }
                    }
                    if (handleChineseChars && IsChineseChar(cp))
                    {
                        s.Emit(' ', st, en);
                        s.EmitRange(i, i + n);
                        s.Emit(' ', st, en);
                    }
                    else
                    {
                        s.EmitRange(i, i + n);
                    }
                    i += n;
                }
                s.EndRewrite();
            }
            if (stripAccents)
            {
                Nfd.Normalize(s);
                var span = s.Span;
                s.BeginRewrite();
                for (int i = 0; i < span.Length;)
                {
                    int cp = TextUtil.CodePointAt(span, i, out int n);
                    if (TextUtil.Category(cp) != System.Globalization.UnicodeCategory.NonSpacingMark)
                    {
                        s.EmitRange(i, i + n);
                    }
                    i += n;
                }
                s.EndRewrite();
            }
            if (lowercase)
            {
                Lowercase.Apply(s);
            }
        }

        /// <summary>
        /// Unicode "Other" except tab, newline and carriage return: Cc, Cf, Co, Cs. Unassigned code points (Cn)
        /// are kept, as the reference does (its category tables do not list them: U+10FFFF survives).
        /// </summary>
        private static bool IsControl(int cp)
        {
            if (cp is '\t' or '\n' or '\r')
            {
                return false;
            }
            var c = TextUtil.Category(cp);
            return c is System.Globalization.UnicodeCategory.Control or System.Globalization.UnicodeCategory.Format
                or System.Globalization.UnicodeCategory.PrivateUse or System.Globalization.UnicodeCategory.Surrogate;
        }

        private static bool IsChineseChar(int cp) =>
            cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF
                or >= 0x2A700 and <= 0x2B73F or >= 0x2B740 and <= 0x2B81F or >= 0x2B920 and <= 0x2CEAF
                or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
    }

    /// <summary>Maps every UTF-8 byte to its GPT-2 byte-level character.</summary>
    internal sealed class ByteLevel : Normalizer
    {
        public override void Normalize(NormalizedString s)
        {
            s.BeginRewrite();
            ByteLevelAlphabet.EmitBytes(s, 0, s.Length);
            s.EndRewrite();
        }
    }

    internal sealed class Sequence(Normalizer[] items) : Normalizer
    {
        public IReadOnlyList<Normalizer> Items => items;

        public override void Normalize(NormalizedString s)
        {
            foreach (var n in items)
            {
                n.Normalize(s);
            }
        }
    }
}

/// <summary>GPT-2's reversible map between bytes and printable characters.</summary>
internal static class ByteLevelAlphabet
{
    public static readonly char[] ByteToChar = Build();
    public static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, b)).ToDictionary(x => x.c, x => (byte)x.b);

    private static char[] Build()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    /// <summary>Emits the byte-level characters of chars [from, to) of <paramref name="s"/>, each aligned to its source character.</summary>
    public static void EmitBytes(NormalizedString s, int from, int to)
    {
        var span = s.Span;
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = from; i < to;)
        {
            char c = span[i];
            if (c < 128)
            {
                s.Emit(ByteToChar[c], s.StartOf(i), s.EndOf(i));
                i++;
                continue;
            }
            int cp = TextUtil.CodePointAt(span, i, out int n);
            if (!Rune.TryCreate(cp, out var rune))
            {
                rune = Rune.ReplacementChar; // a lone surrogate cannot be UTF-8; Rust strings never hold one
            }
            int len = rune.EncodeToUtf8(utf8);
            int st = s.StartOf(i), en = s.EndOf(i + n - 1);
            for (int k = 0; k < len; k++)
            {
                s.Emit(ByteToChar[utf8[k]], st, en);
            }
            i += n;
        }
    }
}
