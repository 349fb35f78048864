namespace PeftSharp.Text.Tokenization;

/// <summary>
/// The result of encoding one text: token ids with their strings, type ids, masks, and the range each token
/// covers in the input (UTF-16 indices; special tokens added by the post-processor have (0, 0)).
/// </summary>
public sealed class Encoding
{
    internal readonly List<int> IdList = new();
    internal readonly List<int> TypeIdList = new();
    internal readonly List<string> TokenList = new();
    internal readonly List<(int Start, int End)> OffsetList = new();
    internal readonly List<int> SpecialMaskList = new();
    internal readonly List<int> AttentionList = new();
    internal readonly List<int?> WordIdList = new();
    internal List<Encoding> OverflowList = new();

    /// <summary>Token ids.</summary>
    public IReadOnlyList<int> Ids => IdList;
    /// <summary>Segment of each token (0 for the first sequence, 1 for the second of a pair, as the template says).</summary>
    public IReadOnlyList<int> TypeIds => TypeIdList;
    /// <summary>Token strings as the vocabulary writes them.</summary>
    public IReadOnlyList<string> Tokens => TokenList;
    /// <summary>For each token, the [Start, End) range of the input text it came from.</summary>
    public IReadOnlyList<(int Start, int End)> Offsets => OffsetList;
    /// <summary>1 for tokens added by the post-processor (and padding), 0 otherwise.</summary>
    public IReadOnlyList<int> SpecialTokensMask => SpecialMaskList;
    /// <summary>1 for real tokens, 0 for padding.</summary>
    public IReadOnlyList<int> AttentionMask => AttentionList;
    /// <summary>Index of the pre-tokenized word each token belongs to; null for added special and padding tokens.</summary>
    public IReadOnlyList<int?> WordIds => WordIdList;
    /// <summary>The windows cut off by truncation, each encoded like this one.</summary>
    public IReadOnlyList<Encoding> Overflowing => OverflowList;
    /// <summary>Number of tokens.</summary>
    public int Length => IdList.Count;

    internal void Add(int id, string token, (int, int) offsets, int? wordId, int typeId = 0, int special = 0, int attention = 1)
    {
        IdList.Add(id);
        TokenList.Add(token);
        OffsetList.Add(offsets);
        WordIdList.Add(wordId);
        TypeIdList.Add(typeId);
        SpecialMaskList.Add(special);
        AttentionList.Add(attention);
    }

    internal void AppendFrom(Encoding other, int from, int to, int? typeId = null)
    {
        for (int i = from; i < to; i++)
        {
            Add(other.IdList[i], other.TokenList[i], other.OffsetList[i], other.WordIdList[i], typeId ?? other.TypeIdList[i],
                other.SpecialMaskList[i], other.AttentionList[i]);
        }
    }

    internal Encoding Slice(int from, int to)
    {
        var e = new Encoding();
        e.AppendFrom(this, from, to);
        return e;
    }

    internal void SetTypeIds(int typeId)
    {
        for (int i = 0; i < TypeIdList.Count; i++)
        {
            TypeIdList[i] = typeId;
        }
    }

    internal void Pad(int targetLength, bool left, int padId, int padTypeId, string padToken)
    {
        int n = targetLength - Length;
        if (n <= 0)
        {
            return;
        }
        if (left)
        {
            IdList.InsertRange(0, Enumerable.Repeat(padId, n));
            TokenList.InsertRange(0, Enumerable.Repeat(padToken, n));
            OffsetList.InsertRange(0, Enumerable.Repeat((0, 0), n));
            WordIdList.InsertRange(0, Enumerable.Repeat<int?>(null, n));
            TypeIdList.InsertRange(0, Enumerable.Repeat(padTypeId, n));
            SpecialMaskList.InsertRange(0, Enumerable.Repeat(1, n));
            AttentionList.InsertRange(0, Enumerable.Repeat(0, n));
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                Add(padId, padToken, (0, 0), null, padTypeId, 1, 0);
            }
        }
    }
}

/// <summary>Which side to cut or pad.</summary>
public enum Side { Right, Left }

/// <summary>Truncation: at most <see cref="MaxLength"/> tokens including the special tokens the post-processor adds.</summary>
/// <param name="MaxLength">Maximum number of tokens (≥ 1).</param>
/// <param name="Stride">Tokens shared by consecutive overflow windows (less than the room left for text).</param>
/// <param name="Direction">Right keeps the beginning; Left keeps the end.</param>
public sealed record TruncationOptions(int MaxLength, int Stride = 0, Side Direction = Side.Right);

/// <summary>Padding of a batch: to the longest encoding, or to <see cref="Length"/> when set.</summary>
/// <param name="Length">Fixed length, or null for the longest in the batch.</param>
/// <param name="PadToMultipleOf">Round the length up to a multiple of this, when set.</param>
/// <param name="PadId">Id of the padding token.</param>
/// <param name="PadToken">String of the padding token.</param>
/// <param name="PadTypeId">Type id given to padding.</param>
/// <param name="Direction">Side padding goes on.</param>
public sealed record PaddingOptions(int? Length = null, int? PadToMultipleOf = null, int PadId = 0, string PadToken = "[PAD]",
    int PadTypeId = 0, Side Direction = Side.Right);

/// <summary>A tokenizer.json or tokenizer_config.json that cannot be used: the message names the field or type at fault.</summary>
public sealed class TokenizerFormatException : Exception
{
    public TokenizerFormatException(string message) : base(message) { }
    public TokenizerFormatException(string message, Exception inner) : base(message, inner) { }
}
