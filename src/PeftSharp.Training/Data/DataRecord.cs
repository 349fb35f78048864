using System.Text.Json;

namespace PeftSharp.Training.Data;

/// <summary>One record of a data file, with where it came from (for error messages).</summary>
/// <param name="Source">The file path as given to the reader.</param>
/// <param name="Line">1-based line number of the record in <paramref name="Source"/>.</param>
public abstract record DataRecord(string Source, long Line);

/// <summary><c>{"text"}</c>.</summary>
public sealed record TextRecord(string Source, long Line, string Text) : DataRecord(Source, Line);

/// <summary><c>{"prompt", "completion"}</c>.</summary>
public sealed record PromptCompletionRecord(string Source, long Line, string Prompt, string Completion) : DataRecord(Source, Line);

/// <summary><c>{"messages": [...]}</c>: a conversation to render with a chat template.</summary>
public sealed record ChatRecord(string Source, long Line, IReadOnlyList<ChatMessage> Messages) : DataRecord(Source, Line);

/// <summary>
/// One chat message. <see cref="Extra"/> holds the message's other fields (e.g. <c>tool_calls</c>,
/// <c>reasoning_content</c>) as read, so the chat template sees them.
/// </summary>
public sealed record ChatMessage(string Role, string Content, IReadOnlyList<KeyValuePair<string, JsonElement>>? Extra = null);

/// <summary><c>{"text", "label"}</c> or a CSV row; the label as written (a string or an integer).</summary>
public sealed record ClassificationRecord(string Source, long Line, string Text, RawLabel Label) : DataRecord(Source, Line);

/// <summary>A class label as written in the file: a name or an integer id.</summary>
public readonly record struct RawLabel
{
    private RawLabel(string? name, long id)
    {
        Name = name;
        Id = id;
    }

    /// <summary>The label's name, or null for an integer label.</summary>
    public string? Name { get; }

    /// <summary>The integer label (meaningful when <see cref="Name"/> is null).</summary>
    public long Id { get; }

    public bool IsName => Name is not null;

    public static RawLabel FromName(string name) => new(name ?? throw new ArgumentNullException(nameof(name)), 0);

    public static RawLabel FromId(long id) => new(null, id);

    /// <inheritdoc />
    public override string ToString() => Name is null ? Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"\"{Name}\"";
}
