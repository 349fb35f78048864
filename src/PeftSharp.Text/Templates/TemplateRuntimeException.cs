namespace PeftSharp.Text.Templates;

/// <summary>
/// Rendering failed: an undefined value was used, an operation does not apply to a value's type, a
/// limit was exceeded, and so on. <see cref="TemplateException.Line"/> and <see cref="TemplateException.Column"/> locate the expression
/// or statement being evaluated.
/// </summary>
public sealed class TemplateRuntimeException : TemplateException
{
    public TemplateRuntimeException(string reason, int line, int column)
        : base($"{reason} (line {line}, column {column})", line, column)
    {
        Reason = reason;
    }

    /// <summary>The message without the position suffix (the text Python Jinja2 would give).</summary>
    public string Reason { get; }
}
