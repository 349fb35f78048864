namespace PeftSharp.Text.Tokenization;

/// <summary>A token added on top of the model's vocabulary (tokenizer.json <c>added_tokens</c>).</summary>
/// <param name="Id">Its id.</param>
/// <param name="Content">Its text.</param>
/// <param name="Special">Dropped by <c>Decode(..., skipSpecialTokens: true)</c>.</param>
/// <param name="SingleWord">Only matched when not inside a word.</param>
/// <param name="LStrip">Also takes the whitespace before it.</param>
/// <param name="RStrip">Also takes the whitespace after it.</param>
/// <param name="Normalized">Matched in the normalized text (true) or in the raw input before normalization (false).</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord = false, bool LStrip = false,
    bool RStrip = false, bool Normalized = false);

/// <summary>Finds added tokens in a text: leftmost match first, longest at that position (Aho-Corasick leftmost-longest).</summary>
internal sealed class AddedTokenMatcher
{
    private readonly CharTrie _trie = new();
    private readonly AddedToken[] _tokens;
    private readonly bool[] _firstChar = new bool[65536];

    public AddedTokenMatcher(IEnumerable<(string Pattern, AddedToken Token)> entries)
    {
        var list = new List<AddedToken>();
        foreach (var (pattern, token) in entries)
        {
            if (pattern.Length == 0)
            {
                continue;
            }
            if (_trie.TryAdd(pattern, list.Count))
            {
                list.Add(token);
            }
            _firstChar[pattern[0]] = true;
        }
        _tokens = list.ToArray();
    }

    public bool IsEmpty => _tokens.Length == 0;

    /// <summary>Cuts <paramref name="text"/> into gaps (TokenId -1) and added tokens, covering it all.</summary>
    public void Split(ReadOnlySpan<char> text, List<Piece> output)
    {
        if (text.IsEmpty)
        {
            output.Add(new Piece(0, 0, -1));
            return;
        }
        int startOffset = 0;
        int i = 0;
        while (i < text.Length)
        {
            if (!_firstChar[text[i]])
            {
                i++;
                continue;
            }
            int node = 0, best = -1, bestEnd = -1;
            for (int j = i; j < text.Length; j++)
            {
                if (!_trie.TryStep(node, text[j], out node))
                {
                    break;
                }
                if (_trie.ValueAt(node) >= 0)
                {
                    best = _trie.ValueAt(node);
                    bestEnd = j + 1;
                }
            }
            if (best < 0)
            {
                i++;
                continue;
            }
            var token = _tokens[best];
            int start = i, stop = bestEnd;
            i = bestEnd;
            if (token.SingleWord)
            {
                bool startSpace = start == 0 || !IsWordChar(text, start - 1, backwards: true);
                bool stopSpace = stop == text.Length || !IsWordChar(text, stop, backwards: false);
                if (!startSpace || !stopSpace)
                {
                    continue;
                }
            }
            if (token.LStrip)
            {
                int s = start;
                while (s > 0 && char.IsWhiteSpace(text[s - 1]))
                {
                    s--;
                }
                start = Math.Max(s, startOffset);
            }
            if (token.RStrip)
            {
                while (stop < text.Length && char.IsWhiteSpace(text[stop]))
                {
                    stop++;
                }
                i = stop;
            }
            if (startOffset < start)
            {
                output.Add(new Piece(startOffset, start, -1));
            }
            output.Add(new Piece(start, stop, token.Id));
            startOffset = stop;
        }
        if (startOffset != text.Length)
        {
            output.Add(new Piece(startOffset, text.Length, -1));
        }
    }

    private static bool IsWordChar(ReadOnlySpan<char> text, int i, bool backwards)
    {
        if (backwards && char.IsLowSurrogate(text[i]) && i > 0)
        {
            i--;
        }
        int cp = TextUtil.CodePointAt(text, i, out _);
        var c = TextUtil.Category(cp);
        return c <= System.Globalization.UnicodeCategory.EnclosingMark || c == System.Globalization.UnicodeCategory.DecimalDigitNumber
            || c == System.Globalization.UnicodeCategory.ConnectorPunctuation;
    }
}
