using System.Text.Json;

namespace PeftSharp.Training.Data;

/// <summary>
/// Reads JSON Lines data files, one record per line, streaming: UTF-8 (a byte-order mark is tolerated), LF or CRLF
/// line ends, blank lines skipped (they still count for line numbers), each line at most
/// <see cref="DataReadOptions.MaxLineBytes"/>. Fields other than the ones a format needs are ignored.
/// </summary>
public static class JsonlReader
{
    private static readonly JsonDocumentOptions s_jsonOptions = new() { MaxDepth = 64 };

    /// <summary>Reads the records of a file lazily (the file stays open while enumerating).</summary>
    /// <param name="path">The file.</param>
    /// <param name="options">Format, skipping and limits; defaults when null.</param>
    /// <param name="report">Receives skipped lines when <see cref="DataReadOptions.SkipBadLines"/> is set.</param>
    /// <exception cref="FileNotFoundException">The file does not exist (thrown when enumeration starts).</exception>
    /// <exception cref="DataFormatException">A line is malformed (and skipping is off); the message names the file, line and problem.</exception>
    public static IEnumerable<DataRecord> Read(string path, DataReadOptions? options = null, DataReadReport? report = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= new DataReadOptions();
        options.Validate();
        return ReadCore(() => OpenFile(path), path, options, report);
    }

    /// <summary>Reads records from a stream; <paramref name="sourceName"/> names it in errors. The stream is disposed at the end.</summary>
    public static IEnumerable<DataRecord> Read(Stream stream, string sourceName, DataReadOptions? options = null, DataReadReport? report = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        options ??= new DataReadOptions();
        options.Validate();
        return ReadCore(() => stream, sourceName, options, report);
    }

