using System.Text.Json;
using System.Text.Json.Nodes;
using PeftSharp.Text.Templates;

namespace PeftSharp.Text.Tests.Templates;

public sealed class ChatTemplateApiTests
{
    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;

        public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
    }

    [Fact]
    public void Render_AcceptsJsonElementsNodesAndClrValues()
    {
        var t = ChatTemplate.Parse("{% for m in messages %}{{ m.role }}:{{ m.content }}|{% endfor %}{{ n + 1 }} {{ f }} {{ flag }}");
        var json = JsonDocument.Parse("""[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]""").RootElement;
        var node = JsonNode.Parse("""[{"role": "user", "content": "hi"}]""")!;
        Assert.Equal("user:hi|assistant:yo|3 1.5 True", t.Render([new("messages", json), new("n", 2), new("f", 1.5f), new("flag", true)]));
        Assert.Equal("user:hi|3 0.25 False", t.Render([new("messages", node), new("n", (byte)2), new("f", 0.25m), new("flag", false)]));
    }

    [Fact]
    public void Render_JsonObjectsKeepKeyOrderAndNumberKinds()
    {
        var json = JsonDocument.Parse("""{"z": 1, "a": 2.0, "m": [1e2, -0, 10.5]}""").RootElement;
        Assert.Equal("{\"z\": 1, \"a\": 2.0, \"m\": [100.0, 0, 10.5]}", ChatTemplate.Parse("{{ x|tojson }}").Render([new("x", json)]));
    }

    [Fact]
    public void Render_IsRepeatableAndIndependentPerCall()
    {
        var t = ChatTemplate.Parse("{% set ns = namespace(n=0) %}{% for i in xs %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}");
        Assert.Equal("6", t.Render([new("xs", new[] { 1, 2, 3 })]));
        Assert.Equal("6", t.Render([new("xs", new[] { 1, 2, 3 })]));
        Assert.Equal("0", t.Render([new("xs", Array.Empty<int>())]));
    }

    [Fact]
    public void StrftimeNow_UsesTheGivenClock()
    {
        var clock = new FixedClock(new DateTimeOffset(2024, 3, 5, 14, 7, 9, TimeSpan.Zero));
        var t = ChatTemplate.Parse("{{ strftime_now('%Y-%m-%d %H:%M:%S %b %B %a %A %-d %I%p %j %%') }}");
        Assert.Equal("2024-03-05 14:07:09 Mar March Tue Tuesday 5 02PM 065 %", t.Render([], clock));
    }

    [Fact]
    public void ApplyChatTemplate_BuildsTransformersContext()
    {
        var config = TokenizerConfig.Parse("""
            {"bos_token": "<s>", "eos_token": "</s>",
             "chat_template": "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}{{ tools is none }}{{ documents is none }}{{ extra }}"}
            """);
        var messages = JsonDocument.Parse("""[{"role": "user", "content": "Hi"}]""").RootElement;
        Assert.Equal("<s>[user]Hi</s>[assistant]TrueTrue42", ChatTemplate.ApplyChatTemplate(config, messages, true, [new("extra", 42)]));
        Assert.Equal("<s>[user]Hi</s>TrueTrue", ChatTemplate.ApplyChatTemplate(config, messages, false));
    }

    [Fact]
    public void BuildContext_FollowsSpecialTokensMap()
    {
        var config = TokenizerConfig.Parse("""{"bos_token": "", "eos_token": "</s>", "additional_special_tokens": ["<a>", "<b>"]}""");
        var names = ChatTemplate.BuildContext(config, new List<object?>(), false).Select(kv => kv.Key);
        Assert.Equal(["messages", "add_generation_prompt", "tools", "documents", "eos_token", "additional_special_tokens"], names);
        var t = ChatTemplate.Parse("{{ bos_token is defined }}|{{ additional_special_tokens|join(',') }}");
        Assert.Equal("False|<a>,<b>", t.Render(ChatTemplate.BuildContext(config, new List<object?>(), false)));
    }
}
