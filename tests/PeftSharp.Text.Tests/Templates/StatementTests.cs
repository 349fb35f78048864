using static PeftSharp.Text.Tests.Templates.Jinja;

namespace PeftSharp.Text.Tests.Templates;

/// <summary>if / for / set / namespace / macro / with / filter / generation, with Jinja2 scoping rules.</summary>
public sealed class StatementTests
{
    [Theory]
    [InlineData(1L, "one")]
    [InlineData(2L, "two")]
    [InlineData(3L, "many")]
    public void If_ElifElse_PicksFirstTrueBranch(long n, string expected) =>
        Assert.Equal(expected, Render("{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %}", ("n", n)));

    [Fact]
    public void For_ExposesLoopVariables() =>
        Assert.Equal("1 0 True False 3 3 2|2 1 False False 3 2 1|3 2 False True 3 1 0|",
            Render("{% for x in ['a', 'b', 'c'] %}{{ loop.index }} {{ loop.index0 }} {{ loop.first }} {{ loop.last }} {{ loop.length }} {{ loop.revindex }} {{ loop.revindex0 }}|{% endfor %}"));

    [Fact]
    public void For_PrevNextItemCycleAndDepth() =>
        Assert.Equal("[-a-b|a-b-c|b-c-]x1y1x1",
            Render("[{% for x in 'abc' %}{{ loop.previtem }}-{{ x }}-{{ loop.nextitem }}{% if not loop.last %}|{% endif %}{% endfor %}]{% for x in range(3) %}{{ loop.cycle('x', 'y') }}{{ loop.depth }}{% endfor %}"));

    [Fact]
    public void For_ElseRunsOnlyWhenNothingIterated()
    {
        Assert.Equal("empty", Render("{% for x in [] %}x{% else %}empty{% endfor %}"));
        Assert.Equal("12", Render("{% for x in [1, 2] %}{{ x }}{% else %}empty{% endfor %}"));
        Assert.Equal("empty", Render("{% for x in [1, 2] if x > 5 %}{{ x }}{% else %}empty{% endfor %}"));
    }

    [Fact]
    public void For_InlineFilterCountsOnlyKeptItems() =>
        Assert.Equal("1/3,3/3,5/3,", Render("{% for x in range(6) if x is odd %}{{ x }}/{{ loop.length }},{% endfor %}"));

    [Fact]
    public void For_BreakAndContinue() =>
        Assert.Equal("013", Render("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"));

    [Fact]
    public void For_UnpacksTuplesAndIteratesDictKeysAndStrings()
    {
        var d = Dict(("a", 1L), ("b", 2L));
        Assert.Equal("a=1;b=2;", Render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", ("d", d)));
        Assert.Equal("a=1;b=2;", Render("{% for k, v in d|dictsort %}{{ k }}={{ v }};{% endfor %}", ("d", d)));
        Assert.Equal("ab", Render("{% for k in d %}{{ k }}{% endfor %}", ("d", d)));
        Assert.Equal("x.y.", Render("{% for c in 'xy' %}{{ c }}.{% endfor %}"));
        Assert.Equal("", Render("{% for x in missing %}x{% endfor %}"));
    }

    [Fact]
    public void For_NestedLoopsShadowLoopVariable() =>
        Assert.Equal("1:1,1:2,2:1,2:2,", Render("{% for a in [1, 2] %}{% set outer = loop.index %}{% for b in [1, 2] %}{{ outer }}:{{ loop.index }},{% endfor %}{% endfor %}"));

    [Fact]
    public void Set_InsideLoopDoesNotLeakButInsideIfDoes()
    {
        Assert.Equal("1", Render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}"));
        Assert.Equal("2", Render("{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}"));
        Assert.Equal("inner", Render("{% for i in [1] %}{% set x = 'inner' %}{{ x }}{% endfor %}{{ x }}"));
    }

    [Fact]
    public void Set_TupleUnpackingAndBlockForm()
    {
        Assert.Equal("12", Render("{% set a, b = 1, 2 %}{{ a }}{{ b }}"));
        Assert.Equal("[a1b]", Render("{% set x %}a{{ 1 }}b{% endset %}[{{ x }}]"));
        Assert.Equal("[A1B]", Render("{% set x | upper %}a{{ 1 }}b{% endset %}[{{ x }}]"));
        Assert.Equal("[in]|", Render("{% set x %}{% set y = 'in' %}[{{ y }}]{% endset %}{{ x }}|{{ y }}"));
    }

    [Fact]
    public void Namespace_CarriesValuesOutOfLoops()
    {
        Assert.Equal("3 True", Render("{% set ns = namespace(c=0, seen=false) %}{% for i in range(3) %}{% set ns.c = ns.c + i %}{% set ns.seen = true %}{% endfor %}{{ ns.c }} {{ ns.seen }}"));
        Assert.Equal("1|", Render("{% set ns = namespace({'a': 1}) %}{{ ns.a }}|{{ ns.missing }}"));
    }

    [Fact]
    public void Macro_DefaultsKeywordsAndCaller()
    {
        const string Def = "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}";
        Assert.Equal("Hi Bob! Hi Al? Hi Cy.", Render(Def + "{{ greet('Bob') }} {{ greet('Al', punct='?') }} {{ greet(punct='.', name='Cy') }}"));
        Assert.Equal("Hi !", Render(Def + "{{ greet() }}"));
        Assert.Equal("(1, 2)|{'k': 3}", Render("{% macro m() %}{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}"));
    }

    [Fact]
    public void Macro_SeesTemplateVariablesAndCanRecurse() =>
        Assert.Equal("3 2 1 go", Render("{% macro count(n) %}{% if n > 0 %}{{ n }} {{ count(n - 1) }}{% else %}{{ word }}{% endif %}{% endmacro %}{{ count(3) }}", ("word", "go")));

    [Fact]
    public void With_FilterBlock_Generation()
    {
        Assert.Equal("1False", Render("{% with a = 1 %}{{ a }}{% endwith %}{{ a is defined }}"));
        Assert.Equal("ABC", Render("{% filter upper %}abc{% endfilter %}"));
        Assert.Equal("<x>", Render("<{% generation %}x{% endgeneration %}>"));
    }

    [Fact]
    public void Comments_AreDropped() =>
        Assert.Equal("ab", Render("a{# {{ not rendered }} {% if %} #}b"));
}
