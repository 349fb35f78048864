using System.Text;

namespace PeftSharp.Text.Tokenization;

/// <summary>A tokenizer.json decoder: a step of the chain that turns token strings back into text.</summary>
internal abstract class Decoder
{
    /// <summary>Rewrites the list of token strings (Hugging Face <c>decode_chain</c>).</summary>
    public abstract List<string> DecodeChain(List<string> tokens);

    public string Decode(List<string> tokens) => string.Concat(DecodeChain(tokens));

    /// <summary>Byte-level characters back to bytes, then UTF-8 with U+FFFD for invalid sequences.</summary>
    internal sealed class ByteLevel : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var bytes = new List<byte>();
            Span<byte> utf8 = stackalloc byte[4];
            foreach (var t in tokens)
            {
                bool all = true;
                foreach (char c in t)
                {
                    if (!ByteLevelAlphabet.CharToByte.ContainsKey(c))
                    {
                        all = false;
                        break;
                    }
                }
                if (all)
                {
                    foreach (char c in t)
                    {
                        bytes.Add(ByteLevelAlphabet.CharToByte[c]);
                    }
                }
                else
                {
                    bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(t));
                }
            }
            return [System.Text.Encoding.UTF8.GetString(bytes.ToArray())];
        }
    }

    /// <summary>Turns <c>&lt;0xNN&gt;</c> tokens into bytes; a run that is not valid UTF-8 gives one U+FFFD per byte.</summary>
    internal sealed class ByteFallback : Decoder
    {
        private static readonly UTF8Encoding Strict = new(false, true);

        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            var pending = new List<byte>();
            foreach (var t in tokens)
            {
                if (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>' &&
                    byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
                {
                    pending.Add(b);
                    continue;
                }
                Flush(pending, result);
                result.Add(t);
            }
            Flush(pending, result);
            return result;
        }

        private static void Flush(List<byte> pending, List<string> result)
        {
            if (pending.Count == 0)
            {
                return;
            }
            try
            {
                result.Add(Strict.GetString(pending.ToArray()));
            }
            catch (DecoderFallbackException)
            {
                for (int i = 0; i < pending.Count; i++)
                {
                    result.Add("\uFFFD");
                }
            }
            pending.Clear();
        }
    }

    /// <summary>Joins all tokens into one.</summary>
    internal sealed class Fuse : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
    }

    /// <summary>Removes up to <c>start</c> leading and <c>stop</c> trailing occurrences of a character from each token.</summary>
    internal sealed class Strip(char content, int start, int stop) : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            foreach (var t in tokens)
            {
                int a = 0, b = t.Length;
                for (int i = 0; i < start && a < b && t[a] == content; i++)
                {
                    a++;
                }
                for (int i = 0; i < stop && b > a && t[b - 1] == content; i++)
                {
                    b--;
                }
                result.Add(t[a..b]);
            }
            return result;
        }
    }

    /// <summary>Replaces a literal or regex pattern in each token.</summary>
    internal sealed class Replace(SplitPattern pattern, string content) : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            var spans = new List<PatternSpan>();
            foreach (var t in tokens)
            {
                spans.Clear();
                pattern.FindMatches(t, spans);
                var sb = new StringBuilder(t.Length);
                foreach (var sp in spans)
                {
                    if (sp.IsMatch)
                    {
                        sb.Append(content);
                    }
                    else
                    {
                        sb.Append(t, sp.Start, sp.End - sp.Start);
                    }
                }
                result.Add(sb.ToString());
            }
            return result;
        }
    }

    /// <summary>The metaspace character back to spaces; on the first token it is dropped unless the prepend scheme is "never".</summary>
    internal sealed class Metaspace(char replacement, bool dropOnFirst) : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            for (int i = 0; i < tokens.Count; i++)
            {
                var sb = new StringBuilder(tokens[i].Length);
                foreach (char c in tokens[i])
                {
                    if (c == replacement)
                    {
                        if (i != 0 || !dropOnFirst)
                        {
                            sb.Append(' ');
                        }
                    }
                    else
                    {
                        sb.Append(c);
                    }
                }
                result.Add(sb.ToString());
            }
            return result;
        }
    }

    /// <summary>WordPiece: continuation prefix removed, other tokens preceded by a space, optional cleanup.</summary>
    internal sealed class WordPiece(string prefix, bool cleanup) : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            for (int i = 0; i < tokens.Count; i++)
            {
                string t = tokens[i];
                if (i != 0)
                {
                    t = t.StartsWith(prefix, StringComparison.Ordinal) ? t[prefix.Length..] : " " + t;
                }
                result.Add(cleanup ? Cleanup(t) : t);
            }
            return result;
        }

        internal static string Cleanup(string s) => s
            .Replace(" .", ".", StringComparison.Ordinal).Replace(" ?", "?", StringComparison.Ordinal)
            .Replace(" !", "!", StringComparison.Ordinal).Replace(" ,", ",", StringComparison.Ordinal)
            .Replace(" ' ", "'", StringComparison.Ordinal).Replace(" n't", "n't", StringComparison.Ordinal)
            .Replace(" 'm", "'m", StringComparison.Ordinal).Replace(" do not", " don't", StringComparison.Ordinal)
            .Replace(" 's", "'s", StringComparison.Ordinal).Replace(" 've", "'ve", StringComparison.Ordinal)
            .Replace(" 're", "'re", StringComparison.Ordinal);
    }

    /// <summary>BPE with an end-of-word suffix: the suffix becomes a space (none after the last token).</summary>
    internal sealed class Bpe(string suffix) : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            for (int i = 0; i < tokens.Count; i++)
            {
                result.Add(tokens[i].Replace(suffix, i == tokens.Count - 1 ? "" : " ", StringComparison.Ordinal));
            }
            return result;
        }
    }

    internal sealed class Sequence(Decoder[] items) : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            foreach (var d in items)
            {
                tokens = d.DecodeChain(tokens);
            }
            return tokens;
        }
    }
}
