using PeftSharp.Text.Templates;
using PeftSharp.Training.Data;

namespace PeftSharp.Training.Tests.Data;

public sealed class ExampleTokenizerTests
{
    private const int Ignore = ExampleTokenizer.IgnoreIndex;

    private static ExampleTokenizer Make(string name, TokenizationOptions? options = null, TokenizerConfig? config = null)
    {
        var (tok, cfg) = TestTokenizers.Get(name);
        return new ExampleTokenizer(tok, config ?? cfg, options);
    }

    [Fact]
    public void Text_Gpt2_IdsAreTheTextThenEos_LabelsEverywhere()
    {
        var (tok, _) = TestTokenizers.Get("synthetic-gpt2");
        var ex = Make("synthetic-gpt2");
        const string text = "Hello world, this is a test.";
        int eos = tok.TokenToId("<|endoftext|>")!.Value;
        int[] expected = [.. tok.Encode(text, addSpecialTokens: false).Ids, eos];
        var e = ex.Tokenize(new TextRecord("f", 1, text));
        Assert.Equal(expected, e.InputIds);
        Assert.Equal(expected, e.Labels);
        Assert.Empty(ex.PrefixIds);
        Assert.Equal(eos, ex.PadId); // no pad_token: EOS pads
    }

    [Fact]
    public void Text_Unigram_PostProcessorEosIsNotDuplicated()
    {
        var (tok, _) = TestTokenizers.Get("synthetic-unigram");
        var ex = Make("synthetic-unigram");
        var e = ex.Tokenize(new TextRecord("f", 1, "some words here"));
        // "$A </s>": the post-processor already ends with the EOS token.
        Assert.Equal(tok.Encode("some words here", addSpecialTokens: true).Ids, e.InputIds);
        Assert.Equal(tok.TokenToId("</s>"), e.InputIds[^1]);
        Assert.Equal(tok.TokenToId("<pad>"), ex.PadId);
    }

    [Fact]
    public void AddBosToken_FromConfig_PutsBosFirst()
    {
        var (tok, _) = TestTokenizers.Get("synthetic-gpt2");
        var config = TokenizerConfig.Parse("{\"bos_token\": \"<|endoftext|>\", \"eos_token\": \"<|endoftext|>\", \"add_bos_token\": true}");
        var ex = new ExampleTokenizer(tok, config, new TokenizationOptions { AppendEos = false });
        var e = ex.Tokenize(new TextRecord("f", 1, "abc"));
        Assert.Equal([tok.TokenToId("<|endoftext|>")!.Value, .. tok.Encode("abc", false).Ids], e.InputIds);
    }

    [Fact]
    public void PromptCompletion_LossOnlyOnCompletionAndEos()
    {
        var (tok, _) = TestTokenizers.Get("synthetic-gpt2");
        var ex = Make("synthetic-gpt2");
        var prompt = tok.Encode("Question: what is two plus two?", false).Ids;
        var completion = tok.Encode(" Four.", false).Ids;
        int eos = tok.TokenToId("<|endoftext|>")!.Value;
        var e = ex.Tokenize(new PromptCompletionRecord("f", 1, "Question: what is two plus two?", " Four."));
        Assert.Equal([.. prompt, .. completion, eos], e.InputIds);
        Assert.Equal([.. prompt.Select(_ => Ignore), .. completion, eos], e.Labels);
        Assert.Equal(" Four.<|endoftext|>", tok.Decode(e.Labels.Where(l => l != Ignore)));
    }

    [Fact]
    public void PromptCompletion_WordPiece_SpecialsFrameTheSequence()
    {
        var (tok, _) = TestTokenizers.Get("synthetic-wordpiece");
        var ex = Make("synthetic-wordpiece");
        var e = ex.Tokenize(new PromptCompletionRecord("f", 1, "hello there", "general kenobi"));
        int cls = tok.TokenToId("[CLS]")!.Value, sep = tok.TokenToId("[SEP]")!.Value;
        var p = tok.Encode("hello there", false).Ids;
        var c = tok.Encode("general kenobi", false).Ids;
        Assert.Equal([cls, .. p, .. c, sep], e.InputIds);
        Assert.Equal([Ignore, .. p.Select(_ => Ignore), .. c, sep], e.Labels);
    }

    [Fact]
    public void Truncation_KeepsTheStart_DropsAppendedEos()
    {
        var (tok, _) = TestTokenizers.Get("synthetic-gpt2");
        const string text = "one two three four five six seven eight nine ten eleven twelve";
        var full = tok.Encode(text, false).Ids;
        Assert.True(full.Count > 6);
        var e = Make("synthetic-gpt2", new TokenizationOptions { MaxLength = 6 }).Tokenize(new TextRecord("f", 1, text));
        Assert.Equal(full.Take(6), e.InputIds);
        Assert.Equal(full.Take(6), e.Labels);
        // Exactly fitting text keeps its EOS.
        var fit = Make("synthetic-gpt2", new TokenizationOptions { MaxLength = full.Count + 1 }).Tokenize(new TextRecord("f", 1, text));
        Assert.Equal(tok.TokenToId("<|endoftext|>"), fit.InputIds[^1]);
    }