    internal static Stream OpenFile(string path) =>
        File.Exists(path)
            ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan)
            : throw new FileNotFoundException($"Data file not found: {path}", path);

    private static IEnumerable<DataRecord> ReadCore(Func<Stream> open, string source, DataReadOptions options, DataReadReport? report)
    {
        using var reader = new LineReader(open(), options.MaxLineBytes);
        var format = options.Format;
        long detectedAt = 0;
        while (true)
        {
            var status = reader.Next(out var line);
            if (status == LineReader.Status.End)
            {
                yield break;
            }
            long lineNumber = reader.LineNumber;
            DataRecord? record = null;
            string? problem = null;
            if (status == LineReader.Status.TooLong)
            {
                problem = $"line is longer than the limit of {options.MaxLineBytes} bytes";
            }
            else if (IsBlank(line))
            {
                continue;
            }
            else
            {
                try
                {
                    using var doc = JsonDocument.Parse(line.AsMemory(), s_jsonOptions);
                    var root = doc.RootElement;
                    if (root.ValueKind != JsonValueKind.Object)
                    {
                        throw new RecordException($"expected a JSON object, got {Kind(root)}");
                    }
                    var lineFormat = format == DataFormat.Auto ? Detect(root) : format;
                    try
                    {
                        record = ReadRecord(root, lineFormat, source, lineNumber);
                    }
                    catch (RecordException e) when (detectedAt > 0)
                    {
                        throw new RecordException($"{e.Message} (the file's format is {Describe(format)}, detected from line {detectedAt})");
                    }
                    if (format == DataFormat.Auto)
                    {
                        format = lineFormat;
                        detectedAt = lineNumber;
                    }
                }
                catch (JsonException e)
                {
                    problem = $"not valid JSON at byte {e.BytePositionInLine + 1}: {FirstSentence(e.Message)}";
                }
                catch (RecordException e)
                {
                    problem = e.Message;
                }
                catch (InvalidOperationException e)
                {
                    // System.Text.Json validates UTF-8 in strings only when they are read.
                    problem = $"a string is not valid UTF-8 ({FirstSentence(e.Message)})";
                }
            }
            if (problem is not null)
            {
                var error = new DataFormatException(source, lineNumber, problem);
                if (!options.SkipBadLines)
                {
                    throw error;
                }
                report?.Skip(error);
                continue;
            }
            yield return record!;
        }
    }

    private static DataFormat Detect(JsonElement root)
    {
        if (root.TryGetProperty("messages", out _))
        {
            return DataFormat.Messages;
        }
        if (root.TryGetProperty("prompt", out _) || root.TryGetProperty("completion", out _))
        {
            return DataFormat.PromptCompletion;
        }
        if (root.TryGetProperty("text", out _))
        {
            return root.TryGetProperty("label", out _) ? DataFormat.Classification : DataFormat.Text;
        }
        var names = root.EnumerateObject().Select(p => $"\"{p.Name}\"").Take(10).ToList();
        throw new RecordException(
            "cannot tell the record format: expected \"text\", \"prompt\" and \"completion\", \"messages\", or \"text\" and \"label\"; found "
            + (names.Count == 0 ? "an empty object" : string.Join(", ", names)));
    }

    private static DataRecord ReadRecord(JsonElement root, DataFormat format, string source, long line) => format switch
    {
        DataFormat.Text => new TextRecord(source, line, RequireString(root, "text")),
        DataFormat.PromptCompletion => new PromptCompletionRecord(source, line, RequireString(root, "prompt"), RequireString(root, "completion")),
        DataFormat.Classification => new ClassificationRecord(source, line, RequireString(root, "text"), ReadLabel(root)),
        DataFormat.Messages => new ChatRecord(source, line, ReadMessages(root)),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown data format."),
    };

    private static string RequireString(JsonElement obj, string field, string? where = null)
    {
        string name = where is null ? $"\"{field}\"" : $"{where}.{field}";
        if (!obj.TryGetProperty(field, out var v))
        {
            throw new RecordException($"missing {name}");
        }
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new RecordException($"expected a string in {name}, got {Kind(v)}");
    }

    private static RawLabel ReadLabel(JsonElement root)
    {
        if (!root.TryGetProperty("label", out var v))
        {
            throw new RecordException("missing \"label\"");
        }
        switch (v.ValueKind)
        {
            case JsonValueKind.String:
                return RawLabel.FromName(v.GetString()!);
            case JsonValueKind.Number when v.TryGetInt64(out long id) && id >= 0:
                return RawLabel.FromId(id);
            default:
                throw new RecordException($"expected a string or a non-negative integer in \"label\", got {Kind(v)}"
                    + (v.ValueKind == JsonValueKind.Number ? $" {v.GetRawText()}" : ""));
        }
    }

    private static List<ChatMessage> ReadMessages(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out var array))
        {
            throw new RecordException("missing \"messages\"");
        }
        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new RecordException($"expected a list of messages in \"messages\", got {Kind(array)}");
        }
        var messages = new List<ChatMessage>(array.GetArrayLength());
        int i = 0;
        foreach (var m in array.EnumerateArray())
        {
            string where = $"messages[{i}]";
            if (m.ValueKind != JsonValueKind.Object)
            {
                throw new RecordException($"expected an object in {where}, got {Kind(m)}");
            }
            string role = RequireString(m, "role", where);
            string content = RequireString(m, "content", where);
            List<KeyValuePair<string, JsonElement>>? extra = null;
            foreach (var p in m.EnumerateObject())
            {
                if (p.Name is not ("role" or "content"))
                {
                    (extra ??= []).Add(new(p.Name, p.Value.Clone()));
                }
            }
            messages.Add(new ChatMessage(role, content, extra));
            i++;
        }
        return messages.Count > 0 ? messages : throw new RecordException("\"messages\" is empty");
    }

    internal static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => v.ValueKind.ToString(),
    };

    internal static string Describe(DataFormat f) => f switch
    {
        DataFormat.Text => "text",
        DataFormat.PromptCompletion => "prompt/completion",
        DataFormat.Messages => "messages",
        DataFormat.Classification => "classification (text/label)",
        _ => "auto",
    };

    private static bool IsBlank(ArraySegment<byte> line)
    {
        foreach (byte b in line.AsSpan())
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r'))
            {
                return false;
            }
        }
        return true;
    }

    private static string FirstSentence(string message)
    {
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut].TrimEnd() : message;
    }

    /// <summary>A problem with one record, turned into a <see cref="DataFormatException"/> by the reader.</summary>
    private sealed class RecordException(string message) : Exception(message);
}
