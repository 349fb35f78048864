using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PeftSharp.Text.Templates;

/// <summary>Turns caller values (.NET primitives, collections, System.Text.Json elements and nodes) into template values.</summary>
internal static class ValueConverter
{
    private const int MaxDepth = 128;

    public static object? From(object? value, string path, int depth = 0)
    {
        if (depth > MaxDepth)
        {
            throw new ArgumentException($"Template context value '{path}' is nested more than {MaxDepth} levels deep (a cycle?).");
        }
        switch (value)
        {
            case null:
                return null;
            case string or bool or long or double:
                return value;
            case int or short or sbyte or byte or ushort or uint:
                return Convert.ToInt64(value, CultureInfo.InvariantCulture);
            case ulong u:
                return u <= long.MaxValue ? (long)u
                    : throw new ArgumentException($"Template context value '{path}' ({u}) is outside the 64-bit integer range.");
            case float f:
                return (double)f;
            case decimal m:
                return (double)m;
            case char c:
                return c.ToString();
            case JsonElement e:
                return FromElement(e, path, depth);
            case JsonNode n:
                return FromNode(n, path, depth);
            case PyDict or JinjaNamespace or Callable or Undefined:
                return value;
            case IDictionary<string, object?> dict:
                var d = new PyDict(dict.Count);
                foreach (var (k, v) in dict)
                {
                    d[k] = From(v, $"{path}.{k}", depth + 1);
                }
                return d;
            case IReadOnlyDictionary<string, object?> rod:
                var r = new PyDict(rod.Count);
                foreach (var (k, v) in rod)
                {
                    r[k] = From(v, $"{path}.{k}", depth + 1);
                }
                return r;
            case IDictionary legacy:
                var ld = new PyDict(legacy.Count);
                foreach (DictionaryEntry entry in legacy)
                {
                    ld[PyDict.Key(From(entry.Key, path, depth + 1))] = From(entry.Value, $"{path}.{entry.Key}", depth + 1);
                }
                return ld;
            case IEnumerable items:
                var list = new List<object?>();
                int i = 0;
                foreach (var item in items)
                {
                    list.Add(From(item, $"{path}[{i++}]", depth + 1));
                }
                return list;
            default:
                throw new ArgumentException($"Template context value '{path}' has unsupported type {value.GetType().FullName}.");
        }
    }

    public static object? FromElement(JsonElement e, string path, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new ArgumentException($"Template context value '{path}' is nested more than {MaxDepth} levels deep.");
        }
        switch (e.ValueKind)
        {
            case JsonValueKind.Null:
            case JsonValueKind.Undefined:
                return null;
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            case JsonValueKind.String:
                return e.GetString();
            case JsonValueKind.Number:
                if (e.TryGetInt64(out long l))
                {
                    return l;
                }
                var raw = e.GetRawText();
                if (raw.AsSpan().IndexOfAny(".eE") < 0)
                {
                    throw new ArgumentException($"Template context value '{path}' ({raw}) is an integer outside the 64-bit range.");
                }
                return e.GetDouble();
            case JsonValueKind.Array:
                var list = new List<object?>(e.GetArrayLength());
                int i = 0;
                foreach (var item in e.EnumerateArray())
                {
                    list.Add(FromElement(item, $"{path}[{i++}]", depth + 1));
                }
                return list;
            default:
                var d = new PyDict();
                foreach (var p in e.EnumerateObject())
                {
                    d[p.Name] = FromElement(p.Value, $"{path}.{p.Name}", depth + 1);
                }
                return d;
        }
    }

    private static object? FromNode(JsonNode n, string path, int depth)
    {
        switch (n)
        {
            case JsonObject o:
                var d = new PyDict(o.Count);
                foreach (var (k, v) in o)
                {
                    d[k] = v is null ? null : From(v, $"{path}.{k}", depth + 1);
                }
                return d;
            case JsonArray a:
                var list = new List<object?>(a.Count);
                for (int i = 0; i < a.Count; i++)
                {
                    list.Add(a[i] is { } item ? From(item, $"{path}[{i}]", depth + 1) : null);
                }
                return list;
            default:
                var value = (JsonValue)n;
                if (value.TryGetValue<JsonElement>(out var element))
                {
                    return FromElement(element, path, depth);
                }
                if (value.TryGetValue<string>(out var s))
                {
                    return s;
                }
                if (value.TryGetValue<bool>(out var b))
                {
                    return b;
                }
                if (value.TryGetValue<long>(out var l))
                {
                    return l;
                }
                if (value.TryGetValue<int>(out var i32))
                {
                    return (long)i32;
                }
                if (value.TryGetValue<double>(out var dbl))
                {
                    return dbl;
                }
                // Any other CLR value wrapped in a JsonValue: go through its JSON text.
                using (var doc = JsonDocument.Parse(value.ToJsonString()))
                {
                    return FromElement(doc.RootElement.Clone(), path, depth);
                }
        }
    }
}
