using System.Globalization;
using System.Text;

namespace PeftSharp.Text.Templates;

/// <summary>Jinja2's built-in filters (and transformers' <c>tojson</c>), by name.</summary>
internal static class Filters
{
    private delegate object? Filter(RenderState s, object? value, Arguments args);

    private static readonly Dictionary<string, Filter> All = new(StringComparer.Ordinal)
    {
        ["abs"] = (_, v, a) => Abs(v, a),
        ["attribute"] = (_, v, a) => Attribute(v, a.Bind("attribute", "name")[0]),
        ["capitalize"] = (_, v, a) => Str(v, a, "capitalize", PyStr.Capitalize),
        ["center"] = (_, v, a) => Center(v, a),
        ["count"] = (_, v, a) => Length(v, a),
        ["default"] = (_, v, a) => Default(v, a),
        ["dictsort"] = (_, v, a) => DictSort(v, a),
        ["escape"] = (_, v, a) => Str(v, a, "escape", Escape),
        ["first"] = (_, v, a) => First(v, a),
        ["float"] = (_, v, a) => ToFloat(v, a),
        ["format"] = (_, v, a) => Format(v, a),
        ["indent"] = (_, v, a) => Indent(v, a),
        ["int"] = (_, v, a) => ToInt(v, a),
        ["items"] = (_, v, a) => Items(v, a),
        ["join"] = (_, v, a) => Join(v, a),
        ["last"] = (_, v, a) => Last(v, a),
        ["length"] = (_, v, a) => Length(v, a),
        ["list"] = (_, v, a) => NoArgs(a, "list") is var _ ? Py.Iterate(v).ToList() : null,
        ["lower"] = (_, v, a) => Str(v, a, "lower", PyStr.Lower),
        ["map"] = (s, v, a) => Map(s, v, a),
        ["max"] = (_, v, a) => MinMax(v, a, max: true),
        ["min"] = (_, v, a) => MinMax(v, a, max: false),
        ["reject"] = (s, v, a) => Select(s, v, a, keep: false, byAttribute: false),
        ["rejectattr"] = (s, v, a) => Select(s, v, a, keep: false, byAttribute: true),
        ["replace"] = (_, v, a) => Replace(v, a),
        ["reverse"] = (_, v, a) => Reverse(v, a),
        ["round"] = (_, v, a) => Round(v, a),
        ["safe"] = (_, v, a) => NoArgs(a, "safe") is var _ ? v : null,
        ["select"] = (s, v, a) => Select(s, v, a, keep: true, byAttribute: false),
        ["selectattr"] = (s, v, a) => Select(s, v, a, keep: true, byAttribute: true),
        ["sort"] = (_, v, a) => Sort(v, a),
        ["string"] = (_, v, a) => NoArgs(a, "string") is var _ ? Py.Str(v) : null,
        ["sum"] = (_, v, a) => Sum(v, a),
        ["title"] = (_, v, a) => Str(v, a, "title", Title),
        ["tojson"] = (_, v, a) => ToJson(v, a),
        ["trim"] = (_, v, a) => Trim(v, a),
        ["unique"] = (_, v, a) => Unique(v, a),
        ["upper"] = (_, v, a) => Str(v, a, "upper", PyStr.Upper),
        ["wordcount"] = (_, v, a) => WordCount(v, a),
    };

    static Filters()
    {
        All["d"] = All["default"];
        All["e"] = All["escape"];
    }

    public static bool Exists(string name) => All.ContainsKey(name);

    public static object? Apply(RenderState s, string name, object? value, Arguments args, Node at) => All[name](s, value, args);

    private static bool NoArgs(Arguments a, string name)
    {
        a.Bind($"filter '{name}'");
        return true;
    }

    private static object? Get(object? v, object? fallback) => Arguments.Given(v) ? v : fallback;

    private static object? Str(object? v, Arguments a, string name, Func<string, string> f)
    {
        NoArgs(a, name);
        return f(Py.Str(v));
    }

    private static object? Abs(object? v, Arguments a)
    {
        NoArgs(a, "abs");
        // Arms are cast to object so C# does not unify long and double into double.
        return v switch
        {
            long l => l == long.MinValue ? throw new PyException("integer result is outside the 64-bit range this engine supports") : (object)Math.Abs(l),
            bool b => (object)(b ? 1L : 0L),
            double d => (object)Math.Abs(d),
            _ => throw new PyException($"bad operand type for abs(): '{Py.TypeName(v)}'"),
        };
    }

