using System.Text;
using System.Text.Json;

namespace PeftSharp.Training.Metrics;

/// <summary>
/// Appends metric records to a JSON Lines file, one object per line, flushed after every line so a crash loses
/// at most the line being written and other programs can follow the file live.
/// </summary>
public sealed class JsonlMetricsWriter : IDisposable
{
    private readonly FileStream _file;
    private readonly System.Buffers.ArrayBufferWriter<byte> _buffer = new(512);

    /// <summary>Opens (creating, and by default appending to) <paramref name="path"/>.</summary>
    public JsonlMetricsWriter(string path, bool append = true)
    {
        Path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _file = new FileStream(Path, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read);
    }

    public string Path { get; }

    /// <summary>Writes one record as a line and flushes it.</summary>
    public void Write(MetricRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        _buffer.ResetWrittenCount();
        using (var json = new Utf8JsonWriter(_buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", record.Type);
            json.WriteNumber("step", record.Step);
            foreach (var (name, value) in record.Values)
            {
                if (double.IsFinite(value))
                {
                    json.WriteNumber(name, value);
                }
                else
                {
                    json.WriteNull(name);
                }
            }
            if (record.Message is not null)
            {
                json.WriteString("message", record.Message);
            }
            json.WriteEndObject();
        }
        _buffer.GetSpan(1)[0] = (byte)'\n';
        _buffer.Advance(1);
        _file.Write(_buffer.WrittenSpan);
        _file.Flush();
    }

    public void Dispose() => _file.Dispose();

    /// <summary>
    /// Reads a metrics file. Lines that are not a JSON object with "type" and "step" (such as a last line cut
    /// short by a crash) are skipped; a null value reads back as NaN.
    /// </summary>
    public static List<MetricRecord> Read(string path)
    {
        var result = new List<MetricRecord>();
        if (!File.Exists(path))
        {
            return result;
        }
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            if (TryParse(line, out var record))
            {
                result.Add(record);
            }
        }
        return result;
    }

    /// <summary>
    /// Rewrites the file keeping only records with step ≤ <paramref name="step"/> (used when a run resumes from an
    /// earlier checkpoint, so the steps it repeats are not logged twice). Atomic: write a copy, then rename.
    /// </summary>
    public static void TruncateAfter(string path, long step)
    {
        if (!File.Exists(path))
        {
            return;
        }
        var keep = File.ReadLines(path, Encoding.UTF8).Where(l => TryParse(l, out var r) && r.Step <= step).ToList();
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        File.WriteAllLines(temp, keep, new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }

    private static bool TryParse(string line, out MetricRecord record)
    {
        record = null!;
        if (string.IsNullOrWhiteSpace(line))
        {
            return false;
        }
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("step", out var stepElement) || !stepElement.TryGetInt64(out long step))
            {
                return false;
            }
            var values = new Dictionary<string, double>(StringComparer.Ordinal);
            string? message = null;
            foreach (var p in root.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "type" or "step":
                        break;
                    case "message" when p.Value.ValueKind == JsonValueKind.String:
                        message = p.Value.GetString();
                        break;
                    default:
                        if (p.Value.ValueKind == JsonValueKind.Number)
                        {
                            values[p.Name] = p.Value.GetDouble();
                        }
                        else if (p.Value.ValueKind == JsonValueKind.Null)
                        {
                            values[p.Name] = double.NaN;
                        }
                        break;
                }
            }
            record = new MetricRecord(type.GetString()!, step, values, message);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
