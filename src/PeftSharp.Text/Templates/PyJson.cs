using System.Globalization;
using System.Text;

namespace PeftSharp.Text.Templates;

/// <summary>Python's <c>json.dumps</c> over template values (what transformers' <c>tojson</c> filter calls).</summary>
internal static class PyJson
{
    public sealed record Options(bool EnsureAscii, string? Indent, string ItemSeparator, string KeySeparator, bool SortKeys);

    /// <summary>json.dumps defaults: separators ", " and ": ", or "," and ": " once an indent is given.</summary>
    public static Options MakeOptions(bool ensureAscii, object? indent, object? separators, bool sortKeys)
    {
        string? indentText = indent switch
        {
            null => null,
            long n => new string(' ', (int)Math.Clamp(n, 0, 1024)),
            bool b => new string(' ', b ? 1 : 0),
            string s => s,
            _ => throw new PyException($"tojson indent must be an int, a str or None, not {Py.TypeName(indent)}"),
        };
        string item = indentText is null ? ", " : ",";
        string key = ": ";
        if (separators is not null)
        {
            var parts = separators switch
            {
                object?[] t => t,
                List<object?> l => [.. l],
                _ => throw new PyException($"tojson separators must be a (item, key) pair, not {Py.TypeName(separators)}"),
            };
            if (parts.Length != 2 || parts[0] is not string i || parts[1] is not string k)
            {
                throw new PyException("tojson separators must be a pair of strings (item_separator, key_separator)");
            }
            item = i;
            key = k;
        }
        return new Options(ensureAscii, indentText, item, key, sortKeys);
    }

    public static string Dumps(object? value, Options options)
    {
        var sb = new StringBuilder();
        Write(sb, value, options, 0);
        return sb.ToString();
    }

    private static void NewLine(StringBuilder sb, Options o, int level)
    {
        if (o.Indent is null)
        {
            return;
        }
        sb.Append('\n');
        for (int i = 0; i < level; i++)
        {
            sb.Append(o.Indent);
        }
    }

    private static void Write(StringBuilder sb, object? v, Options o, int level)
    {
        if (level > 200)
        {
            throw new PyException("maximum recursion depth exceeded while encoding a JSON object");
        }
        switch (v)
        {
            case null:
                sb.Append("null");
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case long l:
                sb.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case double d:
                sb.Append(FloatJson(d));
                break;
            case string s:
                WriteString(sb, s, o.EnsureAscii);
                break;
            case List<object?> or object?[]:
                var items = (IReadOnlyList<object?>)v;
                if (items.Count == 0)
                {
                    sb.Append("[]");
                    break;
                }
                sb.Append('[');
                for (int i = 0; i < items.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(o.ItemSeparator);
                    }
                    NewLine(sb, o, level + 1);
                    Write(sb, items[i], o, level + 1);
                }
                NewLine(sb, o, level);
                sb.Append(']');
                break;
            case PyDict dict:
                if (dict.Count == 0)
                {
                    sb.Append("{}");
                    break;
                }
                IEnumerable<KeyValuePair<object, object?>> pairs = dict;
                if (o.SortKeys)
                {
                    var list = dict.ToList();
                    list.Sort((x, y) => Py.Compare(x.Key, y.Key, "<"));
                    pairs = list;
                }
                sb.Append('{');
                bool first = true;
                foreach (var (k, val) in pairs)
                {
                    if (!first)
                    {
                        sb.Append(o.ItemSeparator);
                    }
                    first = false;
                    NewLine(sb, o, level + 1);
                    WriteString(sb, KeyText(k), o.EnsureAscii);
                    sb.Append(o.KeySeparator);
                    Write(sb, val, o, level + 1);
                }
                NewLine(sb, o, level);
                sb.Append('}');
                break;
            default:
                throw new PyException($"Object of type {Py.TypeName(v)} is not JSON serializable");
        }
    }

    private static string KeyText(object k) =>
        k switch
        {
            string s => s,
            bool b => b ? "true" : "false",
            long l => l.ToString(CultureInfo.InvariantCulture),
            double d => FloatJson(d),
            _ => throw new PyException($"keys must be str, int, float, bool or None, not {Py.TypeName(k)}"),
        };

    private static string FloatJson(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : Py.FloatRepr(d);

    public static void WriteString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"':
                    sb.Append("\\\"");
                    break;
                case '\\':
                    sb.Append("\\\\");
                    break;
                case '\n':
                    sb.Append("\\n");
                    break;
                case '\r':
                    sb.Append("\\r");
                    break;
                case '\t':
                    sb.Append("\\t");
                    break;
                case '\b':
                    sb.Append("\\b");
                    break;
                case '\f':
                    sb.Append("\\f");
                    break;
                default:
                    // ensure_ascii escapes every non-ASCII UTF-16 unit, which writes astral characters as surrogate pairs as Python does.
                    if (c < 0x20 || (ensureAscii && c > 0x7e))
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }
                    break;
            }
        }
        sb.Append('"');
    }
}
