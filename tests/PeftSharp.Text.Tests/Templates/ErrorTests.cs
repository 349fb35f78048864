using PeftSharp.Text.Templates;
using static PeftSharp.Text.Tests.Templates.Jinja;

namespace PeftSharp.Text.Tests.Templates;

/// <summary>Malformed templates, unsupported constructs, runtime type errors and limits fail with specific, positioned messages.</summary>
public sealed class ErrorTests
{
    [Theory]
    [InlineData("{% include 'x' %}", "Unsupported tag 'include'", 1, 4)]
    [InlineData("{% extends 'base' %}", "Unsupported tag 'extends'", 1, 4)]
    [InlineData("line1\n{{ x|nosuch }}", "No filter named 'nosuch' (unsupported or unknown filter)", 2, 6)]
    [InlineData("{{ x|groupby('a') }}", "Unsupported filter 'groupby'", 1, 6)]
    [InlineData("{{ x is nosuch }}", "No test named 'nosuch' (unsupported or unknown test)", 1, 9)]
    [InlineData("{{ 'abc }}", "Unterminated string literal", 1, 4)]
    [InlineData("a\n  {% for x in y recursive %}{% endfor %}", "Unsupported construct 'recursive' for loop", 2, 17)]
    [InlineData("{{ f(*args) }}", "Unsupported construct '*' argument unpacking in a call", 1, 6)]
    [InlineData("{% endif %}", "Unexpected tag 'endif' with no open block to close", 1, 4)]
    [InlineData("{% frobnicate %}", "Unknown tag 'frobnicate'", 1, 4)]
    [InlineData("{{ 1 + }}", "Unexpected end of print statement", 1, 8)]
    [InlineData("ab{# unclosed", "Missing end of comment tag ('#}')", 1, 3)]
    [InlineData("{{ x", "Unexpected end of template: print tag '{{' is not closed with '}}'", 1, 1)]
    [InlineData("{% raw %}abc", "Missing end of raw directive ('{% endraw %}')", 1, 1)]
    [InlineData("{{ a ? b }}", "Unexpected character '?'", 1, 6)]
    [InlineData("{{ 99999999999999999999 }}", "Integer literal 99999999999999999999 is outside the 64-bit range this engine supports", 1, 4)]
    [InlineData("{% if x %}a", "Unexpected end of template: expected '{% elif %}' or '{% else %}' or '{% endif %}'", 1, 12)]
    [InlineData("{{ x is defined is defined }}", "You cannot chain multiple tests with is", 1, 17)]
    public void Parse_RejectsWithNamedConstructAndPosition(string template, string reason, int line, int column)
    {
        var ex = Assert.Throws<TemplateSyntaxException>(() => ChatTemplate.Parse(template));
        Assert.Equal(reason, ex.Reason);
        Assert.Equal((line, column), (ex.Line, ex.Column));
        Assert.Contains($"line {line}, column {column}", ex.Message);
    }

    [Theory]
    [InlineData(1000, "(", ")")]
    [InlineData(1000, "[", "]")]
    [InlineData(5000, "not ", "")]
    [InlineData(5000, "-", "")]
    public void Parse_DeepNestingFailsCleanly(int depth, string open, string close)
    {
        var template = "{{ " + string.Concat(Enumerable.Repeat(open, depth)) + "1" + string.Concat(Enumerable.Repeat(close, depth)) + " }}";
        var ex = Assert.Throws<TemplateSyntaxException>(() => ChatTemplate.Parse(template));
        Assert.Contains("nesting exceeds", ex.Reason);
    }

    [Fact]
    public void Parse_DeeplyNestedBlocksFailCleanly()
    {
        var template = string.Concat(Enumerable.Repeat("{% if true %}", 1000)) + string.Concat(Enumerable.Repeat("{% endif %}", 1000));
        Assert.Contains("nesting exceeds", Assert.Throws<TemplateSyntaxException>(() => ChatTemplate.Parse(template)).Reason);
    }

