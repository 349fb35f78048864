using System.Text;

namespace PeftSharp.Text.Templates;

/// <summary>Variables of one frame (template root, loop or macro call); lookups fall through to the parent.</summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);

    public Scope? Parent { get; } = parent;

    public bool TryGet(string name, out object? value)
    {
        for (var s = this; s is not null; s = s.Parent)
        {
            if (s._vars.TryGetValue(name, out value))
            {
                return true;
            }
        }
        value = null;
        return false;
    }

    public void Set(string name, object? value) => _vars[name] = value;
}

/// <summary>Mutable state of one render: output buffer, current scope, limits.</summary>
internal sealed class RenderState(Scope root, TimeProvider clock, long maxIterations)
{
    /// <summary>Nesting limit for macro calls (recursive macros) so a runaway template fails instead of overflowing the stack.</summary>
    public const int MaxCallDepth = 200;

    /// <summary>Output size at which rendering stops (a prompt is never this long; a runaway template can be).</summary>
    public const int MaxOutputLength = 1 << 26;

    private long _iterations;

    public StringBuilder Output { get; set; } = new();

    public Scope Scope { get; set; } = root;

    public TimeProvider Clock { get; } = clock;

    public int CallDepth { get; set; }

    public int LoopDepth { get; set; }

    public void CountIteration(Node at)
    {
        if (++_iterations > maxIterations)
        {
            throw new TemplateRuntimeException(
                $"the template ran more than {maxIterations} loop iterations (ChatTemplate.MaxLoopIterations)", at.Line, at.Column);
        }
    }
}
