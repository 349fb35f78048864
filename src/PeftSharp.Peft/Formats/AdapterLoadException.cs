namespace PeftSharp.Peft.Formats;

/// <summary>An adapter file does not fit the model: a key names no module of it, a tensor is missing, or shapes differ.</summary>
public sealed class AdapterLoadException : IOException
{
    public AdapterLoadException(string message) : base(message)
    {
    }
}
