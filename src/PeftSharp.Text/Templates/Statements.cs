namespace PeftSharp.Text.Templates;

internal enum Flow
{
    Normal,
    Break,
    Continue,
}

internal abstract class Stmt(int line, int column) : Node(line, column)
{
    public abstract Flow Run(RenderState s);

    public static Flow RunAll(Stmt[] body, RenderState s)
    {
        foreach (var stmt in body)
        {
            var flow = stmt.Run(s);
            if (flow != Flow.Normal)
            {
                return flow;
            }
        }
        return Flow.Normal;
    }
}

internal sealed class TextStmt(string text, int line, int column) : Stmt(line, column)
{
    public override Flow Run(RenderState s)
    {
        s.Output.Append(text);
        return Flow.Normal;
    }
}

internal sealed class OutputStmt(Expr expr, int line, int column) : Stmt(line, column)
{
    public override Flow Run(RenderState s)
    {
        if (s.Output.Length > RenderState.MaxOutputLength)
        {
            throw Error($"the rendered text exceeds {RenderState.MaxOutputLength} characters");
        }
        var v = expr.Eval(s);
        if (v is string str)
        {
            s.Output.Append(str);
        }
        else
        {
            try
            {
                s.Output.Append(Py.Str(v));
            }
            catch (PyException e)
            {
                throw Error(e.Message);
            }
        }
        return Flow.Normal;
    }
}

internal sealed class IfStmt((Expr Test, Stmt[] Body)[] branches, Stmt[]? otherwise, int line, int column) : Stmt(line, column)
{
    public override Flow Run(RenderState s)
    {
        foreach (var (test, body) in branches)
        {
            if (Py.Truthy(test.Eval(s)))
            {
                return RunAll(body, s);
            }
        }
        return otherwise is null ? Flow.Normal : RunAll(otherwise, s);
    }
}

/// <summary>An assignment target: a name, a tuple of targets, or a namespace attribute (<c>ns.attr</c>).</summary>
internal sealed class Target(string? name, Target[]? items, string? attribute, int line, int column) : Node(line, column)
{
    public string? Name { get; } = name;

    public Target[]? Items { get; } = items;

    public string? Attribute { get; } = attribute;

    public void Assign(RenderState s, object? value)
    {
        if (Items is not null)
        {
            List<object?> values;
            try
            {
                values = Py.Iterate(value);
            }
            catch (PyException e)
            {
                throw Error($"cannot unpack non-iterable {Py.TypeName(value)} object ({e.Message})");
            }
            if (values.Count != Items.Length)
            {
                throw Error(values.Count > Items.Length
                    ? $"too many values to unpack (expected {Items.Length})"
                    : $"not enough values to unpack (expected {Items.Length}, got {values.Count})");
            }
            for (int i = 0; i < Items.Length; i++)
            {
                Items[i].Assign(s, values[i]);
            }
            return;
        }
        if (Attribute is not null)
        {
            if (!s.Scope.TryGet(Name!, out var ns) || ns is not JinjaNamespace jns)
            {
                throw Error($"cannot assign attribute '{Attribute}' on '{Name}': it is not a namespace() object");
            }
            jns.Attributes[Attribute] = value;
            return;
        }
        s.Scope.Set(Name!, value);
    }
}

internal sealed class SetStmt(Target target, Expr value, int line, int column) : Stmt(line, column)
{
    public override Flow Run(RenderState s)
    {
        target.Assign(s, value.Eval(s));
        return Flow.Normal;
    }
}

/// <summary><c>{% set x %}...{% endset %}</c>, optionally filtered: the rendered body becomes the value.</summary>
internal sealed class SetBlockStmt(Target target, FilterExpr[] filters, Stmt[] body, int line, int column) : Stmt(line, column)
{
    public override Flow Run(RenderState s)
    {
        object? value = Capture.Render(s, body);
        foreach (var f in filters)
        {
            value = f.Apply(s, value);
        }
        target.Assign(s, value);
        return Flow.Normal;
    }
}

internal sealed class FilterBlockStmt(FilterExpr[] filters, Stmt[] body, int line, int column) : Stmt(line, column)
{
    public override Flow Run(RenderState s)
    {
        object? value = Capture.Render(s, body);
        foreach (var f in filters)
        {
            value = f.Apply(s, value);
        }
        s.Output.Append(Py.Str(value));
        return Flow.Normal;
    }
}

internal static class Capture
{
    /// <summary>Renders a block body into a string, in its own scope as Jinja2 does for set and filter blocks.</summary>
    public static string Render(RenderState s, Stmt[] body)
    {
        var saved = s.Output;
        var savedScope = s.Scope;
        s.Output = new System.Text.StringBuilder();
        s.Scope = new Scope(savedScope);
        try
        {
            Stmt.RunAll(body, s);
            return s.Output.ToString();
        }
        finally
        {
            s.Output = saved;
            s.Scope = savedScope;
        }
    }
}

