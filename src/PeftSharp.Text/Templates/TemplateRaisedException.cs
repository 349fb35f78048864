namespace PeftSharp.Text.Templates;

/// <summary>
/// The template itself called <c>raise_exception(message)</c>; <see cref="Exception.Message"/> is that
/// message, unchanged (as Hugging Face <c>transformers</c> raises it).
/// </summary>
public sealed class TemplateRaisedException : TemplateException
{
    public TemplateRaisedException(string message, int line, int column) : base(message, line, column)
    {
    }
}
