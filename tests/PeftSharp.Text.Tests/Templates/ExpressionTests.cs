using static PeftSharp.Text.Tests.Templates.Jinja;

namespace PeftSharp.Text.Tests.Templates;

/// <summary>Operators, precedence and literals; expectations follow Python/Jinja2 semantics.</summary>
public sealed class ExpressionTests
{
    [Theory]
    [InlineData("{{ 1 + 2 * 3 }}", "7")]
    [InlineData("{{ (1 + 2) * 3 }}", "9")]
    [InlineData("{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 // -2 }}", "3|-4|-4")]
    [InlineData("{{ -7 % 3 }}|{{ 7 % -3 }}|{{ 7.5 % 2 }}", "2|-2|1.5")]
    [InlineData("{{ 7 / 2 }}|{{ 4 / 2 }}", "3.5|2.0")]
    [InlineData("{{ 2 ** 10 }}|{{ 2 ** 3 ** 2 }}|{{ -2 ** 2 }}|{{ 2 ** -1 }}", "1024|64|4|0.5")]
    [InlineData("{{ 'a' ~ 1 ~ none ~ true }}", "a1NoneTrue")]
    [InlineData("{{ 'a' ~ 2 * 3 }}|{{ ('a' ~ 1) + 'b' }}", "a6|a1b")]
    [InlineData("{{ 'ab' * 3 }}|{{ 2 * [0] }}", "ababab|[0, 0]")]
    [InlineData("{{ [1, 2] + [3] }}|{{ (1,) + (2,) }}", "[1, 2, 3]|(1, 2)")]
    [InlineData("{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}|{{ 1 == 1.0 }}|{{ true == 1 }}", "True|False|True|True")]
    [InlineData("{{ 'abc' < 'abd' }}|{{ [1, 2] < [1, 3] }}|{{ 'a' != 'a' }}", "True|True|False")]
    [InlineData("{{ 'b' in 'abc' }}|{{ 1 not in [1, 2] }}|{{ 'k' in {'k': 1} }}|{{ 3 in (1, 2) }}", "True|False|True|False")]
    [InlineData("{{ 'yes' if 1 else 'no' }}|{{ 'yes' if 0 else 'no' }}|{{ 'y' if false }}", "yes|no|")]
    [InlineData("{{ not 1 }}|{{ not '' }}|{{ not [] }}|{{ not {} }}|{{ not none }}", "False|True|True|True|True")]
    [InlineData("{{ 0 or 'x' }}|{{ 1 and 'y' }}|{{ '' and 'z' }}|{{ none or 0 }}", "x|y||0")]
    [InlineData("{{ none }}|{{ true }}|{{ False }}|{{ None }}", "None|True|False|None")]
    [InlineData("{{ 'a' 'b' \"c\" }}", "abc")]
    [InlineData("{{ 'it\\'s' }}|{{ \"q\\\"q\" }}|{{ 'tab\\there' }}|{{ '\\x41\\u00e9\\U0001F600' }}|{{ '\\d' }}", "it's|q\"q|tab\there|Aé😀|\\d")]
    [InlineData("{{ 1_000 }}|{{ 0x1F }}|{{ 0o17 }}|{{ 0b101 }}|{{ 1.5e3 }}|{{ 2e-3 }}", "1000|31|15|5|1500.0|0.002")]
    [InlineData("{{ -(3) }}|{{ +4 }}|{{ -1.5 }}", "-3|4|-1.5")]
    [InlineData("{{ 1, 2 }}|{{ () }}|{{ (1, 'a') }}", "(1, 2)|()|(1, 'a')")]
    public void Operators_FollowPythonSemantics(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ 1.0 }}|{{ 0.1 + 0.2 }}|{{ 1e16 }}|{{ 1e15 }}|{{ 1e-5 }}|{{ 0.0001 }}", "1.0|0.30000000000000004|1e+16|1000000000000000.0|1e-05|0.0001")]
    [InlineData("{{ 123456789.123 }}|{{ -0.0 }}|{{ 2.5e-310 }}|{{ 1 / 3 }}", "123456789.123|-0.0|2.5e-310|0.3333333333333333")]
    [InlineData("{{ 1e308 * 10 }}|{{ -1e308 * 10 }}", "inf|-inf")]
    public void Floats_RenderAsPythonRepr(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ [1, 'a', none, true, 1.5] }}", "[1, 'a', None, True, 1.5]")]
    [InlineData("{{ {'a': [1], 'b': {'c': none}} }}", "{'a': [1], 'b': {'c': None}}")]
    [InlineData("{{ (1,) }}|{{ ['it\\'s'] }}|{{ ['x\\ny'] }}|{{ ['a\"b\\'c'] }}", "(1,)|[\"it's\"]|['x\\ny']|['a\"b\\'c']")]
    [InlineData("{{ ['é😀\\x00\\u200b'] }}", "['é😀\\x00\\u200b']")]
    [InlineData("{{ [undefined_name] }}", "[Undefined]")]
    public void Containers_RenderAsPythonStr(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ [1, 2, 3, 4][1:3] }}|{{ [1, 2, 3][::2] }}|{{ [1, 2, 3][::-1] }}|{{ [1, 2, 3][-2:] }}", "[2, 3]|[1, 3]|[3, 2, 1]|[2, 3]")]
    [InlineData("{{ 'hello'[::-1] }}|{{ 'hello'[-1] }}|{{ 'hello'[1:-1] }}|{{ 'hello'[10:] }}|{{ 'hello'[:100] }}", "olleh|o|ell||hello")]
    [InlineData("{{ [1, 2, 3][5:1:-1] }}|{{ [1, 2, 3][-100:-50] }}", "[3]|[]")]
    [InlineData("{{ (1, 2, 3)[1:] }}|{{ (1, 2, 3)[0] }}", "(2, 3)|1")]
    public void Slicing_FollowsPython(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Fact]
    public void Strings_IndexAndMeasureByCodePoint()
    {
        Assert.Equal("3|ab|😀|ba😀|1", Render("{{ s|length }}|{{ s[1:] }}|{{ s[0] }}|{{ s[::-1] }}|{{ s.find('a') }}", ("s", "😀ab")));
        Assert.Equal("['😀', 'a']", Render("{{ s|list }}", ("s", "😀a")));
    }

    [Fact]
    public void Lookup_AttributeAndItemAreInterchangeableOnDicts()
    {
        var d = Dict(("a", 1L), ("items", "shadowed"), ("nested", new List<object?> { Dict(("x", "deep")) }));
        Assert.Equal("1|1|deep|deep|shadowed", Render("{{ d.a }}|{{ d['a'] }}|{{ d.nested[0].x }}|{{ d.nested.0.x }}|{{ d['items'] }}", ("d", d)));
        // d.items is the dict method (attribute first), d['items'] is the key (item first), as in Jinja2.
        Assert.Equal("[('a', 1)]", Render("{{ d.items()|list }}", ("d", Dict(("a", 1L)))));
    }

    [Fact]
    public void DictViews_BehaveLikePythonViews()
    {
        var d = Dict(("a", 1L), ("b", "x"));
        Assert.Equal("dict_items([('a', 1), ('b', 'x')])|dict_keys(['a', 'b'])|dict_values([1, 'x'])",
            Render("{{ d.items() }}|{{ d.keys() }}|{{ d.values() }}", ("d", d)));
        Assert.Equal("2|True|True|False|a1bx|['a', 'b']|True|False",
            Render("{{ d.items()|length }}|{{ 'a' in d.keys() }}|{{ ('b', 'x') in d.items() }}|{{ 2 in d.values() }}|{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}|{{ d.keys()|list }}|{{ d.keys() is iterable }}|{{ d.keys() is sequence }}", ("d", d)));
        Assert.Equal("|", Render("{{ d.keys()[0] }}|{{ d.keys()[1:] }}", ("d", d)));
        Assert.Equal("Object of type dict_items is not JSON serializable",
            Assert.Throws<PeftSharp.Text.Templates.TemplateRuntimeException>(() => Render("{{ d.items()|tojson }}", ("d", d))).Reason);
    }

    [Fact]
    public void Undefined_RendersEmptyAndIsFalsy()
    {
        Assert.Equal("[]|no|0|[]", Render("[{{ missing }}]|{{ 'yes' if missing else 'no' }}|{{ missing|length }}|{{ d.nope|list }}", ("d", Dict())));
        Assert.Equal("|x", Render("{{ l[5] }}|{{ l[5] is undefined and 'x' }}", ("l", new List<object?> { 1L })));
        Assert.Equal("True|False", Render("{{ missing == other_missing }}|{{ missing == none }}"));
    }

    [Fact]
    public void Literals_BuildListsDictsAndNestedStructures()
    {
        Assert.Equal("{'a': 1, 'b': [2, 3], 1: 'int key'}|3|[]", Render("{{ {'a': 1, 'b': [2, 3,], 1: 'int key'} }}|{{ {'a': 1, 'b': 2, 'c': 3}|length }}|{{ [] }}"));
        Assert.Equal("{'k': 2}", Render("{{ {'k': 1, 'k': 2} }}"));
    }
}
