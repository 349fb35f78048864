namespace PeftSharp.Text.Tokenization;

/// <summary>A tokenizer.json post-processor: adds special tokens around the encoded sequence(s).</summary>
internal abstract class PostProcessor
{
    /// <summary>How many tokens <see cref="Process"/> adds when special tokens are on.</summary>
    public abstract int AddedTokens(bool isPair);

    /// <summary>Builds the final encoding from the first (and optional second) sequence.</summary>
    public abstract Encoding Process(Encoding a, Encoding? b, bool addSpecialTokens);

    protected static Encoding Merge(Encoding a, Encoding? b)
    {
        if (b is null)
        {
            return a;
        }
        var e = new Encoding();
        e.AppendFrom(a, 0, a.Length);
        e.AppendFrom(b, 0, b.Length, 1);
        return e;
    }

    /// <summary>A special token entry of a template: one or more ids with their strings.</summary>
    internal sealed record SpecialToken(string Name, int[] Ids, string[] Tokens);

    /// <summary>One item of a template: a special token or sequence A/B, with its type id.</summary>
    internal sealed record TemplatePiece(bool IsSequence, string Name, int TypeId);

    internal sealed class Template(TemplatePiece[] single, TemplatePiece[] pair, Dictionary<string, SpecialToken> specials) : PostProcessor
    {
        public override int AddedTokens(bool isPair) =>
            (isPair ? pair : single).Where(p => !p.IsSequence).Sum(p => specials[p.Name].Ids.Length);

        public override Encoding Process(Encoding a, Encoding? b, bool addSpecialTokens)
        {
            if (!addSpecialTokens)
            {
                return Merge(a, b);
            }
            var e = new Encoding();
            foreach (var p in b is null ? single : pair)
            {
                if (p.IsSequence)
                {
                    var src = p.Name == "A" ? a : b ?? a;
                    e.AppendFrom(src, 0, src.Length, p.TypeId);
                }
                else
                {
                    var st = specials[p.Name];
                    for (int i = 0; i < st.Ids.Length; i++)
                    {
                        e.Add(st.Ids[i], st.Tokens[i], (0, 0), null, p.TypeId, 1);
                    }
                }
            }
            return e;
        }
    }

    /// <summary>BERT: [CLS] A [SEP] (B [SEP]); RoBERTa: &lt;s&gt; A &lt;/s&gt; (&lt;/s&gt; B &lt;/s&gt;).</summary>
    internal sealed class ClsSep((string Token, int Id) cls, (string Token, int Id) sep, bool roberta, ByteLevel? trim) : PostProcessor
    {
        public override int AddedTokens(bool isPair) => isPair ? (roberta ? 4 : 3) : 2;

        public override Encoding Process(Encoding a, Encoding? b, bool addSpecialTokens)
        {
            trim?.TrimOffsets(a);
            if (b is not null)
            {
                trim?.TrimOffsets(b);
            }
            if (!addSpecialTokens)
            {
                return Merge(a, b);
            }
            var e = new Encoding();
            e.Add(cls.Id, cls.Token, (0, 0), null, 0, 1);
            e.AppendFrom(a, 0, a.Length, 0);
            e.Add(sep.Id, sep.Token, (0, 0), null, 0, 1);
            if (b is not null)
            {
                int type = roberta ? 0 : 1;
                if (roberta)
                {
                    e.Add(sep.Id, sep.Token, (0, 0), null, type, 1);
                }
                e.AppendFrom(b, 0, b.Length, type);
                e.Add(sep.Id, sep.Token, (0, 0), null, type, 1);
            }
            return e;
        }
    }

    /// <summary>Byte-level: adds nothing; when trim_offsets is set, offsets leave out leading and trailing spaces.</summary>
    internal sealed class ByteLevel(bool trimOffsets, bool addPrefixSpace) : PostProcessor
    {
        public override int AddedTokens(bool isPair) => 0;

        public override Encoding Process(Encoding a, Encoding? b, bool addSpecialTokens)
        {
            TrimOffsets(a);
            if (b is not null)
            {
                TrimOffsets(b);
            }
            return Merge(a, b);
        }

        public void TrimOffsets(Encoding e)
        {
            if (!trimOffsets)
            {
                return;
            }
            char space = ByteLevelAlphabet.ByteToChar[' '];
            for (int i = 0; i < e.Length; i++)
            {
                string t = e.TokenList[i];
                var (s, en) = e.OffsetList[i];
                int lead = 0, trail = 0;
                while (lead < t.Length && (t[lead] == space || char.IsWhiteSpace(t[lead])))
                {
                    lead++;
                }
                while (trail < t.Length && (t[t.Length - 1 - trail] == space || char.IsWhiteSpace(t[t.Length - 1 - trail])))
                {
                    trail++;
                }
                if (lead > 0 && (i == 0 || s == 0) && addPrefixSpace && lead == 1)
                {
                    lead = 0;
                }
                if (lead > 0)
                {
                    s = Math.Min(s + lead, en);
                }
                if (trail > 0 && en >= trail)
                {
                    en = Math.Max(en - trail, s);
                }
                e.OffsetList[i] = (s, en);
            }
        }
    }

    internal sealed class Sequence(PostProcessor[] items) : PostProcessor
    {
        public override int AddedTokens(bool isPair) => items.Sum(p => p.AddedTokens(isPair));

        public override Encoding Process(Encoding a, Encoding? b, bool addSpecialTokens)
        {
            // Each processor sees the output of the previous one as a single sequence.
            var e = items.Length == 0 ? Merge(a, b) : items[0].Process(a, b, addSpecialTokens);
            for (int i = 1; i < items.Length; i++)
            {
                e = items[i].Process(e, null, addSpecialTokens);
            }
            return e;
        }
    }
}
