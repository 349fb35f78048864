using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PeftSharp.Peft.Core;

/// <summary>
/// Reads typed fields out of an adapter_config.json object and remembers which ones it consumed, so that every
/// other field is kept verbatim (<see cref="Remaining"/>) and written back on save. Each failure names the field.
/// </summary>
public sealed class ConfigReader
{
    private readonly JsonObject _json;
    private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);

    public ConfigReader(JsonObject json) => _json = json;

    private JsonNode? Take(string field)
    {
        _consumed.Add(field);
        return _json.TryGetPropertyValue(field, out var node) ? node : null;
    }

    public string? String(string field, string? fallback = null)
    {
        var n = Take(field);
        if (n is null)
        {
            return fallback;
        }
        return n is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new AdapterConfigException(field, $"expected a string; got {n.ToJsonString()}.");
    }

    public bool Bool(string field, bool fallback)
    {
        var n = Take(field);
        if (n is null)
        {
            return fallback;
        }
        return n is JsonValue v && v.TryGetValue<bool>(out var b) ? b : throw new AdapterConfigException(field, $"expected true or false; got {n.ToJsonString()}.");
    }

    public double Number(string field, double fallback)
    {
        var n = Take(field);
        if (n is null)
        {
            return fallback;
        }
        return AsNumber(field, n);
    }

    public int Int(string field, int fallback)
    {
        var n = Take(field);
        if (n is null)
        {
            return fallback;
        }
        return AsInt(field, n);
    }

    /// <summary>The raw node (for fields with several allowed forms, e.g. init_lora_weights).</summary>
    public JsonNode? Raw(string field) => Take(field)?.DeepClone();

    public IReadOnlyList<string>? StringList(string field)
    {
        var n = Take(field);
        if (n is null)
        {
            return null;
        }
        if (n is not JsonArray a)
        {
            throw new AdapterConfigException(field, $"expected a list of strings; got {n.ToJsonString()}.");
        }
        return a.Select(e => e is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new AdapterConfigException(field, $"expected a list of strings; entry {e?.ToJsonString() ?? "null"} is not a string.")).ToArray();
    }

    /// <summary>A list of names or one regex string; null when absent or JSON null. An empty list is null as well.</summary>
    public ModuleSelector? Selector(string field)
    {
        var n = Take(field);
        return n switch
        {
            null => null,
            JsonValue v when v.TryGetValue<string>(out var s) => ModuleSelector.Regex(s),
            JsonArray a => ModuleSelector.List(a.Select(e => e is JsonValue ev && ev.TryGetValue<string>(out var s) ? s : throw new AdapterConfigException(field, $"entry {e?.ToJsonString() ?? "null"} is not a string.")).ToArray()),
            _ => throw new AdapterConfigException(field, $"expected a list of module names or a regex string; got {n.ToJsonString()}."),
        };
    }

    /// <summary>An int or a list of ints; null when absent.</summary>
    public IReadOnlyList<int>? IntOrIntList(string field)
    {
        var n = Take(field);
        return n switch
        {
            null => null,
            JsonArray a => a.Select(e => e is null ? throw new AdapterConfigException(field, "null entry in list.") : AsInt(field, e)).ToArray(),
            _ => [AsInt(field, n)],
        };
    }

    /// <summary>An object of regex key → number, in file order (order decides which pattern wins).</summary>
    public IReadOnlyList<KeyValuePair<string, double>> Pattern(string field)
    {
        var n = Take(field);
        if (n is null)
        {
            return [];
        }
        if (n is not JsonObject o)
        {
            throw new AdapterConfigException(field, $"expected an object of pattern → number; got {n.ToJsonString()}.");
        }
        return o.Select(kv => new KeyValuePair<string, double>(kv.Key, kv.Value is null ? throw new AdapterConfigException(field, $"pattern \"{kv.Key}\" has no value.") : AsNumber(field, kv.Value))).ToArray();
    }

    /// <summary>Every field not consumed so far, copied.</summary>
    public JsonObject Remaining()
    {
        var rest = new JsonObject();
        foreach (var (k, v) in _json)
        {
            if (!_consumed.Contains(k))
            {
                rest[k] = v?.DeepClone();
            }
        }
        return rest;
    }

    private static double AsNumber(string field, JsonNode n)
    {
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && double.IsFinite(d))
        {
            return d;
        }
        throw new AdapterConfigException(field, $"expected a number; got {n.ToJsonString()}.");
    }

    private static int AsInt(string field, JsonNode n)
    {
        double d = AsNumber(field, n);
        if (d != System.Math.Floor(d) || d < int.MinValue || d > int.MaxValue)
        {
            throw new AdapterConfigException(field, $"expected an integer; got {n.ToJsonString()}.");
        }
        return (int)d;
    }
}

/// <summary>Builds adapter_config.json as Hugging Face writes it: keys sorted, two-space indent, Python number spelling.</summary>
public sealed class ConfigWriter
{
    private readonly SortedDictionary<string, JsonNode?> _fields = new(StringComparer.Ordinal);

    public ConfigWriter(JsonObject preserved)
    {
        foreach (var (k, v) in preserved)
        {
            _fields[k] = v?.DeepClone();
        }
    }

    public ConfigWriter Set(string field, JsonNode? value)
    {
        _fields[field] = value;
        return this;
    }

    public ConfigWriter Set(string field, string? value) => Set(field, value is null ? null : JsonValue.Create(value));

    public ConfigWriter Set(string field, bool value) => Set(field, JsonValue.Create(value));

    public ConfigWriter Set(string field, int value) => Set(field, JsonValue.Create(value));

    /// <summary>Writes a number as Python's json does: integral values of int fields as ints, floats with a ".0".</summary>
    public ConfigWriter SetFloat(string field, double value) => Set(field, PyFloat(value));

    /// <summary>An integer when integral (fields PEFT types as int but accepts floats for), else a float.</summary>
    public ConfigWriter SetIntOrFloat(string field, double value) =>
        Set(field, value == System.Math.Floor(value) && System.Math.Abs(value) < 1e15 ? JsonValue.Create((long)value) : PyFloat(value));

    public ConfigWriter Set(string field, ModuleSelector? value) => Set(field, value?.ToJson());

    public ConfigWriter Set(string field, IReadOnlyList<string>? value) =>
        Set(field, value is null ? null : new JsonArray(value.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()));

    public ConfigWriter Set(string field, IReadOnlyList<KeyValuePair<string, double>> pattern)
    {
        var o = new JsonObject();
        foreach (var (k, v) in pattern)
        {
            o[k] = v == System.Math.Floor(v) && System.Math.Abs(v) < 1e15 ? JsonValue.Create((long)v) : PyFloat(v);
        }
        return Set(field, o);
    }

    internal static JsonNode PyFloat(double v)
    {
        string text = v == System.Math.Floor(v) && System.Math.Abs(v) < 1e16
            ? v.ToString("0.0", CultureInfo.InvariantCulture)
            : v.ToString("R", CultureInfo.InvariantCulture);
        return JsonNode.Parse(text)!;
    }

    public JsonObject ToJsonObject()
    {
        var o = new JsonObject();
        foreach (var (k, v) in _fields)
        {
            o[k] = v?.DeepClone();
        }
        return o;
    }

    public override string ToString() => ToJsonObject().ToJsonString(new JsonSerializerOptions { WriteIndented = true, IndentSize = 2, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}
