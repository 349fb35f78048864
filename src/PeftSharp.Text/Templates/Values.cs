using System.Diagnostics.CodeAnalysis;

namespace PeftSharp.Text.Templates;

// The template value model mirrors the Python objects Jinja2 sees:
//   None -> null, bool, int -> long, float -> double, str -> string, list -> List<object?>,
//   tuple -> object?[], dict -> PyDict (insertion ordered), plus Undefined, JinjaNamespace,
//   LoopContext and Callable.

/// <summary>A Python-level error raised by a value operation; the evaluating node adds the position.</summary>
internal sealed class PyException(string message) : Exception(message);

/// <summary>Jinja2's default <c>Undefined</c>: renders empty, is falsy and iterates as empty; anything else fails.</summary>
internal sealed class Undefined
{
    private readonly string? _hint;
    private readonly object? _name;
    private readonly object? _owner;
    private readonly bool _hasOwner;

    private Undefined(object? name, object? owner, bool hasOwner, string? hint)
    {
        _name = name;
        _owner = owner;
        _hasOwner = hasOwner;
        _hint = hint;
    }

    public static Undefined Variable(string name) => new(name, null, false, null);

    public static Undefined Member(object? owner, object? name) => new(name, owner, true, null);

    public static Undefined WithHint(string hint) => new(null, null, false, hint);

    /// <summary>The message of Jinja2's <c>UndefinedError</c> for this value.</summary>
    public string Message
    {
        get
        {
            if (_hint is not null)
            {
                return _hint;
            }
            if (!_hasOwner)
            {
                return $"{Py.Repr(_name)} is undefined";
            }
            if (_name is not string)
            {
                return $"{Py.ObjectTypeRepr(_owner)} has no element {Py.Repr(_name)}";
            }
            return $"{Py.Repr(Py.ObjectTypeRepr(_owner))} has no attribute {Py.Repr(_name)}";
        }
    }

    [DoesNotReturn]
    public void Fail() => throw new PyException(Message);
}

/// <summary>Python dict: keys compare with Python equality (1 == 1.0 == True); insertion order is kept.</summary>
internal sealed class PyDict : OrderedDictionary<object, object?>
{
    public PyDict() : base(PyKeyComparer.Instance)
    {
    }

    public PyDict(int capacity) : base(capacity, PyKeyComparer.Instance)
    {
    }

    public static object Key(object? key) =>
        key switch
        {
            null => throw new PyException("None is not supported as a dictionary key"),
            List<object?> or PyDict or Undefined => throw new PyException($"unhashable type: '{Py.TypeName(key)}'"),
            _ => key,
        };
}

internal sealed class PyKeyComparer : IEqualityComparer<object>
{
    public static readonly PyKeyComparer Instance = new();

    public new bool Equals(object? x, object? y) => Py.Eq(x, y);

    public int GetHashCode(object obj) =>
        obj switch
        {
            string s => string.GetHashCode(s, StringComparison.Ordinal),
            bool b => (b ? 1L : 0L).GetHashCode(),
            long l => l.GetHashCode(),
            double d when d == Math.Floor(d) && Math.Abs(d) < 9.2e18 => ((long)d).GetHashCode(),
            double d => d.GetHashCode(),
            object?[] t => t.Aggregate(17, (h, e) => h * 31 + (e is null ? 0 : GetHashCode(e))),
            _ => obj.GetHashCode(),
        };
}

/// <summary>Python's <c>dict_items</c> / <c>dict_keys</c> / <c>dict_values</c>: iterable views, printed as <c>dict_items([...])</c>.</summary>
internal sealed class DictView(PyDict dict, string kind)
{
    public PyDict Dict { get; } = dict;

    /// <summary>"items", "keys" or "values".</summary>
    public string Kind { get; } = kind;

    public List<object?> Items() =>
        Kind switch
        {
            "items" => Dict.Select(kv => (object?)new object?[] { kv.Key, kv.Value }).ToList(),
            "keys" => Dict.Keys.Cast<object?>().ToList(),
            _ => Dict.Values.ToList(),
        };
}

