namespace PeftSharp.Peft.Core;

/// <summary>An adapter configuration holds a missing, malformed or unsupported value. The message names the field.</summary>
public sealed class AdapterConfigException : FormatException
{
    public AdapterConfigException(string field, string message)
        : base($"adapter_config.json field \"{field}\": {message}")
    {
        Field = field;
    }

    /// <summary>The Hugging Face field name at fault.</summary>
    public string Field { get; }
}
