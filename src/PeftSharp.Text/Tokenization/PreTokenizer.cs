namespace PeftSharp.Text.Tokenization;

/// <summary>A tokenizer.json pre-tokenizer: cuts the normalized text into the pieces the model sees.</summary>
internal abstract class PreTokenizer
{
    public abstract void PreTokenize(PreTokenizedString p);

    /// <summary>GPT-2 byte-level: optional prefix space, optional GPT-2 regex split, then bytes to printable chars.</summary>
    internal sealed class ByteLevel(bool addPrefixSpace, bool useRegex) : PreTokenizer
    {
        public bool AddPrefixSpace { get; } = addPrefixSpace;
        public bool UseRegex { get; } = useRegex;

        public override void PreTokenize(PreTokenizedString p)
        {
            bool prefix = AddPrefixSpace;
            if (prefix)
            {
                p.Rewrite(ref prefix, static (ref bool _, NormalizedString t, int s, int e) =>
                {
                    if (t[s] != ' ')
                    {
                        t.Emit(' ', t.StartOf(s), t.EndOf(s));
                    }
                    t.EmitRange(s, e);
                });
            }
            if (UseRegex)
            {
                p.Split(WellKnownPattern.Gpt2Scanner, SplitBehavior.Isolated);
            }
            bool unused = false;
            p.Rewrite(ref unused, static (ref bool _, NormalizedString t, int s, int e) => ByteLevelAlphabet.EmitBytes(t, s, e));
        }
    }

    /// <summary>Split on a literal or regex pattern with one of the split behaviours, optionally inverted.</summary>
    internal sealed class Split(SplitPattern pattern, SplitBehavior behavior, bool invert) : PreTokenizer
    {
        public override void PreTokenize(PreTokenizedString p) => p.Split(pattern, behavior, invert);
    }

    /// <summary>SentencePiece's metaspace: spaces become the replacement char, optionally prepended, then split before each one.</summary>
    internal sealed class Metaspace(char replacement, PrependScheme scheme, bool split) : PreTokenizer
    {
        private readonly LiteralPattern _pattern = new(replacement.ToString());

        public override void PreTokenize(PreTokenizedString p)
        {
            var state = (replacement, scheme);
            p.Rewrite(ref state, static (ref (char R, PrependScheme Scheme) st, NormalizedString t, int s, int e) =>
            {
                bool prepend = st.Scheme switch
                {
                    PrependScheme.Always => t[s] != st.R && t[s] != ' ',
                    PrependScheme.First => t[s] != st.R && t[s] != ' ' && t.StartOf(s) == 0,
                    _ => false,
                };
                if (prepend)
                {
                    t.Emit(st.R, t.StartOf(s), t.EndOf(s));
                }
                for (int i = s; i < e; i++)
                {
                    t.Emit(t[i] == ' ' ? st.R : t[i], t.StartOf(i), t.EndOf(i));
                }
            });
            if (split)
            {
                p.Split(_pattern, SplitBehavior.MergedWithNext);
            }
        }
    }

    internal enum PrependScheme { Always, First, Never }

    /// <summary><c>\w+|[^\w\s]+</c>: runs of word characters and runs of other non-space characters.</summary>
    internal sealed class Whitespace : PreTokenizer
    {
        public override void PreTokenize(PreTokenizedString p) => p.Split(WordRunPattern.Instance, SplitBehavior.Removed, invert: true);
    }

    /// <summary>Splits on Unicode whitespace, dropping it.</summary>
    internal sealed class WhitespaceSplit : PreTokenizer
    {
        public override void PreTokenize(PreTokenizedString p) => p.Split(CharPredicatePattern.WhiteSpace, SplitBehavior.Removed);
    }

    /// <summary>BERT: split on whitespace (dropped), then isolate every punctuation character.</summary>
    internal sealed class Bert : PreTokenizer
    {
        public override void PreTokenize(PreTokenizedString p)
        {
            p.Split(CharPredicatePattern.WhiteSpace, SplitBehavior.Removed);
            p.Split(CharPredicatePattern.BertPunctuation, SplitBehavior.Isolated);
        }
    }

    internal sealed class Punctuation(SplitBehavior behavior) : PreTokenizer
    {
        public override void PreTokenize(PreTokenizedString p) => p.Split(CharPredicatePattern.BertPunctuation, behavior);
    }

    internal sealed class Digits(bool individual) : PreTokenizer
    {
        public override void PreTokenize(PreTokenizedString p) =>
            p.Split(CharPredicatePattern.Numeric, individual ? SplitBehavior.Isolated : SplitBehavior.Contiguous);
    }

    internal sealed class CharDelimiterSplit(char delimiter) : PreTokenizer
    {
        private readonly CharPredicatePattern _pattern = new(c => c == delimiter);

        public override void PreTokenize(PreTokenizedString p) => p.Split(_pattern, SplitBehavior.Removed);
    }

    internal sealed class Sequence(PreTokenizer[] items) : PreTokenizer
    {
        public IReadOnlyList<PreTokenizer> Items => items;

        public override void PreTokenize(PreTokenizedString p)
        {
            foreach (var item in items)
            {
                item.PreTokenize(p);
            }
        }
    }
}

/// <summary>Matches of <c>\w+|[^\w\s]+</c> (word = letter, mark, decimal digit or connector punctuation).</summary>
internal sealed class WordRunPattern : SplitPattern
{
    public static readonly WordRunPattern Instance = new();

    private static bool IsWord(int cp)
    {
        if (cp < 128)
        {
            return char.IsAsciiLetterOrDigit((char)cp) || cp == '_';
        }
        var c = TextUtil.Category(cp);
        return c <= System.Globalization.UnicodeCategory.EnclosingMark || c == System.Globalization.UnicodeCategory.DecimalDigitNumber
            || c == System.Globalization.UnicodeCategory.ConnectorPunctuation;
    }

    protected override bool TryMatch(ReadOnlySpan<char> text, int from, out int start, out int end)
    {
        int i = from;
        while (i < text.Length)
        {
            int cp = TextUtil.CodePointAt(text, i, out int n);
            if (!TextUtil.IsWhiteSpace(cp))
            {
                break;
            }
            i += n;
        }
        if (i >= text.Length)
        {
            start = end = 0;
            return false;
        }
        start = i;
        bool word = IsWord(TextUtil.CodePointAt(text, i, out _));
        while (i < text.Length)
        {
            int cp = TextUtil.CodePointAt(text, i, out int n);
            if (TextUtil.IsWhiteSpace(cp) || IsWord(cp) != word)
            {
                break;
            }
            i += n;
        }
        end = i;
        return true;
    }
}