internal sealed class ForStmt(Target target, Expr iterable, Expr? filter, Stmt[] body, Stmt[]? otherwise, int line, int column)
    : Stmt(line, column)
{
    public override Flow Run(RenderState s)
    {
        var source = iterable.Eval(s);
        List<object?> items;
        try
        {
            items = Py.Iterate(source);
        }
        catch (PyException e)
        {
            throw iterable.Error(e.Message);
        }
        var outer = s.Scope;
        var scope = new Scope(outer);
        s.Scope = scope;
        try
        {
            if (filter is not null)
            {
                var kept = new List<object?>();
                foreach (var item in items)
                {
                    s.CountIteration(this);
                    target.Assign(s, item);
                    if (Py.Truthy(filter.Eval(s)))
                    {
                        kept.Add(item);
                    }
                }
                items = kept;
            }
            else if (source is List<object?>)
            {
                // Copy so the loop sees a stable sequence, as Python iterates a snapshot of its own list.
                items = [.. items];
            }
            var loop = new LoopContext(items) { Depth0 = s.LoopDepth };
            s.LoopDepth++;
            for (int i = 0; i < items.Count; i++)
            {
                s.CountIteration(this);
                loop.Index0 = i;
                target.Assign(s, items[i]);
                scope.Set("loop", loop);
                if (RunAll(body, s) == Flow.Break)
                {
                    break;
                }
            }
            s.LoopDepth--;
        }
        finally
        {
            s.Scope = outer;
        }
        if (items.Count == 0 && otherwise is not null)
        {
            return RunAll(otherwise, s);
        }
        return Flow.Normal;
    }
}

internal sealed class LoopControlStmt(Flow flow, int line, int column) : Stmt(line, column)
{
    public override Flow Run(RenderState s) => flow;
}

/// <summary><c>{% with a = 1 %}...{% endwith %}</c>: the body runs in its own scope.</summary>
internal sealed class WithStmt((Target Target, Expr Value)[] assignments, Stmt[] body, int line, int column) : Stmt(line, column)
{
    public override Flow Run(RenderState s)
    {
        var values = assignments.Select(a => a.Value.Eval(s)).ToArray();
        var outer = s.Scope;
        s.Scope = new Scope(outer);
        try
        {
            for (int i = 0; i < values.Length; i++)
            {
                assignments[i].Target.Assign(s, values[i]);
            }
            return RunAll(body, s);
        }
        finally
        {
            s.Scope = outer;
        }
    }
}

/// <summary><c>{% generation %}</c> (transformers' assistant-mask extension): renders its body unchanged.</summary>
internal sealed class GenerationStmt(Stmt[] body, int line, int column) : Stmt(line, column)
{
    public override Flow Run(RenderState s) => RunAll(body, s);
}

internal sealed class MacroStmt(Macro macro, int line, int column) : Stmt(line, column)
{
    public override Flow Run(RenderState s)
    {
        s.Scope.Set(macro.Name, macro.Bind(s.Scope));
        return Flow.Normal;
    }
}

/// <summary>A macro definition; <see cref="Bind"/> closes it over the scope where it is defined.</summary>
internal sealed class Macro(string name, string[] parameters, Expr?[] defaults, Stmt[] body, bool usesVarargs, bool usesKwargs, Scope? closure = null)
    : Callable
{
    public override string Name => name;

    public Macro Bind(Scope scope) => new(name, parameters, defaults, body, usesVarargs, usesKwargs, scope);

    public override object? Invoke(RenderState s, Arguments args, Node at)
    {
        if (s.CallDepth >= RenderState.MaxCallDepth)
        {
            throw at.Error($"macro '{name}' nested more than {RenderState.MaxCallDepth} calls deep (runaway recursion?)");
        }
        var scope = new Scope(closure);
        var assigned = new bool[parameters.Length];
        var extra = new List<object?>();
        for (int i = 0; i < args.Positional.Length; i++)
        {
            if (i < parameters.Length)
            {
                scope.Set(parameters[i], args.Positional[i]);
                assigned[i] = true;
            }
            else if (usesVarargs)
            {
                extra.Add(args.Positional[i]);
            }
            else
            {
                throw new PyException($"macro '{name}' takes not more than {parameters.Length} argument(s)");
            }
        }
        var kwargs = new PyDict();
        foreach (var (key, value) in args.Named)
        {
            int idx = Array.IndexOf(parameters, key);
            if (idx >= 0)
            {
                if (idx < args.Positional.Length)
                {
                    throw new PyException($"macro '{name}' got multiple values for argument '{key}'");
                }
                scope.Set(key, value);
                assigned[idx] = true;
            }
            else if (usesKwargs)
            {
                kwargs[key] = value;
            }
            else
            {
                throw new PyException($"macro '{name}' takes no keyword argument '{key}'");
            }
        }
        var savedScope = s.Scope;
        var savedOut = s.Output;
        s.Scope = scope;
        s.Output = new System.Text.StringBuilder();
        s.CallDepth++;
        try
        {
            for (int i = 0; i < parameters.Length; i++)
            {
                if (!assigned[i])
                {
                    scope.Set(parameters[i], defaults[i] is { } d ? d.Eval(s) : Undefined.WithHint($"parameter '{parameters[i]}' was not provided"));
                }
            }
            if (usesVarargs)
            {
                scope.Set("varargs", extra.ToArray());
            }
            if (usesKwargs)
            {
                scope.Set("kwargs", kwargs);
            }
            Stmt.RunAll(body, s);
            return s.Output.ToString();
        }
        finally
        {
            s.CallDepth--;
            s.Scope = savedScope;
            s.Output = savedOut;
        }
    }
}
