namespace PeftSharp.Text.Templates;

/// <summary>Base class of every error raised while parsing or rendering a chat template.</summary>
public class TemplateException : Exception
{
    public TemplateException(string message) : base(message)
    {
    }

    public TemplateException(string message, Exception inner) : base(message, inner)
    {
    }
}
