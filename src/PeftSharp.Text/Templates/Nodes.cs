namespace PeftSharp.Text.Templates;

/// <summary>A parsed template element; positions are 1-based line and column in the normalized template.</summary>
internal abstract class Node(int line, int column)
{
    public int Line { get; } = line;

    public int Column { get; } = column;

    public TemplateRuntimeException Error(string reason) => new(reason, Line, Column);
}

internal abstract class Expr(int line, int column) : Node(line, column)
{
    /// <summary>Evaluates, turning Python-level errors into runtime exceptions positioned at this node.</summary>
    public object? Eval(RenderState s)
    {
        try
        {
            return Evaluate(s);
        }
        catch (PyException e)
        {
            throw Error(e.Message);
        }
    }

    protected abstract object? Evaluate(RenderState s);
}

internal sealed class ConstExpr(object? value, int line, int column) : Expr(line, column)
{
    public object? Value { get; } = value;

    protected override object? Evaluate(RenderState s) => Value;
}

internal sealed class NameExpr(string name, int line, int column) : Expr(line, column)
{
    public string Name { get; } = name;

    protected override object? Evaluate(RenderState s) => s.Scope.TryGet(Name, out var v) ? v : Undefined.Variable(Name);
}

internal sealed class GetAttrExpr(Expr target, string name, int line, int column) : Expr(line, column)
{
    public Expr Target { get; } = target;

    public string Name { get; } = name;

    protected override object? Evaluate(RenderState s) => Py.GetAttr(Target.Eval(s), Name);
}

internal sealed class GetItemExpr(Expr target, Expr key, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s) => Py.GetItem(target.Eval(s), key.Eval(s));
}

internal sealed class SliceExpr(Expr target, Expr? start, Expr? stop, Expr? step, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s)
    {
        var t = target.Eval(s);
        return Py.Slice(t, start?.Eval(s), stop?.Eval(s), step?.Eval(s));
    }
}

internal sealed record CallArguments(Expr[] Positional, (string Name, Expr Value)[] Named)
{
    public static readonly CallArguments None = new([], []);

    public Arguments Eval(RenderState s)
    {
        if (Positional.Length == 0 && Named.Length == 0)
        {
            return Arguments.Empty;
        }
        var pos = new object?[Positional.Length];
        for (int i = 0; i < pos.Length; i++)
        {
            pos[i] = Positional[i].Eval(s);
        }
        var named = new KeyValuePair<string, object?>[Named.Length];
        for (int i = 0; i < named.Length; i++)
        {
            named[i] = new(Named[i].Name, Named[i].Value.Eval(s));
        }
        return new Arguments(pos, named);
    }
}

internal sealed class CallExpr(Expr callee, CallArguments args, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s)
    {
        // obj.method(...) calls the method directly instead of building a bound-method object first.
        if (callee is GetAttrExpr ga)
        {
            var target = ga.Target.Eval(s);
            if (target is string or List<object?> or object?[] or PyDict && Py.GetAttr(target, ga.Name) is BoundMethod bm)
            {
                return Methods.Call(bm.Target, ga.Name, args.Eval(s));
            }
            return Invoke(s, Py.GetAttr(target, ga.Name));
        }
        return Invoke(s, callee.Eval(s));
    }

    private object? Invoke(RenderState s, object? f)
    {
        switch (f)
        {
            case Callable c:
                return c.Invoke(s, args.Eval(s), this);
            case Undefined u:
                u.Fail();
                return null;
            default:
                throw new PyException($"'{Py.TypeName(f)}' object is not callable");
        }
    }
}

internal sealed class FilterExpr(Expr? input, string name, CallArguments args, int line, int column) : Expr(line, column)
{
    public Expr? Input { get; } = input;

    public string Name { get; } = name;

    public CallArguments Args { get; } = args;

    /// <summary>Applies the filter to a value computed elsewhere (filter blocks use this with their body text).</summary>
    public object? Apply(RenderState s, object? value)
    {
        try
        {
            return Filters.Apply(s, Name, value, Args.Eval(s), this);
        }
        catch (PyException e)
        {
            throw Error(e.Message);
        }
    }

