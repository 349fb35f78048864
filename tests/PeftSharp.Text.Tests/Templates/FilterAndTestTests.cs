using static PeftSharp.Text.Tests.Templates.Jinja;

namespace PeftSharp.Text.Tests.Templates;

/// <summary>Built-in filters and tests; expectations follow Jinja2 3.1's documented behaviour.</summary>
public sealed class FilterAndTestTests
{
    [Theory]
    [InlineData("{{ '  a b \\n'|trim }}|{{ 'xxaxx'|trim('x') }}|{{ none|trim }}", "a b|a|None")]
    [InlineData("{{ [1, 2]|length }}|{{ 'abc'|count }}|{{ {'a': 1}|length }}", "2|3|1")]
    [InlineData("{{ 'hello wORLD'|capitalize }}|{{ 'hello-world foo(bar'|title }}|{{ 'aB'|upper }}|{{ 'aB'|lower }}", "Hello world|Hello-World Foo(Bar|AB|ab")]
    [InlineData("{{ missing|default('x') }}|{{ ''|default('x') }}|{{ ''|default('x', true) }}|{{ none|default('x') }}|{{ missing|d('y') }}", "x||x|None|y")]
    [InlineData("{{ [1, 2, 3]|join('-') }}|{{ ['a', 'b']|join }}|{{ 'abc'|join(',') }}", "1-2-3|ab|a,b,c")]
    [InlineData("{{ 42|string ~ '!' }}|{{ '42'|int + 1 }}|{{ '4.7'|int }}|{{ 'abc'|int }}|{{ 'abc'|int(7) }}|{{ 3.9|int }}|{{ '0x1A'|int(0, 16) }}", "42!|43|4|0|7|3|26")]
    [InlineData("{{ '1.5'|float }}|{{ 2|float }}|{{ 'x'|float }}", "1.5|2.0|0.0")]
    [InlineData("{{ 'ab'|list }}|{{ [3, 1]|first }}|{{ [3, 1]|last }}|{{ 'xyz'|first }}", "['a', 'b']|3|1|x")]
    [InlineData("{{ [1, 2, 3]|reverse|list }}|{{ 'abc'|reverse }}", "[3, 2, 1]|cba")]
    [InlineData("{{ {'b': 1, 'A': 2}|dictsort }}|{{ {'b': 1, 'a': 2}|dictsort(by='value') }}|{{ {'b': 1, 'a': 2}|dictsort(reverse=true) }}", "[('A', 2), ('b', 1)]|[('b', 1), ('a', 2)]|[('b', 1), ('a', 2)]")]
    [InlineData("{{ {'a': 1}|items|list }}|{{ missing|items|list }}", "[('a', 1)]|[]")]
    [InlineData("{{ ['a', 'A', 'b', 'a']|unique|list }}|{{ ['a', 'A']|unique(case_sensitive=true)|list }}", "['a', 'b']|['a', 'A']")]
    [InlineData("{{ [3, 1, 2]|sort }}|{{ ['b', 'A', 'c']|sort }}|{{ [3, 1, 2]|sort(reverse=true) }}", "[1, 2, 3]|['A', 'b', 'c']|[3, 2, 1]")]
    [InlineData("{{ [1, 2, 3]|sum }}|{{ [1, 2]|sum(start=10) }}|{{ [3, 1, 2]|min }}|{{ [3, 1, 2]|max }}|{{ ['b', 'A']|min }}", "6|13|1|3|A")]
    [InlineData("{{ 'aaa'|replace('a', 'b') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'ab'|replace('', '-') }}", "bbb|bba|-a-b-")]
    [InlineData("{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.567|round(2) }}|{{ 2.1|round(method='ceil') }}|{{ 2.9|round(0, 'floor') }}|{{ 5|round }}", "2.0|4.0|2.57|3.0|2.0|5")]
    [InlineData("{{ -3|abs }}|{{ -2.5|abs }}", "3|2.5")]
    [InlineData("{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}", "a\n  b\n\n  c|  a\n  b|a\n  \n  b")]
    [InlineData("{{ 'one two  three'|wordcount }}|{{ 'ab'|center(6) }}|[{{ 'abc'|center(6) }}]", "3|  ab  |[ abc  ]")]
    [InlineData("{{ '<a href=\"x\">&\\'</a>'|escape }}|{{ '<b>'|safe }}", "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;|<b>")]
    [InlineData("{{ [1, 2, 3, 4]|select('odd')|list }}|{{ [1, 2, 3, 4]|reject('odd')|list }}|{{ [0, 1, '', 'a']|select|list }}|{{ [1, 5, 9]|select('gt', 4)|list }}", "[1, 3]|[2, 4]|[1, 'a']|[5, 9]")]
    [InlineData("{{ ['a', 'bb']|map('upper')|list }}|{{ ['a', 'bb']|map('length')|list }}|{{ [1.6, 2.4]|map('round')|list }}", "['A', 'BB']|[1, 2]|[2.0, 2.0]")]
    [InlineData("{{ '%s-%s'|format('a', 1) }}|{{ '%(x)s=%(y)d'|format(x='k', y=2) }}|{{ '%05.1f|%-4d|%+d|%x|%#o|%e'|format(3.14159, 7, 5, 255, 8, 12345.678) }}", "a-1|k=2|003.1|7   |+5|ff|0o10|1.234568e+04")]
    [InlineData("{{ '%g|%g|%g|%.3g|%r|%%|%5s|%.2s'|format(0.0001, 1e-5, 123456789.0, 2.0, 'q', 'ab', 'xyz') }}", "0.0001|1e-05|1.23457e+08|2|'q'|%|   ab|xy")]
    [InlineData("{{ 'n=%d' % 3 }}|{{ '%s and %s' % ('a', 'b') }}|{{ '%(k)s' % {'k': 'v'} }}|{{ '%.2f' % 2.675 }}", "n=3|a and b|v|2.67")]
    public void Filters_MatchJinja2(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Fact]
    public void Filters_AttributeForms()
    {
        var users = new List<object?>
        {
            Jinja.Dict(("name", "Ann"), ("admin", true), ("age", 30L), ("tags", new List<object?> { "x" })),
            Jinja.Dict(("name", "Bob"), ("admin", false), ("age", 20L), ("tags", new List<object?>())),
        };
        Assert.Equal("Ann, Bob", Render("{{ users|join(', ', attribute='name') }}", ("users", users)));
        Assert.Equal("['Ann', 'Bob']", Render("{{ users|map(attribute='name')|list }}", ("users", users)));
        Assert.Equal("['x', '?']", Render("{{ users|map(attribute='tags.0', default='?')|list }}", ("users", users)));
        Assert.Equal("Ann|Bob", Render("{{ (users|selectattr('admin')|first).name }}|{{ (users|rejectattr('admin')|first).name }}", ("users", users)));
        Assert.Equal("Bob", Render("{{ (users|selectattr('age', 'lt', 25)|first).name }}", ("users", users)));
        Assert.Equal("['Bob', 'Ann']", Render("{{ users|sort(attribute='age')|map(attribute='name')|list }}", ("users", users)));
        Assert.Equal("50|Ann", Render("{{ users|sum(attribute='age') }}|{{ (users|max(attribute='age')).name }}", ("users", users)));
        Assert.Equal("['Ann']", Render("{{ users|selectattr('name', 'equalto', 'Ann')|map(attribute='name')|list }}", ("users", users)));
    }

