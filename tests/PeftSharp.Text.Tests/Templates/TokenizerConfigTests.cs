using PeftSharp.Text.Templates;

namespace PeftSharp.Text.Tests.Templates;

public sealed class TokenizerConfigTests
{
    [Fact]
    public void Parse_ReadsTokensFlagsAndTemplate()
    {
        var c = TokenizerConfig.Parse("""
            {
              "bos_token": "<s>",
              "eos_token": {"content": "</s>", "lstrip": false, "__type": "AddedToken"},
              "unk_token": null,
              "pad_token": "<pad>",
              "additional_special_tokens": ["<a>", {"content": "<b>"}],
              "clean_up_tokenization_spaces": true,
              "add_bos_token": true,
              "add_eos_token": false,
              "model_max_length": 4096,
              "some_unknown_field": {"nested": [1, 2, 3]},
              "chat_template": "{{ bos_token }}"
            }
            """);
        Assert.Equal("<s>", c.BosToken);
        Assert.Equal("</s>", c.EosToken);
        Assert.Null(c.UnkToken);
        Assert.Equal("<pad>", c.PadToken);
        Assert.Null(c.MaskToken);
        Assert.Equal(["<a>", "<b>"], c.AdditionalSpecialTokens);
        Assert.Equal(["bos_token", "eos_token", "pad_token"], c.SpecialTokens.Select(kv => kv.Key));
        Assert.True(c.CleanUpTokenizationSpaces);
        Assert.True(c.AddBosToken);
        Assert.False(c.AddEosToken);
        Assert.Equal(4096, c.ModelMaxLength);
        Assert.Equal("{{ bos_token }}", c.ChatTemplate);
        Assert.Equal("<s>", ChatTemplate.ApplyChatTemplate(c, new List<object?>(), false));
    }

    [Fact]
    public void Parse_AbsentFieldsAreNull()
    {
        var c = TokenizerConfig.Parse("{}");
        Assert.Null(c.ChatTemplate);
        Assert.Null(c.GetChatTemplate());
        Assert.Empty(c.SpecialTokens);
        Assert.Null(c.CleanUpTokenizationSpaces);
        Assert.Null(c.ModelMaxLength);
        Assert.Contains("no 'chat_template'", Assert.Throws<InvalidOperationException>(() => ChatTemplate.ApplyChatTemplate(c, new List<object?>(), false)).Message);
    }

    [Fact]
    public void ModelMaxLength_HugeSentinelSaturates() =>
        Assert.Equal(long.MaxValue, TokenizerConfig.Parse("""{"model_max_length": 1000000000000000019884624838656}""").ModelMaxLength);

    [Fact]
    public void NamedTemplates_DefaultNamedAndToolUse()
    {
        var c = TokenizerConfig.Parse("""
            {"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T{{ tools|length }}"}, {"name": "rag", "template": "R"}]}
            """);
        Assert.Equal("D", c.ChatTemplate);
        Assert.Equal("R", c.GetChatTemplate("rag"));
        Assert.Contains("'missing'", Assert.Throws<InvalidOperationException>(() => c.GetChatTemplate("missing")).Message);
        Assert.Equal("D", ChatTemplate.ApplyChatTemplate(c, new List<object?>(), false));
        Assert.Equal("T1", ChatTemplate.ApplyChatTemplate(c, new List<object?>(), false, [new("tools", new List<object?> { "f" })]));
        Assert.Equal("R", ChatTemplate.ApplyChatTemplate(c, new List<object?>(), false, templateName: "rag"));
    }

    [Fact]
    public void NamedTemplates_WithoutDefaultNeedAName()
    {
        var c = TokenizerConfig.Parse("""{"chat_template": [{"name": "a", "template": "A"}, {"name": "b", "template": "B"}]}""");
        Assert.Null(c.ChatTemplate);
        Assert.Contains("none named 'default'", Assert.Throws<InvalidOperationException>(() => c.GetChatTemplate()).Message);
    }

    [Theory]
    [InlineData("""{"bos_token": 5}""", "'bos_token'")]
    [InlineData("""{"eos_token": {"lstrip": true}}""", "'eos_token'")]
    [InlineData("""{"additional_special_tokens": "x"}""", "'additional_special_tokens'")]
    [InlineData("""{"additional_special_tokens": ["a", 3]}""", "'additional_special_tokens[1]'")]
    [InlineData("""{"clean_up_tokenization_spaces": "yes"}""", "'clean_up_tokenization_spaces'")]
    [InlineData("""{"add_bos_token": 1}""", "'add_bos_token'")]
    [InlineData("""{"model_max_length": "big"}""", "'model_max_length'")]
    [InlineData("""{"model_max_length": -1}""", "'model_max_length'")]
    [InlineData("""{"chat_template": 3}""", "'chat_template'")]
    [InlineData("""{"chat_template": [{"name": "a"}]}""", "'chat_template[0]'")]
    [InlineData("""{"chat_template": [{"name": "a", "template": "x"}, {"name": "a", "template": "y"}]}""", "'a' twice")]
    [InlineData("""[1, 2]""", "JSON object")]
    [InlineData("""{"bos_token": """, "not valid JSON")]
    public void Parse_MalformedFieldsNameTheField(string json, string expected) =>
        Assert.Contains(expected, Assert.Throws<FormatException>(() => TokenizerConfig.Parse(json)).Message);
}
