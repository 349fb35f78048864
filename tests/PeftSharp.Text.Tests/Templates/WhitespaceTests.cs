using static PeftSharp.Text.Tests.Templates.Jinja;

namespace PeftSharp.Text.Tests.Templates;

/// <summary>
/// trim_blocks + lstrip_blocks as transformers sets them. Expected strings are those of Jinja2's own test
/// suite (tests/test_lexnparse.py, TestLstripBlocks / TestTrimBlocks with both options on) or follow from the
/// documented rules.
/// </summary>
public sealed class WhitespaceTests
{
    private static readonly (string, object?)[] Kvs =
        [("kvs", new List<object?> { new object?[] { "a", 1L }, new object?[] { "b", 2L } })];

    [Theory]
    [InlineData("    {% if True %}\n    {% endif %}", "")]
    [InlineData("    {% if True +%}\n    {% endif %}", "\n")]
    [InlineData("    {% if True %}\na {% if True %}\nb {% endif %}\nc {% endif %}", "a b c ")]
    [InlineData("    {% if True +%}\na {% if True +%}\nb {% endif +%}\nc {% endif %}", "\na \nb \nc ")]
    [InlineData(" {# 1 space #}\n  {# 2 spaces #}    {# 4 spaces #}", "    ")]
    [InlineData("    {# comment #}\n\n  ", "\n  ")]
    [InlineData("    {# comment +#}\n\n  ", "\n\n  ")]
    [InlineData("   {# comment #}\n\n{# comment2 #}\n   \n{# comment3 #}\n\n ", "\n   \n\n ")]
    [InlineData("   {# comment +#}\n\n{# comment2 +#}\n   \n{# comment3 +#}\n\n ", "\n\n\n   \n\n\n ")]
    [InlineData("    {% set x = \" {% str %} \" %}{{ x }}", " {% str %} ")]
    [InlineData("\n\n\n{% set hello = 1 %}", "\n\n\n")]
    [InlineData("{% set foo = 0 %}{% for item in [1, 2] %}{% set foo = 1 %}{% endfor %}{{ foo }}", "0")]
    public void Jinja2SuiteCases_RenderAsJinja2(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Fact]
    public void LstripTrim_KeyValuesOutsideWithNewLine() =>
        Assert.Equal("(\na=1 b=2   )", Render("  {% if kvs %}(\n   {% for k, v in kvs %}{{ k }}={{ v }} {% endfor %}\n  ){% endif %}", Kvs));

    [Fact]
    public void LstripTrim_KeyValuesInsideWithNewLine() =>
        Assert.Equal("  (a=1 b=2 )", Render("  ({% if kvs %}\n   {% for k, v in kvs %}{{ k }}={{ v }} {% endfor %}\n  {% endif %})", Kvs));

    [Fact]
    public void LstripTrim_KeyValuesWithoutNewLine() =>
        Assert.Equal("   a=1 b=2   ", Render("  {% if kvs %}   {% for k, v in kvs %}{{ k }}={{ v }} {% endfor %}  {% endif %}", Kvs));

    [Fact]
    public void Raw_TrimAndLstripApplyAroundRawTags()
    {
        Assert.Equal("1 2", Render("{{x}}\n{%- raw %} {% endraw -%}\n{{ y }}", ("x", 1), ("y", 2)));
        Assert.Equal("1\n\n\n2", Render("{{x}}{% raw %}\n\n    {% endraw %}\n\n{{ y }}", ("x", 1), ("y", 2)));
        Assert.Equal("{{ not parsed }}{% if %}", Render("{% raw %}{{ not parsed }}{% if %}{% endraw %}"));
    }

    [Theory]
    [InlineData("a   {{- 'b' -}}   c", "abc")]
    [InlineData("a \n {%- if true -%} \n b {%- endif %}", "ab")]
    [InlineData("a {#- comment -#} b", "ab")]
    [InlineData("{{ 'a' }}\nb", "a\nb")]
    [InlineData("  {{ 'x' }}", "  x")]
    [InlineData("x\n", "x")]
    [InlineData("x\n\n", "x\n")]
    [InlineData("a\r\nb\rc", "a\nb\nc")]
    [InlineData("{% if true %}\nhello\n{% endif %}\n", "hello\n")]
    [InlineData("a\n    {% if true %}\n    b\n    {% endif %}\nc", "a\n    b\nc")]
    [InlineData("{{ 'a\r\nb' }}", "a\nb")]
    public void WhitespaceControl_FollowsJinja2Rules(string template, string expected) =>
        Assert.Equal(expected, Render(template));
}