    [Fact]
    public void Truncation_KeepsClosingSpecialToken()
    {
        var (tok, _) = TestTokenizers.Get("synthetic-wordpiece");
        var ex = Make("synthetic-wordpiece", new TokenizationOptions { MaxLength = 5 });
        var e = ex.TokenizeClassification(new ClassificationRecord("f", 1, "the quick brown fox jumps over the lazy dog", RawLabel.FromId(1)), 1);
        var body = tok.Encode("the quick brown fox jumps over the lazy dog", false).Ids;
        Assert.Equal([tok.TokenToId("[CLS]")!.Value, .. body.Take(3), tok.TokenToId("[SEP]")!.Value], e.InputIds);
        Assert.Equal(1, e.Label);
    }

    [Fact]
    public void Truncation_PromptFillingEverything_LeavesNoLabels()
    {
        var e = Make("synthetic-gpt2", new TokenizationOptions { MaxLength = 3 })
            .Tokenize(new PromptCompletionRecord("f", 1, "a very long prompt indeed", "answer"));
        Assert.Equal(3, e.Length);
        Assert.Equal(0, e.SupervisedTokens);
    }

    [Fact]
    public void MaxLength_TooSmallForSpecials_IsRejected()
    {
        Assert.Throws<ArgumentException>(() => Make("synthetic-wordpiece", new TokenizationOptions { MaxLength = 2 }));
    }

    [Fact]
    public void Chat_WithoutTemplate_NamesTheRecord()
    {
        var e = Assert.Throws<DataFormatException>(() => Make("synthetic-gpt2").Tokenize(
            new ChatRecord("chat.jsonl", 12, [new ChatMessage("user", "hi"), new ChatMessage("assistant", "yo")])));
        Assert.Equal(("chat.jsonl", 12L), (e.FilePath, e.LineNumber));
    }

    [Fact]
    public void Chat_TemplateRaising_IsADataError()
    {
        var (tok, _) = TestTokenizers.Get("synthetic-gpt2");
        var config = TokenizerConfig.Parse("{\"eos_token\": \"<|endoftext|>\", \"chat_template\": \"{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('no tools') }}{% endif %}{{ m.content }}{% endfor %}\"}");
        var ex = new ExampleTokenizer(tok, config);
        var e = Assert.Throws<DataFormatException>(() => ex.Tokenize(new ChatRecord("c.jsonl", 3, [new ChatMessage("tool", "x")])));
        Assert.Equal(3, e.LineNumber);
        Assert.Contains("no tools", e.Problem);
    }

    [Fact]
    public void Chat_SimpleTemplate_MasksEverythingButAssistantAndEndToken()
    {
        var (tok, _) = TestTokenizers.Get("synthetic-gpt2");
        // A template that trims content and writes an end-of-text special token after each assistant turn.
        var config = TokenizerConfig.Parse("{\"eos_token\": \"<|endoftext|>\", \"chat_template\": "
            + "\"{% for m in messages %}{{ m.role | upper }}: {{ m.content | trim }}{% if m.role == 'assistant' %}<|endoftext|>{% endif %} ;{% endfor %}\"}");
        var ex = new ExampleTokenizer(tok, config);
        var e = ex.Tokenize(new ChatRecord("c", 1, [new ChatMessage("user", "What is up?"), new ChatMessage("assistant", "  Not much.  "),
            new ChatMessage("user", "Bye"), new ChatMessage("assistant", "See you")]));
        Assert.Equal("USER: What is up? ;ASSISTANT: Not much.<|endoftext|> ;USER: Bye ;ASSISTANT: See you<|endoftext|> ;", tok.Decode(e.InputIds));
        Assert.Equal(["Not much.<|endoftext|>", "See you<|endoftext|>"], LabelledRuns(tok, e).Select(r => r.Trim(' ')));
    }

    /// <summary>Decoded text of each maximal run of labelled positions.</summary>
    internal static List<string> LabelledRuns(PeftSharp.Text.Tokenization.Tokenizer tok, TokenizedExample e)
    {
        var runs = new List<string>();
        var current = new List<int>();
        for (int i = 0; i <= e.Length; i++)
        {
            if (i < e.Length && e.Labels[i] != Ignore)
            {
                Assert.Equal(e.InputIds[i], e.Labels[i]);
                current.Add(e.Labels[i]);
            }
            else if (current.Count > 0)
            {
                runs.Add(tok.Decode(current));
                current.Clear();
            }
        }
        return runs;
    }
}
