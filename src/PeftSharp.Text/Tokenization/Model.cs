using System.Collections.Concurrent;

namespace PeftSharp.Text.Tokenization;

/// <summary>A token produced by a model for one piece: id and its char range in the piece; Value overrides the vocabulary string.</summary>
internal readonly record struct ModelToken(int Id, int Start, int End, string? Value = null);

/// <summary>A tokenizer.json model (BPE, WordPiece, Unigram, WordLevel): turns one pre-tokenized piece into tokens.</summary>
internal abstract class Model
{
    protected readonly Dictionary<string, int> Vocab;
    protected readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> VocabLookup;
    protected readonly string?[] IdToTokenTable;

    protected Model(Dictionary<string, int> vocab)
    {
        Vocab = vocab;
        VocabLookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        int max = -1;
        foreach (var id in vocab.Values)
        {
            if (id < 0)
            {
                throw new TokenizerFormatException($"Vocabulary id {id} is negative.");
            }
            max = Math.Max(max, id);
        }
        IdToTokenTable = new string?[max + 1];
        foreach (var (token, id) in vocab)
        {
            IdToTokenTable[id] = token;
        }
    }

    /// <summary>Appends the tokens of <paramref name="piece"/> to <paramref name="output"/>.</summary>
    public abstract void Tokenize(ReadOnlySpan<char> piece, List<ModelToken> output);

    public int VocabSize => Vocab.Count;
    public int MaxId => IdToTokenTable.Length - 1;
    public IReadOnlyDictionary<string, int> Vocabulary => Vocab;

    public bool TryTokenToId(ReadOnlySpan<char> token, out int id) => VocabLookup.TryGetValue(token, out id);

    public string? IdToToken(int id) => (uint)id < (uint)IdToTokenTable.Length ? IdToTokenTable[id] : null;

    protected int RequireId(string token, string role) =>
        Vocab.TryGetValue(token, out int id) ? id : throw new TokenizerFormatException($"The {role} '{token}' is not in the vocabulary.");
}

/// <summary>
/// Byte-pair encoding, as Hugging Face's <c>BPE</c> model: characters (with byte fallback or unknown
/// token when absent), then merges applied lowest rank first, leftmost first. Results for pieces up to
/// 256 chars are cached (10,000 entries, like the reference).
/// </summary>
internal sealed class BpeModel : Model
{
    private const int CacheCapacity = 10_000;
    private const int MaxCachedLength = 256;

    // (left id, right id) → (rank << 32) | merged id
    private readonly Dictionary<long, long> _merges;
    private readonly int _unkId;
    private readonly bool _fuseUnk, _byteFallback, _ignoreMerges;
    private readonly string? _prefix, _suffix;
    private readonly int[] _byteIds = new int[256];
    private readonly ConcurrentDictionary<string, int[]> _cache = new();
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;
    [ThreadStatic] private static WordBuffer? t_word;

