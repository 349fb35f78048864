using static PeftSharp.Text.Tests.Templates.Jinja;

namespace PeftSharp.Text.Tests.Templates;

/// <summary>Python str / dict / list methods called from templates; expectations are CPython's results.</summary>
public sealed class MethodTests
{
    [Theory]
    [InlineData("{{ '  a  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ 'yxaxy'.strip('xy') }}", "a|a|a")]
    [InlineData("[{{ '\\n\\nab\\n'.lstrip('\\n') }}]|[{{ 'ab\\n\\n'.rstrip('\\n') }}]|[{{ '  a b  '.lstrip() }}]|[{{ '  a b  '.rstrip() }}]", "[ab\n]|[ab]|[a b  ]|[  a b]")]
    [InlineData("[{{ '\\n  answer\\t '.lstrip('\\n') }}]", "[  answer\t ]")]
    [InlineData("{{ 'a  b c'.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a b c'.split(' ', 1) }}|{{ '  a b  '.split(None, 1) }}", "['a', 'b', 'c']|['a', 'b', '', 'c']|['a', 'b c']|['a', 'b  ']")]
    [InlineData("{{ ''.split() }}|{{ ''.split(',') }}|{{ 'a b c'.rsplit(' ', 1) }}|{{ '  a b c  '.rsplit(None, 1) }}|{{ 'a,b'.split(sep=',') }}", "[]|['']|['a b', 'c']|['  a b', 'c']|['a', 'b']")]
    [InlineData("{{ 'x</think>\\n\\ny'.split('</think>')[-1].lstrip('\\n') }}|{{ '<think>r</think>'.split('</think>')[0].split('<think>')[-1] }}", "y|r")]
    [InlineData("{{ 'hello'.startswith(('x', 'he')) }}|{{ 'hello'.endswith('lo') }}|{{ 'hello'.startswith('l', 2) }}|{{ 'hello'.endswith(('a', 'b')) }}", "True|True|True|False")]
    [InlineData("{{ 'aaa'.replace('a', 'b', 1) }}|{{ 'abc'.find('c') }}|{{ 'abc'.find('z') }}|{{ 'abca'.rfind('a') }}|{{ 'aaaa'.count('aa') }}", "baa|2|-1|3|2")]
    [InlineData("{{ ', '.join(['a', 'b']) }}|{{ 'hello world'.title() }}|{{ \"they're bill's\".title() }}|{{ 'hELLO'.capitalize() }}|{{ 'Ab'.upper() }}{{ 'Ab'.lower() }}", "a, b|Hello World|They'Re Bill'S|Hello|ABab")]
    [InlineData("{{ 'a\\nb\\r\\nc\\n'.splitlines() }}|{{ 'a=b=c'.partition('=') }}|{{ 'a=b=c'.rpartition('=') }}|{{ 'abc'.partition('x') }}", "['a', 'b', 'c']|('a', '=', 'b=c')|('a=b', '=', 'c')|('abc', '', '')")]
    [InlineData("{{ '123'.isdigit() }}|{{ 'a1'.isdigit() }}|{{ ''.isdigit() }}|{{ 'ab'.isalpha() }}|{{ ' \\t'.isspace() }}|{{ 'AB1'.isupper() }}|{{ 'ab'.islower() }}", "True|False|False|True|True|True|True")]
    [InlineData("{{ 'prefix_x'.removeprefix('prefix_') }}|{{ 'x.py'.removesuffix('.py') }}|{{ '42'.zfill(5) }}|{{ '-42'.zfill(5) }}|[{{ 'a'.ljust(3) }}]|[{{ 'a'.rjust(3, '*') }}]", "x|x|00042|-0042|[a  ]|[**a]")]
    public void StringMethods_MatchPython(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Fact]
    public void DictAndListMethods_MatchPython()
    {
        var d = Dict(("a", 1L), ("b", 2L));
        Assert.Equal("1|None|0|['a', 'b']|[1, 2]|[('a', 1), ('b', 2)]",
            Render("{{ d.get('a') }}|{{ d.get('z') }}|{{ d.get('z', 0) }}|{{ d.keys()|list }}|{{ d.values()|list }}|{{ d.items()|list }}", ("d", d)));
        Assert.Equal("2|1|[1, 2, 1]", Render("{{ l.count(1) }}|{{ l.index(2) }}|{{ l.copy() }}", ("l", new List<object?> { 1L, 2L, 1L })));
    }
}