    [Theory]
    [InlineData("{{ missing.attr }}", "'missing' is undefined")]
    [InlineData("{{ d.a.b }}", "'dict object' has no attribute 'a'")]
    [InlineData("{{ l[3].x }}", "list object has no element 3")]
    [InlineData("{{ none.x.y }}", "'None' has no attribute 'x'")]
    [InlineData("{{ 1 + 'a' }}", "unsupported operand type(s) for +: 'int' and 'str'")]
    [InlineData("{{ 'a' + 1 }}", "can only concatenate str (not \"int\") to str")]
    [InlineData("{{ 1 + 2 ~ 3 }}", "unsupported operand type(s) for +: 'int' and 'str'")]
    [InlineData("{{ 1 / 0 }}", "division by zero")]
    [InlineData("{{ 1 // 0 }}", "integer division or modulo by zero")]
    [InlineData("{{ missing + 1 }}", "'missing' is undefined")]
    [InlineData("{{ 1 < 'a' }}", "'<' not supported between instances of 'int' and 'str'")]
    [InlineData("{{ 9223372036854775807 + 1 }}", "integer result is outside the 64-bit range this engine supports")]
    [InlineData("{{ range(1000000) }}", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).")]
    [InlineData("{% set x = 1 %}{% set x.y = 2 %}", "cannot assign attribute 'y' on 'x': it is not a namespace() object")]
    [InlineData("{% for a, b in [[1]] %}{% endfor %}", "not enough values to unpack (expected 2, got 1)")]
    [InlineData("{{ 'a' * 100000000 }}", "repetition would create a str of 100000000 elements, above the limit of 16777216")]
    [InlineData("{{ d() }}", "'dict' object is not callable")]
    [InlineData("{{ nofunc() }}", "'nofunc' is undefined")]
    [InlineData("{% for x in none %}{% endfor %}", "'NoneType' object is not iterable")]
    [InlineData("{{ missing|tojson }}", "Object of type Undefined is not JSON serializable")]
    [InlineData("{{ 'a'|trim(foo=1) }}", "filter 'trim' got an unexpected keyword argument 'foo'")]
    [InlineData("{{ l.append(1) }}", "access to attribute 'append' of 'list' object is unsafe.")]
    [InlineData("{{ d.update({}) }}", "access to attribute 'update' of 'dict' object is unsafe.")]
    [InlineData("{{ 'a{}'.format(1) }}", "str.format() is not supported by this template engine")]
    [InlineData("{{ '%s %s' % 1 }}", "not enough arguments for format string")]
    [InlineData("{{ '%s' % (1, 2) }}", "not all arguments converted during string formatting")]
    [InlineData("{{ '%d' % 'x' }}", "%d format: a real number is required, not str")]
    [InlineData("{{ 1 in 'abc' }}", "'in <string>' requires string as left operand, not int")]
    [InlineData("{{ missing in 'abc' }}", "'in <string>' requires string as left operand, not Undefined")]
    [InlineData("{{ [1]|items }}", "Can only get item pairs from a mapping.")]
    [InlineData("{{ [1]|join(',')|int|length }}", "object of type 'int' has no len()")]
    [InlineData("{{ 'a'.split('') }}", "empty separator")]
    [InlineData("{{ 5 is divisibleby 0 }}", "integer modulo by zero")]
    public void Render_FailsWithPythonStyleMessage(string template, string reason)
    {
        var ex = Assert.Throws<TemplateRuntimeException>(() => Render(template, ("d", Dict()), ("l", new List<object?> { 1L })));
        Assert.Equal(reason, ex.Reason);
        Assert.Equal(1, ex.Line);
        Assert.True(ex.Column >= 1);
    }

    [Fact]
    public void RaiseException_PropagatesTheTemplateMessageUnchanged()
    {
        var ex = Assert.Throws<TemplateRaisedException>(() => Render("\n{{ raise_exception('Bad role: ' ~ r) }}", ("r", "x")));
        Assert.Equal("Bad role: x", ex.Message);
        Assert.Equal(2, ex.Line);
    }

    [Fact]
    public void Render_RunawayMacroRecursionIsStopped()
    {
        var ex = Assert.Throws<TemplateRuntimeException>(() => Render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"));
        Assert.Contains("nested more than 200 calls deep", ex.Reason);
    }

    [Fact]
    public void Render_LoopIterationBudgetIsEnforced()
    {
        var template = ChatTemplate.Parse("{% for i in range(50) %}{% for j in range(50) %}{% endfor %}{% endfor %}");
        Assert.Equal("", template.Render([]));
        var limited = LimitedParse("{% for i in range(50) %}{% for j in range(50) %}{% endfor %}{% endfor %}", 100);
        var ex = Assert.Throws<TemplateRuntimeException>(() => limited.Render([]));
        Assert.Contains("more than 100 loop iterations", ex.Reason);
    }

    private static ChatTemplate LimitedParse(string template, long max)
    {
        var parsed = ChatTemplate.Parse(template);
        return parsed.WithMaxLoopIterations(max);
    }

    [Fact]
    public void Render_RejectsUnconvertibleContextValues()
    {
        var ex = Assert.Throws<ArgumentException>(() => Render("{{ x }}", ("x", new object())));
        Assert.Contains("'x'", ex.Message);
    }
}

public sealed class ResourceLimitTests
{
    [Fact]
    public void Render_DoublingAStringInALoopHitsTheLengthLimit()
    {
        var ex = Assert.Throws<TemplateRuntimeException>(() =>
            Render("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"));
        Assert.Contains("above the limit of 67108864", ex.Reason);
    }

    [Fact]
    public void Render_RunawayOutputHitsTheOutputLimit()
    {
        var ex = Assert.Throws<TemplateRuntimeException>(() =>
            Render("{% set s = 'x' * 10000000 %}{% for i in range(100) %}{{ s }}{% endfor %}"));
        Assert.Contains("exceeds 67108864 characters", ex.Reason);
    }

    [Fact]
    public void Parse_HexLiteralOverflowIsASyntaxError() =>
        Assert.Contains("outside the 64-bit range", Assert.Throws<TemplateSyntaxException>(() => ChatTemplate.Parse("{{ 0xFFFFFFFFFFFFFFFFFF }}")).Reason);
}