    public BpeModel(Dictionary<string, int> vocab, List<(string A, string B)> merges, string? unkToken, string? prefix, string? suffix,
        bool fuseUnk, bool byteFallback, bool ignoreMerges, float? dropout)
        : base(vocab)
    {
        if (dropout is > 0f)
        {
            throw new TokenizerFormatException("BPE dropout is not supported (it makes encoding random).");
        }
        _unkId = unkToken is null ? -1 : RequireId(unkToken, "BPE unk_token");
        _fuseUnk = fuseUnk;
        _byteFallback = byteFallback;
        _ignoreMerges = ignoreMerges;
        _prefix = prefix;
        _suffix = suffix;
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        int prefixLength = prefix?.Length ?? 0;
        _merges = new Dictionary<long, long>(merges.Count, PairKeyComparer.Instance);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (a, b) = merges[rank];
            if (!vocab.TryGetValue(a, out int ia) || !vocab.TryGetValue(b, out int ib))
            {
                throw new TokenizerFormatException($"BPE merge {rank} ('{a}' '{b}') uses a token missing from the vocabulary.");
            }
            string merged = string.Concat(a, b.AsSpan(Math.Min(prefixLength, b.Length)));
            if (!vocab.TryGetValue(merged, out int im))
            {
                throw new TokenizerFormatException($"BPE merge {rank} ('{a}' '{b}') gives '{merged}', which is not in the vocabulary.");
            }
            _merges.TryAdd(Pair(ia, ib), ((long)rank << 32) | (uint)im);
        }
        for (int b = 0; b < 256; b++)
        {
            _byteIds[b] = vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        }
    }

    private static long Pair(int a, int b) => ((long)a << 32) | (uint)b;

    public override void Tokenize(ReadOnlySpan<char> piece, List<ModelToken> output)
    {
        if (piece.IsEmpty)
        {
            return;
        }
        if (_ignoreMerges && VocabLookup.TryGetValue(piece, out int whole))
        {
            output.Add(new ModelToken(whole, 0, piece.Length));
            return;
        }
        if (_cacheLookup.TryGetValue(piece, out var cached))
        {
            Emit(cached, output);
            return;
        }
        var word = t_word ??= new WordBuffer();
        MergeWord(piece, word);
        var packed = new int[word.Count * 2];
        int k = 0;
        for (int i = word.First; i >= 0; i = word.Next[i])
        {
            packed[k++] = word.Ids[i];
            packed[k++] = word.Lengths[i];
        }
        if (piece.Length < MaxCachedLength && _cache.Count < CacheCapacity)
        {
            _cacheLookup.TryAdd(piece, packed);
        }
        Emit(packed, output);
    }

    private static void Emit(int[] packed, List<ModelToken> output)
    {
        int offset = 0;
        for (int i = 0; i < packed.Length; i += 2)
        {
            output.Add(new ModelToken(packed[i], offset, offset + packed[i + 1]));
            offset += packed[i + 1];
        }
    }

    private void MergeWord(ReadOnlySpan<char> w, WordBuffer word)
    {
        word.Clear(w.Length);
        Span<char> scratch = stackalloc char[64];
        int pendingUnk = -1, pendingUnkLength = 0;
        for (int i = 0; i < w.Length;)
        {
            TextUtil.CodePointAt(w, i, out int n);
            bool first = i == 0, last = i + n == w.Length;
            var ch = w.Slice(i, n);
            scoped ReadOnlySpan<char> key = ch;
            char[]? rented = null;
            if ((!first && !string.IsNullOrEmpty(_prefix)) || (last && !string.IsNullOrEmpty(_suffix)))
            {
                int len = n + (first ? 0 : _prefix?.Length ?? 0) + (last ? _suffix?.Length ?? 0 : 0);
                var buf = len <= scratch.Length ? scratch : (rented = new char[len]);
                int p = 0;
                if (!first && _prefix is not null)
                {
                    _prefix.AsSpan().CopyTo(buf);
                    p = _prefix.Length;
                }
                ch.CopyTo(buf[p..]);
                p += n;
                if (last && _suffix is not null)
                {
                    _suffix.AsSpan().CopyTo(buf[p..]);
                    p += _suffix.Length;
                }
                key = buf[..p];
            }
            if (VocabLookup.TryGetValue(key, out int id))
            {
                if (pendingUnk >= 0)
                {
                    word.Add(pendingUnk, pendingUnkLength);
                    pendingUnk = -1;
                }
                word.Add(id, n);
                i += n;
                continue;
            }
            if (_byteFallback && TryByteFallback(key, out var bytes, out int count))
            {
                // Each byte token covers the whole character in offsets; the reference gives each a length of 1 byte.
                for (int b = 0; b < count; b++)
                {
                    word.Add(_byteIds[bytes[b]], b == count - 1 ? n : 0);
                }
                i += n;
                continue;
            }
            if (_unkId >= 0)
            {
                if (pendingUnk >= 0 && _fuseUnk)
                {
                    pendingUnkLength += n;
                }
                else
                {
                    if (pendingUnk >= 0)
                    {
                        word.Add(pendingUnk, pendingUnkLength);
                    }
                    pendingUnk = _unkId;
                    pendingUnkLength = n;
                }
            }
            i += n;
        }
        if (pendingUnk >= 0)
        {
            word.Add(pendingUnk, pendingUnkLength);
        }
        word.MergeAll(_merges);
    }

    private bool TryByteFallback(ReadOnlySpan<char> key, out byte[] bytes, out int count)
    {
        bytes = System.Text.Encoding.UTF8.GetBytes(key.ToArray());
        count = bytes.Length;
        foreach (var b in bytes)
        {
            if (_byteIds[b] < 0)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The symbols of one word as a doubly linked list, with a min-heap of candidate merges.</summary>
    private sealed class WordBuffer
    {
        public int[] Ids = new int[64], Lengths = new int[64], Prev = new int[64], Next = new int[64];
        public int Size, First;
        private long[] _heap = new long[64];
        private int _heapCount;

        public int Count { get; private set; }

        public void Clear(int capacity)
        {
            if (Ids.Length < capacity * 4)
            {
                int c = Math.Max(capacity * 4, Ids.Length * 2);
                Ids = new int[c];
                Lengths = new int[c];
                Prev = new int[c];
                Next = new int[c];
            }
            Size = 0;
            Count = 0;
            First = -1;
        }

        public void Add(int id, int length)
        {
            if (Size == Ids.Length)
            {
                int c = Size * 2;
                Array.Resize(ref Ids, c);
                Array.Resize(ref Lengths, c);
                Array.Resize(ref Prev, c);
                Array.Resize(ref Next, c);
            }
            int i = Size++;
            Ids[i] = id;
            Lengths[i] = length;
            Prev[i] = i - 1;
            Next[i] = -1;
            if (i > 0)
            {
                Next[i - 1] = i;
            }
            else
            {
                First = 0;
            }
            Count++;
        }

        // Heap entries are (rank << 32) | position: the smallest rank, then the leftmost position, pops first.
        public void MergeAll(Dictionary<long, long> merges)
        {
            _heapCount = 0;
            for (int i = 0; i + 1 < Size; i++)
            {
                if (merges.TryGetValue(Pair(Ids[i], Ids[i + 1]), out long m))
                {
                    Push((m & ~0xFFFFFFFFL) | (uint)i);
                }
            }
            while (_heapCount > 0)
            {
                long top = Pop();
                int pos = (int)(top & 0xFFFFFFFF);
                long rank = top >> 32;
                if (Ids[pos] < 0)
                {
                    continue;
                }
                int next = Next[pos];
                if (next < 0)
                {
                    continue;
                }
                if (!merges.TryGetValue(Pair(Ids[pos], Ids[next]), out long m) || (m >> 32) != rank)
                {
                    continue; // stale entry: one side was merged away since it was queued
                }
                Ids[pos] = (int)(m & 0xFFFFFFFF);
                Lengths[pos] += Lengths[next];
                Ids[next] = -1;
                int after = Next[next];
                Next[pos] = after;
                if (after >= 0)
                {
                    Prev[after] = pos;
                }
                Count--;
                int prev = Prev[pos];
                if (prev >= 0 && merges.TryGetValue(Pair(Ids[prev], Ids[pos]), out long mp))
                {
                    Push((mp & ~0xFFFFFFFFL) | (uint)prev);
                }
                if (after >= 0 && merges.TryGetValue(Pair(Ids[pos], Ids[after]), out long mn))
                {
                    Push((mn & ~0xFFFFFFFFL) | (uint)pos);
                }
            }
        }

        private void Push(long v)
        {
            if (_heapCount == _heap.Length)
            {
                Array.Resize(ref _heap, _heap.Length * 2);
            }
            int i = _heapCount++;
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (_heap[parent] <= v)
                {
                    break;
                }
                _heap[i] = _heap[parent];
                i = parent;
            }
            _heap[i] = v;
        }

        private long Pop()
        {
            long top = _heap[0];
            long last = _heap[--_heapCount];
            int i = 0;
            while (true)
            {
                int child = 2 * i + 1;
                if (child >= _heapCount)
                {
                    break;
                }
                if (child + 1 < _heapCount && _heap[child + 1] < _heap[child])
                {
                    child++;
                }
                if (_heap[child] >= last)
                {
                    break;
                }
                _heap[i] = _heap[child];
                i = child;
            }
            if (_heapCount > 0)
            {
                _heap[i] = last;
            }
            return top;
        }
    }
}