/// <summary>The object <c>namespace(...)</c> returns: attributes assignable with <c>{% set ns.x = ... %}</c>.</summary>
internal sealed class JinjaNamespace
{
    public readonly OrderedDictionary<string, object?> Attributes = new(StringComparer.Ordinal);
}

/// <summary>Call arguments: positional values and keyword values in source order.</summary>
internal sealed class Arguments(object?[] positional, KeyValuePair<string, object?>[] named)
{
    public static readonly Arguments Empty = new([], []);

    /// <summary>Marks a parameter that was not passed.</summary>
    public static readonly object Missing = new();

    public object?[] Positional { get; } = positional;

    public KeyValuePair<string, object?>[] Named { get; } = named;

    /// <summary>Binds to parameters by position then name, like a Python signature; absent ones are <see cref="Missing"/>.</summary>
    public object?[] Bind(string callee, params string[] parameters)
    {
        if (Positional.Length > parameters.Length)
        {
            throw new PyException($"{callee} takes at most {parameters.Length} argument(s) ({Positional.Length} given)");
        }
        var bound = new object?[parameters.Length];
        Array.Fill(bound, Missing);
        Array.Copy(Positional, bound, Positional.Length);
        foreach (var (name, value) in Named)
        {
            int i = Array.IndexOf(parameters, name);
            if (i < 0)
            {
                throw new PyException($"{callee} got an unexpected keyword argument '{name}'");
            }
            if (!ReferenceEquals(bound[i], Missing))
            {
                throw new PyException($"{callee} got multiple values for argument '{name}'");
            }
            bound[i] = value;
        }
        return bound;
    }

    public static bool Given(object? v) => !ReferenceEquals(v, Missing);
}

/// <summary>Anything a template can call: builtins, macros, bound methods of values.</summary>
internal abstract class Callable
{
    public abstract string Name { get; }

    public abstract object? Invoke(RenderState state, Arguments args, Node at);
}

internal sealed class BuiltinFunction(string name, Func<RenderState, Arguments, Node, object?> body) : Callable
{
    public override string Name => name;

    public override object? Invoke(RenderState state, Arguments args, Node at) => body(state, args, at);
}

/// <summary><c>value.method</c> looked up but not yet called (a Python bound method).</summary>
internal sealed class BoundMethod(object target, string name) : Callable
{
    public object Target { get; } = target;

    public override string Name => name;

    public override object? Invoke(RenderState state, Arguments args, Node at) => Methods.Call(Target, name, args);
}

/// <summary>The <c>loop</c> variable of a <c>for</c> block.</summary>
internal sealed class LoopContext(List<object?> items)
{
    private object? _lastChanged = Arguments.Missing;

    public List<object?> Items { get; } = items;

    public int Index0 { get; set; }

    public int Depth0 { get; init; }

    public object? Get(string name) =>
        name switch
        {
            "index" => (long)Index0 + 1,
            "index0" => (long)Index0,
            "revindex" => (long)(Items.Count - Index0),
            "revindex0" => (long)(Items.Count - Index0 - 1),
            "first" => Index0 == 0,
            "last" => Index0 == Items.Count - 1,
            "length" => (long)Items.Count,
            "depth" => (long)Depth0 + 1,
            "depth0" => (long)Depth0,
            "previtem" => Index0 > 0 ? Items[Index0 - 1] : Undefined.WithHint("there is no previous item"),
            "nextitem" => Index0 + 1 < Items.Count ? Items[Index0 + 1] : Undefined.WithHint("there is no next item"),
            "cycle" => new BuiltinFunction("loop.cycle", (_, a, _) =>
            {
                if (a.Positional.Length == 0)
                {
                    throw new PyException("no items for cycling given");
                }
                return a.Positional[Index0 % a.Positional.Length];
            }),
            "changed" => new BuiltinFunction("loop.changed", (_, a, _) =>
            {
                object? value = a.Positional.Length == 1 ? a.Positional[0] : a.Positional;
                if (!ReferenceEquals(_lastChanged, Arguments.Missing) && Py.Eq(_lastChanged, value))
                {
                    return false;
                }
                _lastChanged = value;
                return true;
            }),
            _ => Undefined.Member(this, name),
        };
}
