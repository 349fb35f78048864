using System.Globalization;
using System.Text;

namespace PeftSharp.Text.Templates;

/// <summary>Functions every template sees: Jinja2's globals plus transformers' <c>raise_exception</c> and <c>strftime_now</c>.</summary>
internal static class Globals
{
    /// <summary>Jinja2's sandbox refuses ranges longer than this.</summary>
    public const int MaxRange = 100_000;

    public static Scope Create()
    {
        var scope = new Scope(null);
        Add(scope, "raise_exception", (_, a, at) =>
        {
            var b = a.Bind("raise_exception()", "message");
            throw new TemplateRaisedException(Arguments.Given(b[0]) ? Py.Str(b[0]) : "", at.Line, at.Column);
        });
        Add(scope, "namespace", (_, a, _) =>
        {
            var ns = new JinjaNamespace();
            foreach (var p in a.Positional)
            {
                if (p is not PyDict d)
                {
                    throw new PyException($"namespace() positional arguments must be mappings, not {Py.TypeName(p)}");
                }
                foreach (var (k, v) in d)
                {
                    ns.Attributes[Py.Str(k)] = v;
                }
            }
            foreach (var (k, v) in a.Named)
            {
                ns.Attributes[k] = v;
            }
            return ns;
        });
        Add(scope, "range", (_, a, _) => Range(a));
        Add(scope, "dict", (_, a, _) =>
        {
            var d = new PyDict();
            foreach (var p in a.Positional)
            {
                if (p is PyDict src)
                {
                    foreach (var (k, v) in src)
                    {
                        d[k] = v;
                    }
                }
                else
                {
                    foreach (var pair in Py.Iterate(p))
                    {
                        var kv = Py.Iterate(pair);
                        if (kv.Count != 2)
                        {
                            throw new PyException("dictionary update sequence element has the wrong length; 2 is required");
                        }
                        d[PyDict.Key(kv[0])] = kv[1];
                    }
                }
            }
            foreach (var (k, v) in a.Named)
            {
                d[k] = v;
            }
            return d;
        });
        Add(scope, "strftime_now", (s, a, _) =>
        {
            var b = a.Bind("strftime_now()", "format");
            if (b[0] is not string format)
            {
                throw new PyException("strftime_now() needs a format string");
            }
            return Strftime(s.Clock.GetLocalNow().DateTime, format);
        });
        return scope;
    }

    private static void Add(Scope scope, string name, Func<RenderState, Arguments, Node, object?> body) =>
        scope.Set(name, new BuiltinFunction(name, body));

    private static object? Range(Arguments a)
    {
        if (a.Named.Length > 0)
        {
            throw new PyException("range() takes no keyword arguments");
        }
        long Arg(int i) =>
            a.Positional[i] switch
            {
                long l => l,
                bool b => b ? 1 : 0,
                var v => throw new PyException($"'{Py.TypeName(v)}' object cannot be interpreted as an integer"),
            };
        long start = 0, stop, step = 1;
        switch (a.Positional.Length)
        {
            case 1:
                stop = Arg(0);
                break;
            case 2:
                start = Arg(0);
                stop = Arg(1);
                break;
            case 3:
                start = Arg(0);
                stop = Arg(1);
                step = Arg(2);
                break;
            default:
                throw new PyException($"range expected 1 to 3 arguments, got {a.Positional.Length}");
        }
        if (step == 0)
        {
            throw new PyException("range() arg 3 must not be zero");
        }
        double count = step > 0 ? Math.Ceiling(((double)stop - start) / step) : Math.Ceiling(((double)start - stop) / -step);
        if (count > MaxRange)
        {
            throw new PyException($"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).");
        }
        var list = new List<object?>((int)Math.Max(count, 0));
        for (long i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            list.Add(i);
        }
        return list;
    }

    /// <summary>Python's <c>datetime.strftime</c> in the C locale for the common directives.</summary>
    public static string Strftime(DateTime t, string format)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c != '%' || i + 1 >= format.Length)
            {
                sb.Append(c);
                continue;
            }
            char d = format[++i];
            bool noPad = false;
            if (d == '-' && i + 1 < format.Length)
            {
                noPad = true;
                d = format[++i];
            }
            string Num(int v, int width) => noPad ? v.ToString(inv) : v.ToString(new string('0', width), inv);
            sb.Append(d switch
            {
                'Y' => t.Year.ToString(inv),
                'y' => Num(t.Year % 100, 2),
                'm' => Num(t.Month, 2),
                'd' => Num(t.Day, 2),
                'e' => t.Day.ToString(inv).PadLeft(2),
                'H' => Num(t.Hour, 2),
                'I' => Num(t.Hour % 12 == 0 ? 12 : t.Hour % 12, 2),
                'M' => Num(t.Minute, 2),
                'S' => Num(t.Second, 2),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", inv),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => Num(t.DayOfYear, 3),
                'a' => inv.DateTimeFormat.GetAbbreviatedDayName(t.DayOfWeek),
                'A' => inv.DateTimeFormat.GetDayName(t.DayOfWeek),
                'b' or 'h' => inv.DateTimeFormat.GetAbbreviatedMonthName(t.Month),
                'B' => inv.DateTimeFormat.GetMonthName(t.Month),
                'w' => ((int)t.DayOfWeek).ToString(inv),
                'u' => (t.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)t.DayOfWeek).ToString(inv),
                'F' => t.ToString("yyyy-MM-dd", inv),
                'T' => t.ToString("HH:mm:ss", inv),
                'D' => t.ToString("MM/dd/yy", inv),
                'R' => t.ToString("HH:mm", inv),
                '%' => "%",
                _ => throw new PyException($"strftime directive '%{(noPad ? "-" : "")}{d}' is not supported"),
            });
        }
        return sb.ToString();
    }
}
