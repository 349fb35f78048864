using PeftSharp.Training.Data;
using Xunit.Abstractions;

namespace PeftSharp.Training.Tests.Data;

/// <summary>The assistant-only loss mask on real chat templates (llama3, qwen3 fixtures).</summary>
public sealed class ChatMaskTests(ITestOutputHelper output)
{
    private static readonly ChatMessage[] Conversation =
    [
        new("system", "You are a terse geography tutor."),
        new("user", "What is the capital of France?"),
        new("assistant", "Paris is the capital of France."),
        new("user", "And of Japan? Answer with one word."),
        new("assistant", "Tokyo"),
        new("user", "Name two rivers there, as a list."),
        new("assistant", "- Sumida\n- Tama\n\nBoth flow through Tokyo."),
    ];

    [Theory]
    [InlineData("llama3", "<|eot_id|>")]
    [InlineData("qwen3", "<|im_end|>")]
    public void MultiTurn_LabelsAreExactlyAssistantContentsAndEndOfTurn(string name, string endOfTurn)
    {
        if (TestTokenizers.TryGetShared(name, out string reason) is not { } t)
        {
            output.WriteLine($"{name} chat mask test not run: {reason}.");
            return;
        }
        var ex = new ExampleTokenizer(t.Tokenizer, t.Config);
        var e = ex.Tokenize(new ChatRecord("chat.jsonl", 1, Conversation));

        // The ids are the template's render, tokenized without added special tokens.
        string rendered = PeftSharp.Text.Templates.ChatTemplate.ApplyChatTemplate(t.Config, Conversation.Select(m => new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList(), false);
        Assert.Equal(t.Tokenizer.Encode(rendered, addSpecialTokens: false).Ids, e.InputIds);

        var runs = ExampleTokenizerTests.LabelledRuns(t.Tokenizer, e);
        var expected = Conversation.Where(m => m.Role == "assistant").Select(m => m.Content + endOfTurn).ToList();
        Assert.Equal(expected, runs);

        // Everything else is masked: the unlabelled tokens decode to the render minus the labelled runs.
        var masked = e.InputIds.Where((_, i) => e.Labels[i] == ExampleTokenizer.IgnoreIndex).ToList();
        Assert.DoesNotContain("Paris", t.Tokenizer.Decode(masked));
        Assert.Contains("capital of France?", t.Tokenizer.Decode(masked));
    }

    [Fact]
    public void Llama3_TrimmedContent_LabelsTheTrimmedText()
    {
        if (TestTokenizers.TryGetShared("llama3", out string reason) is not { } t)
        {
            output.WriteLine($"llama3 trim test not run: {reason}.");
            return;
        }
        var ex = new ExampleTokenizer(t.Tokenizer, t.Config);
        var e = ex.Tokenize(new ChatRecord("c", 1, [new("user", "hi"), new("assistant", "  Hello there!  \n")]));
        Assert.Equal(["Hello there!<|eot_id|>"], ExampleTokenizerTests.LabelledRuns(t.Tokenizer, e));
    }

    [Fact]
    public void Qwen3_ReasoningInContent_LabelsReasoningAndAnswer()
    {
        if (TestTokenizers.TryGetShared("qwen3", out string reason) is not { } t)
        {
            output.WriteLine($"qwen3 reasoning test not run: {reason}.");
            return;
        }
        var ex = new ExampleTokenizer(t.Tokenizer, t.Config);
        var e = ex.Tokenize(new ChatRecord("c", 1, [new("user", "2+2?"), new("assistant", "<think>\nadd them\n</think>\n\nIt is 4.")]));
        var runs = ExampleTokenizerTests.LabelledRuns(t.Tokenizer, e);
        var run = Assert.Single(runs);
        Assert.EndsWith("It is 4.<|im_end|>", run);
        Assert.Contains("add them", run);
        Assert.DoesNotContain("2+2?", run);
    }

    [Fact]
    public void Truncation_CutsTheRenderedConversationAtMaxLength()
    {
        if (TestTokenizers.TryGetShared("qwen3", out string reason) is not { } t)
        {
            output.WriteLine($"qwen3 truncation test not run: {reason}.");
            return;
        }
        var full = new ExampleTokenizer(t.Tokenizer, t.Config).Tokenize(new ChatRecord("c", 1, Conversation));
        var cut = new ExampleTokenizer(t.Tokenizer, t.Config, new TokenizationOptions { MaxLength = 40 }).Tokenize(new ChatRecord("c", 1, Conversation));
        Assert.Equal(full.InputIds.Take(40), cut.InputIds);
        Assert.Equal(full.Labels.Take(40), cut.Labels);
    }
}