    protected override object? Evaluate(RenderState s) => Filters.Apply(s, Name, Input!.Eval(s), Args.Eval(s), this);
}

internal sealed class TestExpr(Expr input, string name, CallArguments args, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s) => TemplateTests.Apply(s, name, input.Eval(s), args.Eval(s));
}

internal sealed class NotExpr(Expr operand, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s) => !Py.Truthy(operand.Eval(s));
}

internal sealed class NegExpr(Expr operand, bool negate, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s) => negate ? Py.Negate(operand.Eval(s)) : Py.Plus(operand.Eval(s));
}

internal sealed class BinaryExpr(string op, Expr left, Expr right, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s)
    {
        var a = left.Eval(s);
        var b = right.Eval(s);
        return op switch
        {
            "+" => Py.Add(a, b),
            "-" => Py.Sub(a, b),
            "*" => Py.Mul(a, b),
            "/" => Py.TrueDiv(a, b),
            "//" => Py.FloorDiv(a, b),
            "%" => Py.Mod(a, b),
            "**" => Py.Pow(a, b),
            _ => throw new InvalidOperationException(op),
        };
    }
}

internal sealed class AndExpr(Expr left, Expr right, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s)
    {
        var a = left.Eval(s);
        return Py.Truthy(a) ? right.Eval(s) : a;
    }
}

internal sealed class OrExpr(Expr left, Expr right, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s)
    {
        var a = left.Eval(s);
        return Py.Truthy(a) ? a : right.Eval(s);
    }
}

/// <summary>Chained comparison <c>a op b op c</c> (Python semantics: each pair compared, left to right).</summary>
internal sealed class CompareExpr(Expr first, (string Op, Expr Operand)[] rest, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s)
    {
        var left = first.Eval(s);
        foreach (var (op, operand) in rest)
        {
            var right = operand.Eval(s);
            bool ok = op switch
            {
                "==" => Py.Eq(left, right),
                "!=" => !Py.Eq(left, right),
                "<" => Py.Compare(left, right, op) < 0,
                "<=" => Py.Compare(left, right, op) <= 0,
                ">" => Py.Compare(left, right, op) > 0,
                ">=" => Py.Compare(left, right, op) >= 0,
                "in" => Py.Contains(right, left),
                "not in" => !Py.Contains(right, left),
                _ => throw new InvalidOperationException(op),
            };
            if (!ok)
            {
                return false;
            }
            left = right;
        }
        return true;
    }
}

/// <summary><c>a ~ b ~ c</c>: the str() of each operand joined.</summary>
internal sealed class ConcatExpr(Expr[] parts, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s) => string.Concat(parts.Select(p => Py.Str(p.Eval(s))));
}

internal sealed class CondExpr(Expr test, Expr then, Expr? otherwise, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s)
    {
        if (Py.Truthy(test.Eval(s)))
        {
            return then.Eval(s);
        }
        return otherwise is null
            ? Undefined.WithHint($"the inline if-expression on line {Line} evaluated to false and no else section was defined.")
            : otherwise.Eval(s);
    }
}

internal sealed class ListExpr(Expr[] items, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s)
    {
        var list = new List<object?>(items.Length);
        foreach (var e in items)
        {
            list.Add(e.Eval(s));
        }
        return list;
    }
}

internal sealed class TupleExpr(Expr[] items, int line, int column) : Expr(line, column)
{
    public Expr[] Items { get; } = items;

    protected override object? Evaluate(RenderState s) => Items.Select(e => e.Eval(s)).ToArray();
}

internal sealed class DictExpr((Expr Key, Expr Value)[] pairs, int line, int column) : Expr(line, column)
{
    protected override object? Evaluate(RenderState s)
    {
        var d = new PyDict(pairs.Length);
        foreach (var (k, v) in pairs)
        {
            d[PyDict.Key(k.Eval(s))] = v.Eval(s);
        }
        return d;
    }
}
