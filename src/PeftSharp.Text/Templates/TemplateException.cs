namespace PeftSharp.Text.Templates;

/// <summary>
/// Base class of every error raised while parsing or rendering a chat template. <see cref="Line"/> and
/// <see cref="Column"/> (1-based, in the template after newline normalization) locate the construct involved;
/// both are 0 when no position applies.
/// </summary>
public class TemplateException : Exception
{
    public TemplateException(string message) : base(message)
    {
    }

    public TemplateException(string message, Exception inner) : base(message, inner)
    {
    }

    protected TemplateException(string message, int line, int column) : base(message)
    {
        Line = line;
        Column = column;
    }

    public int Line { get; }

    public int Column { get; }
}