    [Theory]
    [InlineData("{{ {'a': [1, 2.5, none, true], 'b': 'é\"\\n<&>'}|tojson }}", "{\"a\": [1, 2.5, null, true], \"b\": \"é\\\"\\n<&>\"}")]
    [InlineData("{{ [1, {'a': 2}, [], {}]|tojson(indent=2) }}", "[\n  1,\n  {\n    \"a\": 2\n  },\n  [],\n  {}\n]")]
    [InlineData("{{ 'é😀\\x01'|tojson(ensure_ascii=true) }}", "\"\\u00e9\\ud83d\\ude00\\u0001\"")]
    [InlineData("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}|{{ {'a': 1, 'b': [1, 2]}|tojson(separators=(',', ':')) }}", "{\"a\": 2, \"b\": 1}|{\"a\":1,\"b\":[1,2]}")]
    [InlineData("{{ {1: 'x', true: 'y'}|tojson }}|{{ 1.0|tojson }}|{{ (1, 2)|tojson }}|{{ 'x'|tojson(indent='\\t') }}", "{\"1\": \"y\"}|1.0|[1, 2]|\"x\"")]
    public void ToJson_IsPythonJsonDumps(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ x is defined }}|{{ missing is defined }}|{{ missing is undefined }}", "True|False|True")]
    [InlineData("{{ none is none }}|{{ x is none }}|{{ x is not none }}", "True|False|True")]
    [InlineData("{{ 'a' is string }}|{{ 1 is string }}|{{ 1 is number }}|{{ 1.5 is number }}|{{ true is number }}", "True|False|True|True|True")]
    [InlineData("{{ 1 is integer }}|{{ true is integer }}|{{ 1.0 is float }}|{{ true is boolean }}|{{ 1 is boolean }}", "True|False|True|True|False")]
    [InlineData("{{ false is false }}|{{ 0 is false }}|{{ true is true }}|{{ 1 is true }}", "True|False|True|False")]
    [InlineData("{{ {} is mapping }}|{{ [] is mapping }}|{{ [] is iterable }}|{{ 'a' is iterable }}|{{ 1 is iterable }}|{{ 'a' is sequence }}|{{ 1 is sequence }}", "True|False|True|True|False|True|False")]
    [InlineData("{{ 3 is odd }}|{{ 3 is even }}|{{ 9 is divisibleby 3 }}|{{ 9 is divisibleby(4) }}", "True|False|True|False")]
    [InlineData("{{ 1 is eq 1 }}|{{ 1 is ne 1 }}|{{ 2 is gt 1 }}|{{ 2 is lt 1 }}|{{ 2 is ge 2 }}|{{ 2 is le 1 }}|{{ 1 is in [1, 2] }}", "True|False|True|False|True|False|True")]
    [InlineData("{{ 'abc' is lower }}|{{ 'aBc' is lower }}|{{ 'ABC' is upper }}|{{ none is sameas none }}|{{ true is sameas 1 }}", "True|False|True|True|False")]
    [InlineData("{{ range is callable }}|{{ 1 is callable }}|{{ 'upper' is filter }}|{{ 'odd' is test }}", "True|False|True|True")]
    public void Tests_MatchJinja2(string template, string expected) =>
        Assert.Equal(expected, Render(template, ("x", 1L)));

    [Fact]
    public void Tests_BindTighterThanBooleanOperators() =>
        Assert.Equal("True", Render("{{ x is defined and x is not none and not x is false }}", ("x", "v")));
}
