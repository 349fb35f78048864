namespace PeftSharp.Text.Templates;

/// <summary>Jinja2's built-in tests (<c>x is defined</c>, <c>x is string</c>, ...).</summary>
internal static class TemplateTests
{
    private delegate bool Test(object? value, Arguments args);

    private static readonly Dictionary<string, Test> All = new(StringComparer.Ordinal)
    {
        ["defined"] = (v, a) => NoArgs(a, "defined") && v is not Undefined,
        ["undefined"] = (v, a) => NoArgs(a, "undefined") && v is Undefined,
        ["none"] = (v, a) => NoArgs(a, "none") && v is null,
        ["boolean"] = (v, a) => NoArgs(a, "boolean") && v is bool,
        ["false"] = (v, a) => NoArgs(a, "false") && v is false,
        ["true"] = (v, a) => NoArgs(a, "true") && v is true,
        ["integer"] = (v, a) => NoArgs(a, "integer") && v is long,
        ["float"] = (v, a) => NoArgs(a, "float") && v is double,
        ["number"] = (v, a) => NoArgs(a, "number") && v is long or double or bool,
        ["string"] = (v, a) => NoArgs(a, "string") && v is string,
        ["mapping"] = (v, a) => NoArgs(a, "mapping") && v is PyDict,
        ["iterable"] = (v, a) => NoArgs(a, "iterable") && v is string or List<object?> or object?[] or PyDict or Undefined or LoopContext or DictView,
        ["sequence"] = (v, a) => NoArgs(a, "sequence") && v is string or List<object?> or object?[] or PyDict or Undefined,
        ["callable"] = (v, a) => NoArgs(a, "callable") && v is Callable or Undefined,
        ["escaped"] = (_, a) => NoArgs(a, "escaped") && false,
        ["odd"] = (v, a) => NoArgs(a, "odd") && Int(v, "odd") % 2 != 0,
        ["even"] = (v, a) => NoArgs(a, "even") && Int(v, "even") % 2 == 0,
        ["divisibleby"] = (v, a) => Divisible(v, One(a, "divisibleby", "num")),
        ["lower"] = (v, a) => NoArgs(a, "lower") && IsLower(Py.Str(v)),
        ["upper"] = (v, a) => NoArgs(a, "upper") && IsUpper(Py.Str(v)),
        ["sameas"] = (v, a) => Same(v, One(a, "sameas", "other")),
        ["eq"] = (v, a) => Py.Eq(v, One(a, "eq", "other")),
        ["ne"] = (v, a) => !Py.Eq(v, One(a, "ne", "other")),
        ["lt"] = (v, a) => Py.Compare(v, One(a, "lt", "other"), "<") < 0,
        ["le"] = (v, a) => Py.Compare(v, One(a, "le", "other"), "<=") <= 0,
        ["gt"] = (v, a) => Py.Compare(v, One(a, "gt", "other"), ">") > 0,
        ["ge"] = (v, a) => Py.Compare(v, One(a, "ge", "other"), ">=") >= 0,
        ["in"] = (v, a) => Py.Contains(One(a, "in", "seq"), v),
        ["filter"] = (v, a) => NoArgs(a, "filter") && v is string f && Filters.Exists(f),
        ["test"] = (v, a) => NoArgs(a, "test") && v is string t && Exists(t),
    };

    static TemplateTests()
    {
        All["=="] = All["equalto"] = All["eq"];
        All["!="] = All["ne"];
        All["<"] = All["lessthan"] = All["lt"];
        All["<="] = All["le"];
        All[">"] = All["greaterthan"] = All["gt"];
        All[">="] = All["ge"];
    }

    public static bool Exists(string name) => All.ContainsKey(name);

    public static bool Apply(RenderState s, string name, object? value, Arguments args) => All[name](value, args);

    /// <summary>Runs a test by name for <c>select</c>/<c>reject</c>; unknown names fail like Jinja2.</summary>
    public static bool Run(string name, object? value, Arguments args) =>
        All.TryGetValue(name, out var t) ? t(value, args) : throw new PyException($"No test named '{name}'.");

    private static bool NoArgs(Arguments a, string name)
    {
        if (a.Positional.Length > 0 || a.Named.Length > 0)
        {
            throw new PyException($"test '{name}' takes no arguments");
        }
        return true;
    }

    private static object? One(Arguments a, string name, string parameter)
    {
        var b = a.Bind($"test '{name}'", parameter);
        return Arguments.Given(b[0]) ? b[0] : throw new PyException($"test '{name}' missing required argument '{parameter}'");
    }

    private static long Int(object? v, string name) =>
        v switch
        {
            long l => l,
            bool b => b ? 1 : 0,
            double d when d == Math.Floor(d) => (long)d,
            Undefined u => Fail(u),
            _ => throw new PyException($"test '{name}' needs an integer, got {Py.TypeName(v)}"),
        };

    private static long Fail(Undefined u)
    {
        u.Fail();
        return 0;
    }

    private static bool Divisible(object? v, object? n)
    {
        var m = Py.Mod(v, n);
        return Py.Eq(m, 0L);
    }

    private static bool Same(object? a, object? b) =>
        (a, b) switch
        {
            (null, null) => true,
            (bool x, bool y) => x == y,
            (long x, long y) => x == y,
            (string x, string y) => ReferenceEquals(x, y) || (x.Length <= 1 && x == y),
            _ => ReferenceEquals(a, b),
        };

    private static bool IsLower(string s) => s.Any(char.IsLetter) && !s.Any(char.IsUpper);

    private static bool IsUpper(string s) => s.Any(char.IsLetter) && !s.Any(char.IsLower);
}
