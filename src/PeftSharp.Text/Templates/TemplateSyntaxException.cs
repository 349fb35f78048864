namespace PeftSharp.Text.Templates;

/// <summary>
/// The template text is malformed or uses a construct this engine does not support.
/// <see cref="TemplateException.Line"/> and <see cref="TemplateException.Column"/> (1-based, in the template after newline normalization)
/// locate the offending construct; the message names it and repeats the position.
/// </summary>
public sealed class TemplateSyntaxException : TemplateException
{
    public TemplateSyntaxException(string reason, int line, int column)
        : base($"{reason} (line {line}, column {column})", line, column)
    {
        Reason = reason;
    }

    /// <summary>The message without the position suffix.</summary>
    public string Reason { get; }
}
