using System.Text.RegularExpressions;
using PeftSharp.Text.Tokenization;
using PeftSharp.Text.Tokenization.Unicode;

namespace PeftSharp.Text.Tests.Tokenization;

public sealed class TokenizerBehaviourTests
{
    private static List<(int, int)> Spans(SplitPattern p, string text)
    {
        var spans = new List<PatternSpan>();
        p.FindMatches(text, spans);
        return spans.Where(s => s.IsMatch).Select(s => (s.Start, s.End)).ToList();
    }

    private static List<(int, int)> RegexSpans(string pattern, string text) =>
        Regex.Matches(text, pattern).Select(m => (m.Index, m.Index + m.Length)).ToList();

    [Theory]
    [InlineData(WellKnownPattern.Gpt2)]
    [InlineData(WellKnownPattern.Llama3)]
    [InlineData(WellKnownPattern.Qwen2)]
    public void WellKnownScanner_MatchesRegexEngineOnBmpText(string pattern)
    {
        // .NET's regex engine is the independent reference on BMP text (where it sees whole code points).
        var scanner = WellKnownPattern.For(pattern)!;
        var alphabet = "aZé9٣ \t\n\r\u00A0\u3000'sStTrReEvVmMlLdD!?.,-_\"(){}中文ñ\u0301\u200B";
        var rng = new Random(1234);
        for (int n = 0; n < 3000; n++)
        {
            var chars = new char[rng.Next(0, 24)];
            for (int i = 0; i < chars.Length; i++)
            {
                chars[i] = alphabet[rng.Next(alphabet.Length)];
            }
            var text = new string(chars);
            Assert.Equal(RegexSpans(pattern, text), Spans(scanner, text));
        }
    }

    [Fact]
    public void WellKnownScanner_TreatsAstralLettersAsOneLetter()
    {
        // U+20000 (CJK Ext B, Lo) and U+1D400 (math bold A, Lu) are letters: one word with the preceding space.
        var text = " \U00020000\U0001D400x 😀😀";
        var spans = Spans(WellKnownPattern.For(WellKnownPattern.Llama3)!, text);
        Assert.Equal([(0, 6), (6, 11)], spans);
    }

    [Fact]
    public void RegexPattern_MapsAstralCharactersToWholeCodePoints()
    {
        var spans = Spans(new RegexPattern(@"\p{L}+"), "a\U00020000b 1");
        Assert.Equal([(0, 4)], spans);
    }

    [Theory]
    [InlineData(0, "e\u0301\u0323", "\u1EB9\u0301")]
    [InlineData(1, "\u00C5", "A\u030A")]
    [InlineData(2, "\uFB01 \u3392", "fi MHz")]
    [InlineData(3, "\u00BD", "1\u20442")]
    [InlineData(0, "\u1100\u1161\u11A8", "\uAC01")]
    [InlineData(1, "\uAC01", "\u1100\u1161\u11A8")]
    public void UnicodeNormalizer_GivesTheStandardForm(int form, string input, string expected)
    {
        // Expected values are from the Unicode standard's tables (checked with Python's unicodedata).
        var s = new NormalizedString();
        s.Reset(input, 0);
        new Normalizer.UnicodeForm((NormalForm)form).Normalize(s);
        Assert.Equal(expected, s.ToString());
        // Every output char maps back inside the input.
        for (int i = 0; i < s.Length; i++)
        {
            Assert.InRange(s.StartOf(i), 0, input.Length);
            Assert.InRange(s.EndOf(i), s.StartOf(i), input.Length);
        }
    }

    [Fact]
    public void Lowercase_UsesFullMapping()
    {
        var s = new NormalizedString();
        s.Reset("İ\U00010400A", 0);
        new Normalizer.Lowercase().Normalize(s);
        Assert.Equal("i\u0307\U00010428a", s.ToString());
    }

    private const string TinyBpe = """
    {"version":"1.0","added_tokens":[{"id":5,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
     "normalizer":null,"pre_tokenizer":{"type":"Whitespace"},
     "post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
       "pair":[{"Sequence":{"id":"A","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],"special_tokens":{"<s>":{"id":"<s>","ids":[5],"tokens":["<s>"]}}},
     "decoder":null,
     "model":{"type":"BPE","unk_token":"?","vocab":{"a":0,"b":1,"ab":2,"?":3,"abab":4},"merges":["a b","ab ab"]}}
    """;

    [Fact]
    public void Encode_GivesIdsTokensAndOffsetsIntoTheInput()
    {
        var t = Tokenizer.FromJson(TinyBpe);
        var e = t.Encode("abab  ab<s>c");
        Assert.Equal([5, 4, 2, 5, 3], e.Ids);
        Assert.Equal(["<s>", "abab", "ab", "<s>", "?"], e.Tokens);
        Assert.Equal([(0, 0), (0, 4), (6, 8), (8, 11), (11, 12)], e.Offsets);
        Assert.Equal([1, 0, 0, 0, 0], e.SpecialTokensMask);
        Assert.Equal("abab ab c", t.Decode([4, 2, 5, 3], skipSpecialTokens: true).Replace("?", "c"));
    }

    [Fact]
    public void EncodeBatch_PadsToLongestAndTruncates()
    {
        var t = Tokenizer.FromJson(TinyBpe);
        var batch = t.EncodeBatch(["ab", "ab ab ab ab"], padding: new PaddingOptions(PadId: 3, PadToken: "?"),
            truncation: new TruncationOptions(3, Stride: 1));
        Assert.Equal([5, 2, 3], batch[0].Ids);
        Assert.Equal([1, 1, 0], batch[0].AttentionMask);
        Assert.Equal([5, 2, 2], batch[1].Ids);
        // Windows of 2 text tokens sharing 1: [ab ab] [ab ab] [ab ab].
        Assert.Equal(2, batch[1].Overflowing.Count);
        Assert.All(batch[1].Overflowing, o => Assert.Equal([5, 2, 2], o.Ids));
    }

    [Theory]
    [InlineData("\"normalizer\":null", "\"normalizer\":{\"type\":\"Precompiled\"}", "normalizer type 'Precompiled'")]
    [InlineData("\"decoder\":null", "\"decoder\":{\"type\":\"CTC\"}", "decoder type 'CTC'")]
    [InlineData("\"type\":\"BPE\"", "\"type\":\"Mystery\"", "model type 'Mystery'")]
    [InlineData("\"merges\":[\"a b\",", "\"merges\":[\"a x\",", "merge 0")]
    public void FromJson_RejectsUnsupportedOrBrokenParts_NamingThem(string find, string replace, string expected)
    {
        var ex = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromJson(TinyBpe.Replace(find, replace)));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void FromJson_RejectsTruncatedJson() =>
        Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromJson(TinyBpe[..(TinyBpe.Length / 2)]));
}
