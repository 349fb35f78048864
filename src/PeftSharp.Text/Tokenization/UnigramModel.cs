namespace PeftSharp.Text.Tokenization;

/// <summary>
/// Unigram language model (SentencePiece): the segmentation with the highest total score (Viterbi over
/// every vocabulary match), unknown characters scored at min score − 10, consecutive unknowns fused.
/// </summary>
internal sealed class UnigramModel : Model
{
    private const double UnkPenalty = 10.0;

    private readonly double[] _scores;
    private readonly int _unkId;
    private readonly bool _byteFallback;
    private readonly double _minScore;
    private readonly int[] _byteIds = new int[256];
    private readonly CharTrie _trie = new(); // piece → token id
    [ThreadStatic] private static Lattice? t_lattice;

    public UnigramModel(List<(string Piece, double Score)> vocab, int? unkId, bool byteFallback)
        : base(BuildVocab(vocab))
    {
        _scores = vocab.Select(v => v.Score).ToArray();
        _minScore = _scores.Length == 0 ? 0 : _scores.Min();
        if (unkId is { } u && (u < 0 || u >= vocab.Count))
        {
            throw new TokenizerFormatException($"Unigram unk_id {u} is outside the vocabulary (size {vocab.Count}).");
        }
        _unkId = unkId ?? -1;
        _byteFallback = byteFallback;
        for (int id = 0; id < vocab.Count; id++)
        {
            _trie.TryAdd(vocab[id].Piece, id);
        }
        for (int b = 0; b < 256; b++)
        {
            _byteIds[b] = Vocab.TryGetValue($"<0x{b:X2}>", out int bid) ? bid : -1;
        }
    }

    private static Dictionary<string, int> BuildVocab(List<(string Piece, double Score)> vocab)
    {
        var d = new Dictionary<string, int>(vocab.Count);
        for (int i = 0; i < vocab.Count; i++)
        {
            d.TryAdd(vocab[i].Piece, i);
        }
        return d;
    }

    public override void Tokenize(ReadOnlySpan<char> s, List<ModelToken> output)
    {
        if (s.IsEmpty)
        {
            return;
        }
        var lat = t_lattice ??= new Lattice();
        lat.Reset(s.Length);
        double unkScore = _minScore - UnkPenalty;
        for (int start = 0; start < s.Length;)
        {
            TextUtil.CodePointAt(s, start, out int charLength);
            double here = lat.Score[start];
            bool single = false;
            int node = 0;
            for (int i = start; i < s.Length; i++)
            {
                if (!_trie.TryStep(node, s[i], out node))
                {
                    break;
                }
                int id = _trie.ValueAt(node);
                if (id < 0)
                {
                    continue;
                }
                int end = i + 1;
                double candidate = here + _scores[id];
                if (lat.From[end] < 0 || candidate > lat.Score[end])
                {
                    lat.Score[end] = candidate;
                    lat.From[end] = start;
                    lat.Id[end] = id;
                }
                single |= end - start == charLength;
            }
            if (!single)
            {
                int end = start + charLength;
                double candidate = here + unkScore;
                if (lat.From[end] < 0 || candidate > lat.Score[end])
                {
                    lat.Score[end] = candidate;
                    lat.From[end] = start;
                    lat.Id[end] = _unkId;
                }
            }
            start += charLength;
        }
        // Walk back, fusing runs of unknown tokens into one.
        var path = lat.Path;
        path.Clear();
        for (int end = s.Length; end > 0;)
        {
            int from = lat.From[end];
            if (from < 0)
            {
                throw new InvalidOperationException("Unigram: the text cannot be segmented and the model has no unknown token.");
            }
            path.Add((from, end, lat.Id[end]));
            end = from;
        }
        path.Reverse();
        for (int k = 0; k < path.Count; k++)
        {
            var (from, end, id) = path[k];
            if (id == _unkId && _unkId >= 0)
            {
                while (k + 1 < path.Count && path[k + 1].Id == _unkId)
                {
                    end = path[++k].End;
                }
            }
            Emit(s, from, end, id, output);
        }
    }

    private void Emit(ReadOnlySpan<char> s, int from, int end, int id, List<ModelToken> output)
    {
        var piece = s[from..end];
        if (id != _unkId || _unkId < 0)
        {
            output.Add(new ModelToken(id, from, end, IdToTokenTable[id] is { } t && piece.SequenceEqual(t) ? null : piece.ToString()));
            return;
        }
        // An unknown run: its own text if it is in the vocabulary, else byte fallback, else the unknown id.
        string text = piece.ToString();
        if (Vocab.TryGetValue(text, out int known))
        {
            output.Add(new ModelToken(known, from, end, text));
            return;
        }
        if (_byteFallback)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(text);
            if (bytes.All(b => _byteIds[b] >= 0))
            {
                foreach (var b in bytes)
                {
                    output.Add(new ModelToken(_byteIds[b], from, end, $"<0x{b:X2}>"));
                }
                return;
            }
        }
        output.Add(new ModelToken(_unkId, from, end, text));
    }

    private sealed class Lattice
    {
        public double[] Score = new double[64];
        public int[] From = new int[64];
        public int[] Id = new int[64];
        public readonly List<(int From, int End, int Id)> Path = new();

        public void Reset(int length)
        {
            if (Score.Length < length + 1)
            {
                int c = Math.Max(length + 1, Score.Length * 2);
                Score = new double[c];
                From = new int[c];
                Id = new int[c];
            }
            Array.Fill(From, -1, 0, length + 1);
            Array.Clear(Score, 0, length + 1);
            From[0] = 0;
        }
    }
}