/// <summary>WordPiece (BERT): greedy longest-match-first with a continuation prefix; a word that cannot be covered becomes the unknown token.</summary>
internal sealed class WordPieceModel : Model
{
    private readonly string _unk;
    private readonly int _unkId;
    private readonly string _prefix;
    private readonly int _maxChars;

    public WordPieceModel(Dictionary<string, int> vocab, string unkToken, string prefix, int maxInputCharsPerWord) : base(vocab)
    {
        _unk = unkToken;
        _unkId = RequireId(unkToken, "WordPiece unk_token");
        _prefix = prefix;
        _maxChars = maxInputCharsPerWord;
    }

    public override void Tokenize(ReadOnlySpan<char> piece, List<ModelToken> output)
    {
        int chars = 0;
        for (int i = 0; i < piece.Length; i++)
        {
            if (!char.IsLowSurrogate(piece[i]) || i == 0 || !char.IsHighSurrogate(piece[i - 1]))
            {
                chars++;
            }
        }
        if (chars > _maxChars)
        {
            output.Add(new ModelToken(_unkId, 0, piece.Length, _unk));
            return;
        }
        int mark = output.Count;
        var buffer = new char[_prefix.Length + piece.Length];
        _prefix.AsSpan().CopyTo(buffer);
        int start = 0;
        while (start < piece.Length)
        {
            int end = piece.Length;
            bool found = false;
            while (start < end)
            {
                ReadOnlySpan<char> sub = piece[start..end];
                if (start > 0)
                {
                    sub.CopyTo(buffer.AsSpan(_prefix.Length));
                    sub = buffer.AsSpan(0, _prefix.Length + end - start);
                }
                if (VocabLookup.TryGetValue(sub, out int id))
                {
                    output.Add(new ModelToken(id, start, end));
                    found = true;
                    break;
                }
                end -= end >= 2 && char.IsLowSurrogate(piece[end - 1]) && char.IsHighSurrogate(piece[end - 2]) ? 2 : 1;
            }
            if (!found)
            {
                output.RemoveRange(mark, output.Count - mark);
                output.Add(new ModelToken(_unkId, 0, piece.Length, _unk));
                return;
            }
            start = end;
        }
    }
}

/// <summary>WordLevel: the whole piece is one vocabulary entry, or the unknown token.</summary>
internal sealed class WordLevelModel : Model
{
    private readonly int _unkId;

    public WordLevelModel(Dictionary<string, int> vocab, string unkToken) : base(vocab)
    {
        _unkId = Vocab.TryGetValue(unkToken, out int id) ? id : -1;
    }

    public override void Tokenize(ReadOnlySpan<char> piece, List<ModelToken> output)
    {
        if (VocabLookup.TryGetValue(piece, out int id))
        {
            output.Add(new ModelToken(id, 0, piece.Length));
        }
        else if (_unkId >= 0)
        {
            output.Add(new ModelToken(_unkId, 0, piece.Length));
        }
        else
        {
            throw new InvalidOperationException($"WordLevel: '{piece.ToString()}' is not in the vocabulary and there is no unknown token.");
        }
    }
}
