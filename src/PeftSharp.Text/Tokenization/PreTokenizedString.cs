namespace PeftSharp.Text.Tokenization;

/// <summary>A piece of the pre-tokenized text: chars [Start, End) of the buffer; TokenId ≥ 0 when it is an added token already.</summary>
internal readonly record struct Piece(int Start, int End, int TokenId)
{
    public bool IsToken => TokenId >= 0;
}

/// <summary>A span of a text found by a pattern: [Start, End), and whether it is a match or the gap between matches.</summary>
internal readonly record struct PatternSpan(int Start, int End, bool IsMatch);

/// <summary>How a split pattern's matches are kept (Hugging Face <c>SplitDelimiterBehavior</c>).</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>
/// The normalized text of one encode call, cut into pieces. Pre-tokenizers split pieces (no copy) or
/// rewrite the whole buffer (one pass over all pieces); pieces that are added tokens are left alone.
/// </summary>
internal sealed class PreTokenizedString
{
    private List<Piece> _pieces = new();
    private List<Piece> _next = new();
    private readonly List<PatternSpan> _spans = new();
    private readonly List<(int Start, int End)> _kept = new();

    public NormalizedString Text { get; } = new();
    public List<Piece> Pieces => _pieces;

    public void Clear() => _pieces.Clear();

    /// <summary>Splits every non-token piece with <paramref name="pattern"/>; empty pieces are dropped.</summary>
    public void Split(SplitPattern pattern, SplitBehavior behavior, bool invert = false)
    {
        _next.Clear();
        foreach (var piece in _pieces)
        {
            if (piece.IsToken)
            {
                _next.Add(piece);
                continue;
            }
            _spans.Clear();
            pattern.FindMatches(Text.Span[piece.Start..piece.End], _spans);
            ApplyBehavior(_spans, behavior, invert, _kept);
            foreach (var (s, e) in _kept)
            {
                if (e > s)
                {
                    _next.Add(new Piece(piece.Start + s, piece.Start + e, -1));
                }
            }
        }
        (_pieces, _next) = (_next, _pieces);
    }

    /// <summary>The Hugging Face rules that turn matches into kept ranges.</summary>
    internal static void ApplyBehavior(List<PatternSpan> spans, SplitBehavior behavior, bool invert, List<(int, int)> kept)
    {
        kept.Clear();
        bool previousMatch = false;
        switch (behavior)
        {
            case SplitBehavior.Removed:
                foreach (var sp in spans)
                {
                    if (sp.IsMatch == invert)
                    {
                        kept.Add((sp.Start, sp.End));
                    }
                }
                break;
            case SplitBehavior.Isolated:
                foreach (var sp in spans)
                {
                    kept.Add((sp.Start, sp.End));
                }
                break;
            case SplitBehavior.Contiguous:
                foreach (var sp in spans)
                {
                    bool m = sp.IsMatch != invert;
                    if (m == previousMatch && kept.Count > 0)
                    {
                        kept[^1] = (kept[^1].Item1, sp.End);
                    }
                    else
                    {
                        kept.Add((sp.Start, sp.End));
                    }
                    previousMatch = m;
                }
                break;
            case SplitBehavior.MergedWithPrevious:
                foreach (var sp in spans)
                {
                    bool m = sp.IsMatch != invert;
                    if (m && !previousMatch && kept.Count > 0)
                    {
                        kept[^1] = (kept[^1].Item1, sp.End);
                    }
                    else
                    {
                        kept.Add((sp.Start, sp.End));
                    }
                    previousMatch = m;
                }
                break;
            case SplitBehavior.MergedWithNext:
                for (int i = spans.Count - 1; i >= 0; i--)
                {
                    var sp = spans[i];
                    bool m = sp.IsMatch != invert;
                    if (m && !previousMatch && kept.Count > 0)
                    {
                        kept[^1] = (sp.Start, kept[^1].Item2);
                    }
                    else
                    {
                        kept.Add((sp.Start, sp.End));
                    }
                    previousMatch = m;
                }
                kept.Reverse();
                break;
        }
    }

    /// <summary>
    /// Rewrites every non-token piece through <paramref name="rewrite"/> (which emits into <see cref="Text"/>),
    /// keeping token pieces as they are, and rebuilds the piece list over the new buffer.
    /// </summary>
    public void Rewrite<TState>(ref TState state, PieceRewriter<TState> rewrite)
    {
        _next.Clear();
        Text.BeginRewrite();
        foreach (var piece in _pieces)
        {
            int start = Text.RewriteLength;
            if (piece.IsToken)
            {
                Text.EmitRange(piece.Start, piece.End);
            }
            else
            {
                rewrite(ref state, Text, piece.Start, piece.End);
            }
            int end = Text.RewriteLength;
            if (end > start || piece.IsToken)
            {
                _next.Add(new Piece(start, end, piece.TokenId));
            }
        }
        Text.EndRewrite();
        (_pieces, _next) = (_next, _pieces);
    }
}

/// <summary>Writes the new form of chars [start, end) of <paramref name="text"/> with Emit*.</summary>
internal delegate void PieceRewriter<TState>(ref TState state, NormalizedString text, int start, int end);
