using System.Text;
using PeftSharp.Text.Templates;

namespace PeftSharp.Text.Tests.Templates;

/// <summary>Randomly damaged templates must either render or fail with a TemplateException, never crash or hang.</summary>
public sealed class RobustnessTests
{
    private const string Template = """
        {%- set ns = namespace(n=0, last=-1) %}
        {%- macro show(m, sep=': ') %}{{ m.role ~ sep ~ (m.content | trim) }}{% endmacro %}
        {%- for m in messages[::-1] if m.role != 'tool' %}
            {%- set ns.n = ns.n + loop.index0 %}
            {%- if m.content is string and '</think>' in m.content %}
                {{- m.content.split('</think>')[-1].lstrip('\n') }}
            {%- elif m.tool_calls is defined %}
                {{- m.tool_calls | tojson(indent=2) }}
            {%- else %}
                {{- show(m) ~ '|' ~ loop.length ~ (m.extra or {}) | length }}
            {%- endif %}
        {%- endfor %}
        {{- ns.n }}{{ raise_exception('stop') if ns.n > 99 }}{# done #}
        {%- if add_generation_prompt %}{{ '<assistant>' + bos_token|default('') }}{% endif %}
        """;

    private static readonly string[] Pieces =
        ["{{", "}}", "{%", "%}", "{#", "#}", "-", "+", "(", ")", "[", "]", "{", "}", "'", "\"", "\\", "|", ".", ":", ",",
         " is ", " not ", " in ", " if ", " else ", "endif", "endfor", "for ", "set ", "=", "*", "**", "//", "%", "~", "0",
         "1e400", "loop", "ns", "messages", "\n", "raw", "endraw", "macro ", "call", "tojson", "range(", "none"];

    [Fact]
    public void MutatedTemplates_RenderOrFailWithTemplateException()
    {
        var context = new List<KeyValuePair<string, object?>>
        {
            new("messages", new List<object?>
            {
                Jinja.Dict(("role", "user"), ("content", "  hi ")),
                Jinja.Dict(("role", "assistant"), ("content", "<think>x</think>\n\nok")),
                Jinja.Dict(("role", "assistant"), ("content", ""), ("tool_calls", new List<object?> { Jinja.Dict(("name", "f"), ("arguments", Jinja.Dict(("a", 1.5)))) })),
                Jinja.Dict(("role", "tool"), ("content", "{}")),
            }),
            new("add_generation_prompt", true),
        };
        // Unmutated: reversed messages without the tool turn; tool calls as indented JSON, the think-stripped reply,
        // then the user turn via the macro, ns.n = 0 + 1 + 2, and the generation prompt with an undefined bos_token.
        Assert.Equal("[\n  {\n    \"name\": \"f\",\n    \"arguments\": {\n      \"a\": 1.5\n    }\n  }\n]okuser: hi|303<assistant>",
            ChatTemplate.Parse(Template).Render(context));

        var rng = new Random(12345);
        int rendered = 0, failed = 0;
        for (int i = 0; i < 1500; i++)
        {
            var sb = new StringBuilder(Template);
            for (int e = rng.Next(1, 4); e > 0; e--)
            {
                int pos = rng.Next(sb.Length);
                switch (rng.Next(3))
                {
                    case 0:
                        sb.Remove(pos, Math.Min(rng.Next(1, 6), sb.Length - pos));
                        break;
                    case 1:
                        sb.Insert(pos, Pieces[rng.Next(Pieces.Length)]);
                        break;
                    default:
                        sb.Insert(pos, (char)rng.Next(32, 127));
                        break;
                }
            }
            try
            {
                ChatTemplate.Parse(sb.ToString()).WithMaxLoopIterations(10_000).Render(context);
                rendered++;
            }
            catch (TemplateException)
            {
                failed++;
            }
        }
        // Both outcomes occur, so the mutations exercise the renderer as well as the parser's error paths.
        Assert.True(rendered > 100 && failed > 100, $"rendered {rendered}, failed {failed}");
    }
}