    private static object? Attribute(object? v, object? name) =>
        name is string n ? Py.GetAttr(v, n) : Py.GetItem(v, name);

    /// <summary>Jinja2's attribute path: "a.b.0" walks attributes, digits become indices.</summary>
    private static object? AttributePath(object? v, object? path)
    {
        if (path is not string p)
        {
            return Py.GetItem(v, path);
        }
        foreach (var part in p.Split('.'))
        {
            v = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long i) ? Py.GetItem(v, i) : Py.GetItem(v, part);
        }
        return v;
    }

    private static object? Center(object? v, Arguments a)
    {
        var b = a.Bind("filter 'center'", "width");
        return Methods.Call(Py.Str(v), "center", new Arguments([Get(b[0], 80L)], []));
    }

    private static object? Length(object? v, Arguments a)
    {
        NoArgs(a, "length");
        return Py.Len(v);
    }

    private static object? Default(object? v, Arguments a)
    {
        var b = a.Bind("filter 'default'", "default_value", "boolean");
        var fallback = Get(b[0], "");
        bool boolean = Arguments.Given(b[1]) && Py.Truthy(b[1]);
        return v is Undefined || (boolean && !Py.Truthy(v)) ? fallback : v;
    }

    private static string Escape(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s)
        {
            sb.Append(c switch
            {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&#34;",
                '\'' => "&#39;",
                _ => c.ToString(),
            });
        }
        return sb.ToString();
    }

    private static object? First(object? v, Arguments a)
    {
        NoArgs(a, "first");
        var items = Py.Iterate(v);
        return items.Count > 0 ? items[0] : Undefined.WithHint("No first item, sequence was empty.");
    }

    private static object? Last(object? v, Arguments a)
    {
        NoArgs(a, "last");
        var items = Py.Iterate(v);
        return items.Count > 0 ? items[^1] : Undefined.WithHint("No last item, sequence was empty.");
    }

    private static object? ToFloat(object? v, Arguments a)
    {
        var b = a.Bind("filter 'float'", "default");
        var fallback = Get(b[0], 0.0);
        return v switch
        {
            double d => d,
            long l => (double)l,
            bool x => x ? 1.0 : 0.0,
            string s when TryPyFloat(s, out double d) => d,
            _ => fallback,
        };
    }

    private static bool TryPyFloat(string s, out double d)
    {
        var t = PyStr.Strip(s, null, true, true).Replace("_", "");
        switch (t.ToLowerInvariant())
        {
            case "inf" or "+inf" or "infinity" or "+infinity":
                d = double.PositiveInfinity;
                return true;
            case "-inf" or "-infinity":
                d = double.NegativeInfinity;
                return true;
            case "nan" or "+nan" or "-nan":
                d = double.NaN;
                return true;
        }
        return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out d);
    }

    private static object? ToInt(object? v, Arguments a)
    {
        var b = a.Bind("filter 'int'", "default", "base");
        var fallback = Get(b[0], 0L);
        int radix = Arguments.Given(b[1]) && b[1] is long r ? (int)r : 10;
        switch (v)
        {
            case long l:
                return l;
            case bool x:
                return x ? 1L : 0L;
            case double d:
                return double.IsFinite(d) && Math.Abs(d) < 9.2e18 ? (long)Math.Truncate(d) : fallback;
            case string s:
                var t = PyStr.Strip(s, null, true, true).Replace("_", "");
                if (radix == 10 && long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n))
                {
                    return n;
                }
                if (radix != 10)
                {
                    try
                    {
                        string digits = t;
                        if (radix == 16 && digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
                        {
                            digits = digits[2..];
                        }
                        else if (radix == 8 && digits.StartsWith("0o", StringComparison.OrdinalIgnoreCase))
                        {
                            digits = digits[2..];
                        }
                        else if (radix == 2 && digits.StartsWith("0b", StringComparison.OrdinalIgnoreCase))
                        {
                            digits = digits[2..];
                        }
                        return radix is 2 or 8 or 16 ? Convert.ToInt64(digits, radix) : fallback;
                    }
                    catch (FormatException)
                    {
                        return fallback;
                    }
                    catch (OverflowException)
                    {
                        return fallback;
                    }
                }
                return TryPyFloat(t, out double f) && double.IsFinite(f) && Math.Abs(f) < 9.2e18 ? (long)Math.Truncate(f) : fallback;
            default:
                return fallback;
        }
    }

    /// <summary>Jinja2's format filter: <c>str(value) % args</c>, or <c>% kwargs</c> as a mapping.</summary>
    private static object? Format(object? v, Arguments a)
    {
        if (a.Positional.Length > 0 && a.Named.Length > 0)
        {
            throw new PyException("can't handle positional and keyword arguments at the same time");
        }
        if (a.Named.Length > 0)
        {
            var d = new PyDict();
            foreach (var (k, val) in a.Named)
            {
                d[k] = val;
            }
            return PyFormat.Percent(Py.Str(v), d);
        }
        return PyFormat.Percent(Py.Str(v), a.Positional);
    }

    private static object? Indent(object? v, Arguments a)
    {
        var b = a.Bind("filter 'indent'", "width", "first", "blank");
        string pad = Get(b[0], 4L) switch
        {
            long n => new string(' ', (int)Math.Clamp(n, 0, 1024)),
            string str => str,
            var other => throw new PyException($"indent width must be an int or a str, not {Py.TypeName(other)}"),
        };
        bool first = Arguments.Given(b[1]) && Py.Truthy(b[1]);
        bool blank = Arguments.Given(b[2]) && Py.Truthy(b[2]);
        // Jinja2 appends "\n" before splitlines() so a trailing newline yields a last (empty) line.
        var lines = PyStr.SplitLines(Py.Str(v) + "\n", keepEnds: false).Cast<string>().ToList();
        string result;
        if (blank)
        {
            result = string.Join("\n" + pad, lines);
        }
        else
        {
            var sb = new StringBuilder(lines.Count > 0 ? lines[0] : "");
            for (int i = 1; i < lines.Count; i++)
            {
                sb.Append('\n');
                if (lines[i].Length > 0)
                {
                    sb.Append(pad);
                }
                sb.Append(lines[i]);
            }
            result = sb.ToString();
        }
        return first ? pad + result : result;
    }

    /// <summary>Jinja2 counts matches of the regex \w+ (runs of letters, digits and underscores).</summary>
    private static object? WordCount(object? v, Arguments a)
    {
        NoArgs(a, "wordcount");
        long words = 0;
        bool inWord = false;
        foreach (var r in Py.Str(v).EnumerateRunes())
        {
            bool w = Rune.IsLetterOrDigit(r) || r.Value == '_' || Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.ConnectorPunctuation;
            if (w && !inWord)
            {
                words++;
            }
            inWord = w;
        }
        return words;
    }

    private static object? Items(object? v, Arguments a)
    {
        NoArgs(a, "items");
        return v switch
        {
            Undefined => new List<object?>(),
            PyDict d => new DictView(d, "items").Items(),
            _ => throw new PyException("Can only get item pairs from a mapping."),
        };
    }

    private static object? Join(object? v, Arguments a)
    {
        var b = a.Bind("filter 'join'", "d", "attribute");
        string sep = Arguments.Given(b[0]) ? Py.Str(b[0]) : "";
        var items = Py.Iterate(v);
        var sb = new StringBuilder();
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(sep);
            }
            var item = Arguments.Given(b[1]) && b[1] is not null ? AttributePath(items[i], b[1]) : items[i];
            sb.Append(Py.Str(item));
        }
        return sb.ToString();
    }

    private static object? Map(RenderState s, object? v, Arguments a)
    {
        var items = Py.Iterate(v);
        var attribute = a.Named.FirstOrDefault(n => n.Key == "attribute");
        if (attribute.Key is not null)
        {
            if (a.Positional.Length > 0)
            {
                throw new PyException("filter 'map' takes either an attribute or a filter name, not both");
            }
            var b = a.Bind("filter 'map'", "attribute", "default");
            return items.Select(x =>
            {
                var r = AttributePath(x, b[0]);
                return r is Undefined && Arguments.Given(b[1]) ? b[1] : r;
            }).ToList();
        }
        if (a.Positional.Length == 0 || a.Positional[0] is not string filter)
        {
            throw new PyException("filter 'map' needs a filter name or attribute=...");
        }
        if (!All.TryGetValue(filter, out var f))
        {
            throw new PyException($"No filter named '{filter}'.");
        }
        var rest = new Arguments(a.Positional[1..], a.Named);
        return items.Select(x => f(s, x, rest)).ToList();
    }

    private static object? MinMax(object? v, Arguments a, bool max)
    {
        var b = a.Bind(max ? "filter 'max'" : "filter 'min'", "case_sensitive", "attribute");
        bool caseSensitive = Arguments.Given(b[0]) && Py.Truthy(b[0]);
        var items = Py.Iterate(v);
        if (items.Count == 0)
        {
            return Undefined.WithHint($"No aggregated item, sequence was empty.");
        }
        object? Key(object? x)
        {
            if (Arguments.Given(b[1]) && b[1] is not null)
            {
                x = AttributePath(x, b[1]);
            }
            return !caseSensitive && x is string str ? PyStr.Lower(str) : x;
        }
        object? best = items[0];
        object? bestKey = Key(best);
        foreach (var x in items.Skip(1))
        {
            var k = Key(x);
            int c = Py.Compare(k, bestKey, max ? ">" : "<");
            if (max ? c > 0 : c < 0)
            {
                best = x;
                bestKey = k;
            }
        }
        return best;
    }

    private static object? Select(RenderState s, object? v, Arguments a, bool keep, bool byAttribute)
    {
        var items = Py.Iterate(v);
        var pos = a.Positional;
        object? attr = null;
        if (byAttribute)
        {
            if (pos.Length == 0)
            {
                throw new PyException("Missing parameter for attribute name");
            }
            attr = pos[0];
            pos = pos[1..];
        }
        string? test = pos.Length > 0 ? pos[0] as string ?? throw new PyException("test name must be a string") : null;
        var testArgs = new Arguments(pos.Length > 1 ? pos[1..] : [], a.Named);
        var result = new List<object?>();
        foreach (var item in items)
        {
            var subject = byAttribute ? AttributePath(item, attr) : item;
            bool ok = test is null ? Py.Truthy(subject) : TemplateTests.Run(test, subject, testArgs);
            if (ok == keep)
            {
                result.Add(item);
            }
        }
        return result;
    }

    private static object? Replace(object? v, Arguments a)
    {
        var b = a.Bind("filter 'replace'", "old", "new", "count");
        if (!Arguments.Given(b[0]) || !Arguments.Given(b[1]))
        {
            throw new PyException("filter 'replace' needs the old and new strings");
        }
        long count = Arguments.Given(b[2]) && b[2] is long c ? c : -1;
        return PyStr.Replace(Py.Str(v), Py.Str(b[0]), Py.Str(b[1]), count);
    }

    private static object? Reverse(object? v, Arguments a)
    {
        NoArgs(a, "reverse");
        if (v is string s)
        {
            return PyStr.Slice(s, null, null, -1);
        }
        var items = Py.Iterate(v).ToList();
        items.Reverse();
        return items;
    }

    private static object? Round(object? v, Arguments a)
    {
        var b = a.Bind("filter 'round'", "precision", "method");
        int precision = Arguments.Given(b[0]) && b[0] is long p ? (int)Math.Clamp(p, -15, 15) : 0;
        string method = Arguments.Given(b[1]) ? Py.Str(b[1]) : "common";
        double x = v switch
        {
            double d => d,
            long l => l,
            bool t => t ? 1 : 0,
            _ => throw new PyException($"filter 'round' needs a number, got {Py.TypeName(v)}"),
        };
        if (method == "common" && v is long or bool)
        {
            // Python's round(int, n) keeps an int.
            return v is bool t2 ? (t2 ? 1L : 0L) : v;
        }
        double scale = Math.Pow(10, precision);
        return method switch
        {
            "common" => Math.Round(x, Math.Max(precision, 0), MidpointRounding.ToEven),
            "ceil" => Math.Ceiling(x * scale) / scale,
            "floor" => Math.Floor(x * scale) / scale,
            _ => throw new PyException("method must be common, ceil or floor"),
        };
    }

    private static object? Sort(object? v, Arguments a)
    {
        var b = a.Bind("filter 'sort'", "reverse", "case_sensitive", "attribute");
        bool reverse = Arguments.Given(b[0]) && Py.Truthy(b[0]);
        bool caseSensitive = Arguments.Given(b[1]) && Py.Truthy(b[1]);
        object? attr = Arguments.Given(b[2]) ? b[2] : null;
        var items = Py.Iterate(v).ToList();
        var keys = items.Select(x =>
        {
            var k = attr is null ? x : AttributePath(x, attr);
            return !caseSensitive && k is string str ? PyStr.Lower(str) : k;
        }).ToList();
        var order = Enumerable.Range(0, items.Count).ToList();
        // List.Sort is not stable; Python's sort is, so ties fall back to the original position.
        order.Sort((i, j) =>
        {
            int c = Py.Compare(keys[i], keys[j], "<");
            if (reverse)
            {
                c = -c;
            }
            return c != 0 ? c : i.CompareTo(j);
        });
        return order.Select(i => items[i]).ToList();
    }

    private static object? DictSort(object? v, Arguments a)
    {
        var b = a.Bind("filter 'dictsort'", "case_sensitive", "by", "reverse");
        if (v is not PyDict d)
        {
            throw new PyException($"filter 'dictsort' needs a mapping, got {Py.TypeName(v)}");
        }
        bool caseSensitive = Arguments.Given(b[0]) && Py.Truthy(b[0]);
        string by = Arguments.Given(b[1]) ? Py.Str(b[1]) : "key";
        bool reverse = Arguments.Given(b[2]) && Py.Truthy(b[2]);
        if (by is not "key" and not "value")
        {
            throw new PyException("You can only sort by either \"key\" or \"value\"");
        }
        var pairs = d.ToList();
        object? Key(KeyValuePair<object, object?> kv)
        {
            var k = by == "key" ? kv.Key : kv.Value;
            return !caseSensitive && k is string str ? PyStr.Lower(str) : k;
        }
        var order = Enumerable.Range(0, pairs.Count).ToList();
        order.Sort((i, j) =>
        {
            int c = Py.Compare(Key(pairs[i]), Key(pairs[j]), "<");
            if (reverse)
            {
                c = -c;
            }
            return c != 0 ? c : i.CompareTo(j);
        });
        return order.Select(i => (object?)new object?[] { pairs[i].Key, pairs[i].Value }).ToList();
    }

    private static object? Sum(object? v, Arguments a)
    {
        var b = a.Bind("filter 'sum'", "attribute", "start");
        object? total = Get(b[1], 0L);
        foreach (var x in Py.Iterate(v))
        {
            total = Py.Add(total, Arguments.Given(b[0]) && b[0] is not null ? AttributePath(x, b[0]) : x);
        }
        return total;
    }

    /// <summary>Jinja2's title filter: capitalizes each word, words split at runs of "-", whitespace and ([{&lt;.</summary>
    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool atWordStart = true;
        foreach (var r in s.EnumerateRunes())
        {
            bool separator = r.Value is '-' or '(' or '{' or '[' or '<' || (r.IsBmp && PyStr.IsSpace((char)r.Value));
            if (separator)
            {
                sb.Append(r.ToString());
                atWordStart = true;
                continue;
            }
            sb.Append((atWordStart ? Rune.ToUpperInvariant(r) : Rune.ToLowerInvariant(r)).ToString());
            atWordStart = false;
        }
        return sb.ToString();
    }

    /// <summary>transformers' tojson: <c>json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)</c>.</summary>
    private static object? ToJson(object? v, Arguments a)
    {
        var b = a.Bind("filter 'tojson'", "ensure_ascii", "indent", "separators", "sort_keys");
        var options = PyJson.MakeOptions(
            Arguments.Given(b[0]) && Py.Truthy(b[0]),
            Get(b[1], null),
            Get(b[2], null),
            Arguments.Given(b[3]) && Py.Truthy(b[3]));
        return PyJson.Dumps(v, options);
    }

    private static object? Trim(object? v, Arguments a)
    {
        var b = a.Bind("filter 'trim'", "chars");
        string? chars = Arguments.Given(b[0]) && b[0] is not null ? Py.Str(b[0]) : null;
        return PyStr.Strip(Py.Str(v), chars, true, true);
    }

    private static object? Unique(object? v, Arguments a)
    {
        var b = a.Bind("filter 'unique'", "case_sensitive", "attribute");
        bool caseSensitive = Arguments.Given(b[0]) && Py.Truthy(b[0]);
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (var x in Py.Iterate(v))
        {
            var k = Arguments.Given(b[1]) && b[1] is not null ? AttributePath(x, b[1]) : x;
            if (!caseSensitive && k is string str)
            {
                k = PyStr.Lower(str);
            }
            if (!seen.Exists(e => Py.Eq(e, k)))
            {
                seen.Add(k);
                result.Add(x);
            }
        }
        return result;
    }
}
