using System.Globalization;
using System.Text;

namespace PeftSharp.Text.Templates;

/// <summary>Python semantics of the template values: truthiness, str/repr, equality, ordering, arithmetic, lookup.</summary>
internal static class Py
{
    /// <summary>Largest list or string a repetition may build; larger requests are refused rather than exhausting memory.</summary>
    public const int MaxRepeatedLength = 1 << 24;

    /// <summary>Largest string or list concatenation builds; doubling a value in a loop fails here instead of exhausting memory.</summary>
    public const int MaxValueLength = 1 << 26;

    public static string TypeName(object? v) =>
        v switch
        {
            null => "NoneType",
            bool => "bool",
            long => "int",
            double => "float",
            string => "str",
            List<object?> => "list",
            object?[] => "tuple",
            PyDict => "dict",
            Undefined => "Undefined",
            JinjaNamespace => "Namespace",
            LoopContext => "LoopContext",
            DictView view => "dict_" + view.Kind,
            Macro => "Macro",
            BoundMethod => "builtin_function_or_method",
            Callable => "function",
            _ => v.GetType().Name,
        };

    /// <summary>Jinja2's <c>object_type_repr</c>: "None", "dict object", ...</summary>
    public static string ObjectTypeRepr(object? v) => v is null ? "None" : TypeName(v) + " object";

    public static bool Truthy(object? v) =>
        v switch
        {
            null => false,
            bool b => b,
            long l => l != 0,
            double d => d != 0,
            string s => s.Length != 0,
            List<object?> l => l.Count != 0,
            object?[] t => t.Length != 0,
            PyDict d => d.Count != 0,
            DictView view => view.Dict.Count != 0,
            Undefined => false,
            _ => true,
        };

    /// <summary>Python <c>str(v)</c>; an undefined value gives "" as in Jinja2.</summary>
    public static string Str(object? v) =>
        v switch
        {
            string s => s,
            null => "None",
            bool b => b ? "True" : "False",
            long l => l.ToString(CultureInfo.InvariantCulture),
            double d => FloatRepr(d),
            Undefined => "",
            _ => Repr(v),
        };

    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v, 0);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? v, int depth)
    {
        if (depth > 200)
        {
            throw new PyException("maximum recursion depth exceeded while getting the repr of an object");
        }
        switch (v)
        {
            case string s:
                AppendStringRepr(sb, s);
                break;
            case Undefined:
                sb.Append("Undefined");
                break;
            case List<object?> list:
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }
                    AppendRepr(sb, list[i], depth + 1);
                }
                sb.Append(']');
                break;
            case object?[] tuple:
                sb.Append('(');
                for (int i = 0; i < tuple.Length; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }
                    AppendRepr(sb, tuple[i], depth + 1);
                }
                sb.Append(tuple.Length == 1 ? ",)" : ")");
                break;
            case PyDict dict:
                sb.Append('{');
                bool first = true;
                foreach (var (k, val) in dict)
                {
                    if (!first)
                    {
                        sb.Append(", ");
                    }
                    first = false;
                    AppendRepr(sb, k, depth + 1);
                    sb.Append(": ");
                    AppendRepr(sb, val, depth + 1);
                }
                sb.Append('}');
                break;
            case JinjaNamespace ns:
                sb.Append("<Namespace {");
                bool firstAttr = true;
                foreach (var (k, val) in ns.Attributes)
                {
                    if (!firstAttr)
                    {
                        sb.Append(", ");
                    }
                    firstAttr = false;
                    AppendStringRepr(sb, k);
                    sb.Append(": ");
                    AppendRepr(sb, val, depth + 1);
                }
                sb.Append("}>");
                break;
            case DictView view:
                sb.Append("dict_").Append(view.Kind).Append('(');
                AppendRepr(sb, view.Items(), depth + 1);
                sb.Append(')');
                break;
            case LoopContext loop:
                sb.Append("<LoopContext ").Append(loop.Index0 + 1).Append('/').Append(loop.Items.Count).Append('>');
                break;
            case Macro m:
                sb.Append("<Macro '").Append(m.Name).Append("'>");
                break;
            case Callable c:
                sb.Append("<built-in method ").Append(c.Name).Append('>');
                break;
            default:
                sb.Append(Str(v));
                break;
        }
    }

    /// <summary>Python's <c>repr(str)</c>: single quotes unless the text holds ' and no ", escapes for unprintables.</summary>
    public static void AppendStringRepr(StringBuilder sb, string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        foreach (var rune in s.EnumerateRunes())
        {
            int c = rune.Value;
            if (c == quote || c == '\\')
            {
                sb.Append('\\').Append((char)c);
            }
            else if (c == '\n')
            {
                sb.Append("\\n");
            }
            else if (c == '\r')
            {
                sb.Append("\\r");
            }
            else if (c == '\t')
            {
                sb.Append("\\t");
            }
            else if (c < 0x20 || c == 0x7f)
            {
                sb.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            }
            else if (c < 0x7f || IsPrintable(rune))
            {
                sb.Append(rune.ToString());
            }
            else if (c <= 0xff)
            {
                sb.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            }
            else if (c <= 0xffff)
            {
                sb.Append("\\u").Append(c.ToString("x4", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append("\\U").Append(c.ToString("x8", CultureInfo.InvariantCulture));
            }
        }
        sb.Append(quote);
    }

    private static bool IsPrintable(Rune r)
    {
        var cat = Rune.GetUnicodeCategory(r);
        return cat switch
        {
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
                or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned
                or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => false,
            UnicodeCategory.SpaceSeparator => r.Value == ' ',
            _ => true,
        };
    }

    /// <summary>Python <c>repr(float)</c>: shortest round-trip digits, fixed notation for exponents -4..15, else 1e+16 style.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d))
        {
            return "nan";
        }
        if (double.IsInfinity(d))
        {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == 0)
        {
            return double.IsNegative(d) ? "-0.0" : "0.0";
        }
        // "R" yields the shortest digits that round-trip, like Python; only the layout differs.
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        bool negative = r[0] == '-';
        if (negative)
        {
            r = r[1..];
        }
        int exp = 0;
        int e = r.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exp = int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..e];
        }
        int dot = r.IndexOf('.');
        string intPart = dot < 0 ? r : r[..dot];
        string frac = dot < 0 ? "" : r[(dot + 1)..];
        string digits = intPart + frac;
        int point = intPart.Length + exp;
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0')
        {
            lead++;
        }
        digits = digits[lead..];
        point -= lead;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0)
        {
            digits = "0";
        }
        int sciExp = point - 1;
        var sb = new StringBuilder();
        if (negative)
        {
            sb.Append('-');
        }
        if (sciExp >= -4 && sciExp < 16)
        {
            if (point <= 0)
            {
                sb.Append("0.").Append('0', -point).Append(digits);
            }
            else if (point >= digits.Length)
            {
                sb.Append(digits).Append('0', point - digits.Length).Append(".0");
            }
            else
            {
                sb.Append(digits, 0, point).Append('.').Append(digits, point, digits.Length - point);
            }
        }
        else
        {
            sb.Append(digits[0]);
            if (digits.Length > 1)
            {
                sb.Append('.').Append(digits, 1, digits.Length - 1);
            }
            sb.Append('e').Append(sciExp < 0 ? '-' : '+');
            sb.Append(Math.Abs(sciExp).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    private static bool IsNumber(object? v) => v is long or double or bool;

    private static double ToDouble(object? v) =>
        v switch
        {
            long l => l,
            double d => d,
            bool b => b ? 1 : 0,
            _ => throw new InvalidOperationException(),
        };

    /// <summary>An int operand (bool counts as int), or null when the value is not an int.</summary>
    private static long? AsInt(object? v) =>
        v switch
        {
            long l => l,
            bool b => b ? 1 : 0,
            _ => null,
        };

    public static bool Eq(object? a, object? b)
    {
        if (a is Undefined || b is Undefined)
        {
            return a is Undefined && b is Undefined;
        }
        if (IsNumber(a) && IsNumber(b))
        {
            if (AsInt(a) is long x && AsInt(b) is long y)
            {
                return x == y;
            }
            return ToDouble(a) == ToDouble(b);
        }
        switch (a)
        {
            case null:
                return b is null;
            case string s:
                return b is string t && string.Equals(s, t, StringComparison.Ordinal);
            case List<object?> l:
                return b is List<object?> m && SequenceEq(l, m);
            case object?[] t1:
                return b is object?[] t2 && SequenceEq(t1, t2);
            case PyDict d:
                if (b is not PyDict e || d.Count != e.Count)
                {
                    return false;
                }
                foreach (var (k, v) in d)
                {
                    if (!e.TryGetValue(k, out var w) || !Eq(v, w))
                    {
                        return false;
                    }
                }
                return true;
            default:
                return ReferenceEquals(a, b);
        }
    }

    private static bool SequenceEq(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }
        for (int i = 0; i < a.Count; i++)
        {
            if (!Eq(a[i], b[i]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Python ordering; <paramref name="op"/> names the operator for the TypeError message.</summary>
    public static int Compare(object? a, object? b, string op)
    {
        if (a is Undefined ua)
        {
            ua.Fail();
        }
        if (b is Undefined ub)
        {
            ub.Fail();
        }
        if (IsNumber(a) && IsNumber(b))
        {
            if (AsInt(a) is long x && AsInt(b) is long y)
            {
                return x.CompareTo(y);
            }
            double p = ToDouble(a), q = ToDouble(b);
            return p < q ? -1 : p > q ? 1 : 0;
        }
        if (a is string s && b is string t)
        {
            return PyStr.CompareCodePoints(s, t);
        }
        if (a is List<object?> l1 && b is List<object?> l2)
        {
            return CompareSequences(l1, l2, op);
        }
        if (a is object?[] t1 && b is object?[] t2)
        {
            return CompareSequences(t1, t2, op);
        }
        throw new PyException($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    private static int CompareSequences(IReadOnlyList<object?> a, IReadOnlyList<object?> b, string op)
    {
        int n = Math.Min(a.Count, b.Count);
        for (int i = 0; i < n; i++)
        {
            if (!Eq(a[i], b[i]))
            {
                return Compare(a[i], b[i], op);
            }
        }
        return a.Count.CompareTo(b.Count);
    }

    private static void FailIfUndefined(object? a, object? b)
    {
        if (a is Undefined ua)
        {
            ua.Fail();
        }
        if (b is Undefined ub)
        {
            ub.Fail();
        }
    }

    private static PyException Unsupported(string op, object? a, object? b) =>
        new($"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");

    private static long Checked(Func<long> f)
    {
        try
        {
            return f();
        }
        catch (OverflowException)
        {
            throw new PyException("integer result is outside the 64-bit range this engine supports");
        }
    }

    public static object? Add(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (AsInt(a) is long x && AsInt(b) is long y)
        {
            return Checked(() => checked(x + y));
        }
        if (IsNumber(a) && IsNumber(b))
        {
            return ToDouble(a) + ToDouble(b);
        }
        switch (a)
        {
            case string s when b is string t:
                CheckLength((long)s.Length + t.Length, "str");
                return string.Concat(s, t);
            case string:
                throw new PyException($"can only concatenate str (not \"{TypeName(b)}\") to str");
            case List<object?> l when b is List<object?> m:
                CheckLength((long)l.Count + m.Count, "list");
                var r = new List<object?>(l.Count + m.Count);
                r.AddRange(l);
                r.AddRange(m);
                return r;
            case List<object?>:
                throw new PyException($"can only concatenate list (not \"{TypeName(b)}\") to list");
            case object?[] t1 when b is object?[] t2:
                return t1.Concat(t2).ToArray();
            case object?[]:
                throw new PyException($"can only concatenate tuple (not \"{TypeName(b)}\") to tuple");
        }
        throw Unsupported("+", a, b);
    }

    public static object? Sub(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (AsInt(a) is long x && AsInt(b) is long y)
        {
            return Checked(() => checked(x - y));
        }
        if (IsNumber(a) && IsNumber(b))
        {
            return ToDouble(a) - ToDouble(b);
        }
        throw Unsupported("-", a, b);
    }

    public static object? Mul(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (AsInt(a) is long x && AsInt(b) is long y)
        {
            return Checked(() => checked(x * y));
        }
        if (IsNumber(a) && IsNumber(b))
        {
            return ToDouble(a) * ToDouble(b);
        }
        if (AsInt(b) is long n1 && a is string or List<object?> or object?[])
        {
            return Repeat(a!, n1);
        }
        if (AsInt(a) is long n2 && b is string or List<object?> or object?[])
        {
            return Repeat(b!, n2);
        }
        if (a is string or List<object?> or object?[] || b is string or List<object?> or object?[])
        {
            throw new PyException($"can't multiply sequence by non-int of type '{TypeName(a is string or List<object?> or object?[] ? b : a)}'");
        }
        throw Unsupported("*", a, b);
    }

    private static void CheckLength(long length, string type)
    {
        if (length > MaxValueLength)
        {
            throw new PyException($"{type} of {length} elements is above the limit of {MaxValueLength}");
        }
    }

    private static object Repeat(object seq, long n)
    {
        int len = seq switch
        {
            string s => s.Length,
            List<object?> l => l.Count,
            object?[] t => t.Length,
            _ => 0,
        };
        if (n <= 0 || len == 0)
        {
            return seq switch
            {
                string => "",
                List<object?> => new List<object?>(),
                _ => Array.Empty<object?>(),
            };
        }
        if ((double)len * n > MaxRepeatedLength)
        {
            throw new PyException($"repetition would create a {TypeName(seq)} of {(double)len * n:0} elements, above the limit of {MaxRepeatedLength}");
        }
        switch (seq)
        {
            case string s:
                var sb = new StringBuilder(s.Length * (int)n);
                for (long i = 0; i < n; i++)
                {
                    sb.Append(s);
                }
                return sb.ToString();
            case List<object?> l:
                var r = new List<object?>(l.Count * (int)n);
                for (long i = 0; i < n; i++)
                {
                    r.AddRange(l);
                }
                return r;
            default:
                var t = (object?[])seq;
                var res = new object?[t.Length * (int)n];
                for (int i = 0; i < n; i++)
                {
                    Array.Copy(t, 0, res, i * t.Length, t.Length);
                }
                return res;
        }
    }

    public static object? TrueDiv(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (IsNumber(a) && IsNumber(b))
        {
            double q = ToDouble(b);
            if (q == 0)
            {
                throw new PyException("division by zero");
            }
            return ToDouble(a) / q;
        }
        throw Unsupported("/", a, b);
    }

    public static object? FloorDiv(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (AsInt(a) is long x && AsInt(b) is long y)
        {
            if (y == 0)
            {
                throw new PyException("integer division or modulo by zero");
            }
            if (x == long.MinValue && y == -1)
            {
                throw new PyException("integer result is outside the 64-bit range this engine supports");
            }
            long q = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0)))
            {
                q--;
            }
            return q;
        }
        if (IsNumber(a) && IsNumber(b))
        {
            double d = ToDouble(b);
            if (d == 0)
            {
                throw new PyException("float floor division by zero");
            }
            return Math.Floor(ToDouble(a) / d);
        }
        throw Unsupported("//", a, b);
    }

    public static object? Mod(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (AsInt(a) is long x && AsInt(b) is long y)
        {
            if (y == 0)
            {
                throw new PyException("integer modulo by zero");
            }
            if (y == -1)
            {
                return 0L;
            }
            long r = x % y;
            if (r != 0 && ((r < 0) != (y < 0)))
            {
                r += y;
            }
            return r;
        }
        if (IsNumber(a) && IsNumber(b))
        {
            double p = ToDouble(a), q = ToDouble(b);
            if (q == 0)
            {
                throw new PyException("float modulo by zero");
            }
            double r = p % q;
            if (r != 0 && ((r < 0) != (q < 0)))
            {
                r += q;
            }
            return r;
        }
        if (a is string fmt)
        {
            return PyFormat.Percent(fmt, b);
        }
        throw Unsupported("%", a, b);
    }

    public static object? Pow(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (AsInt(a) is long x && AsInt(b) is long y)
        {
            if (y < 0)
            {
                if (x == 0)
                {
                    throw new PyException("0.0 cannot be raised to a negative power");
                }
                return Math.Pow(x, y);
            }
            return Checked(() =>
            {
                long result = 1, bas = x, e = y;
                while (e > 0)
                {
                    if ((e & 1) != 0)
                    {
                        result = checked(result * bas);
                    }
                    e >>= 1;
                    if (e > 0)
                    {
                        bas = checked(bas * bas);
                    }
                }
                return result;
            });
        }
        if (IsNumber(a) && IsNumber(b))
        {
            return Math.Pow(ToDouble(a), ToDouble(b));
        }
        throw Unsupported("** or pow()", a, b);
    }

    public static object? Negate(object? a) =>
        a switch
        {
            long l => Checked(() => checked(-l)),
            bool b => b ? -1L : 0L,
            double d => -d,
            Undefined u => FailWith(u),
            _ => throw new PyException($"bad operand type for unary -: '{TypeName(a)}'"),
        };

    public static object? Plus(object? a) =>
        a switch
        {
            long or double => a,
            bool b => b ? 1L : 0L,
            Undefined u => FailWith(u),
            _ => throw new PyException($"bad operand type for unary +: '{TypeName(a)}'"),
        };

    private static object? FailWith(Undefined u)
    {
        u.Fail();
        return null;
    }

    /// <summary>Python <c>len(v)</c>; Jinja2's undefined has length 0.</summary>
    public static long Len(object? v) =>
        v switch
        {
            string s => PyStr.Length(s),
            List<object?> l => l.Count,
            object?[] t => t.Length,
            PyDict d => d.Count,
            DictView view => view.Dict.Count,
            Undefined => 0,
            LoopContext loop => loop.Items.Count,
            _ => throw new PyException($"object of type '{TypeName(v)}' has no len()"),
        };

    /// <summary>The items a <c>for</c> loop visits: list/tuple elements, dict keys, string characters.</summary>
    public static List<object?> Iterate(object? v)
    {
        switch (v)
        {
            case List<object?> l:
                return l;
            case object?[] t:
                return [.. t];
            case PyDict d:
                return [.. d.Keys];
            case DictView view:
                return view.Items();
            case string s:
                return PyStr.Characters(s);
            case Undefined:
                return [];
            case LoopContext loop:
                return loop.Items;
            default:
                throw new PyException($"'{TypeName(v)}' object is not iterable");
        }
    }

    public static bool Contains(object? container, object? item)
    {
        switch (container)
        {
            case string s:
                if (item is string sub)
                {
                    return s.Contains(sub, StringComparison.Ordinal);
                }
                throw new PyException($"'in <string>' requires string as left operand, not {TypeName(item)}");
            case List<object?> l:
                return l.Exists(x => Eq(x, item));
            case object?[] t:
                return Array.Exists(t, x => Eq(x, item));
            case PyDict d:
                return item is not null and not List<object?> and not PyDict and not Undefined && d.ContainsKey(item);
            case DictView view:
                return view.Items().Exists(x => Eq(x, item));
            case Undefined:
                return false;
            default:
                throw new PyException($"argument of type '{TypeName(container)}' is not iterable");
        }
    }

    /// <summary>Jinja2 <c>obj.name</c>: Python attribute (methods) first, then item lookup, else undefined.</summary>
    public static object? GetAttr(object? obj, string name)
    {
        switch (obj)
        {
            case Undefined u:
                u.Fail();
                return null;
            case PyDict d:
                if (Methods.IsDictMethod(name))
                {
                    return new BoundMethod(d, name);
                }
                return d.TryGetValue(name, out var v) ? v : Undefined.Member(obj, name);
            case string s:
                return Methods.IsStringMethod(name) ? new BoundMethod(s, name) : Undefined.Member(obj, name);
            case List<object?> or object?[]:
                return Methods.IsListMethod(name, obj is object?[]) ? new BoundMethod(obj, name) : Undefined.Member(obj, name);
            case JinjaNamespace ns:
                return ns.Attributes.TryGetValue(name, out var nv) ? nv : Undefined.Member(obj, name);
            case LoopContext loop:
                return loop.Get(name);
            case Macro m:
                return name == "name" ? m.Name : Undefined.Member(obj, name);
            default:
                return Undefined.Member(obj, name);
        }
    }

    /// <summary>Jinja2 <c>obj[key]</c>: item lookup first, then (for string keys) attribute, else undefined.</summary>
    public static object? GetItem(object? obj, object? key)
    {
        switch (obj)
        {
            case Undefined u:
                u.Fail();
                return null;
            case PyDict d:
                if (key is not null and not List<object?> and not PyDict and not Undefined && d.TryGetValue(key, out var v))
                {
                    return v;
                }
                break;
            case List<object?> l when AsInt(key) is long i:
                return Index(l, i) is int li ? l[li] : Undefined.Member(obj, key);
            case object?[] t when AsInt(key) is long i:
                return Index(t, i) is int ti ? t[ti] : Undefined.Member(obj, key);
            case string s when AsInt(key) is long i:
                return PyStr.CharAt(s, i) ?? (object)Undefined.Member(obj, key);
        }
        if (key is string name)
        {
            return GetAttr(obj, name);
        }
        return Undefined.Member(obj, key);
    }

    private static int? Index(IReadOnlyList<object?> list, long i)
    {
        if (i < 0)
        {
            i += list.Count;
        }
        return i >= 0 && i < list.Count ? (int)i : null;
    }

    /// <summary>Python <c>obj[start:stop:step]</c> for lists, tuples and strings.</summary>
    public static object? Slice(object? obj, object? start, object? stop, object? step)
    {
        if (obj is Undefined u)
        {
            u.Fail();
        }
        long? SliceIndex(object? v) =>
            v switch
            {
                null => null,
                _ when AsInt(v) is long l => l,
                _ => throw new PyException("slice indices must be integers or None or have an __index__ method"),
            };
        long? a = SliceIndex(start), b = SliceIndex(stop), c = SliceIndex(step);
        switch (obj)
        {
            case List<object?> l:
                return SliceIndices(l.Count, a, b, c).Select(i => l[i]).ToList();
            case object?[] t:
                return SliceIndices(t.Length, a, b, c).Select(i => t[i]).ToArray();
            case string s:
                return PyStr.Slice(s, a, b, c);
            default:
                // Jinja2's getitem turns the TypeError of an unsliceable object into an undefined value.
                return Undefined.Member(obj, "slice");
        }
    }

    /// <summary>The indices Python's <c>slice.indices(length)</c> visits.</summary>
    public static IEnumerable<int> SliceIndices(int length, long? start, long? stop, long? step)
    {
        long st = step ?? 1;
        if (st == 0)
        {
            throw new PyException("slice step cannot be zero");
        }
        long lo, hi;
        if (st > 0)
        {
            lo = Clamp(start ?? 0, length, 0, length);
            hi = Clamp(stop ?? length, length, 0, length);
            for (long i = lo; i < hi; i += st)
            {
                yield return (int)i;
            }
        }
        else
        {
            lo = Clamp(start ?? length - 1, length, -1, length - 1);
            hi = Clamp(stop ?? -1 - length, length, -1, length - 1);
            for (long i = lo; i > hi; i += st)
            {
                yield return (int)i;
            }
        }
    }

    private static long Clamp(long index, int length, long min, long max)
    {
        if (index < 0)
        {
            index += length;
        }
        return Math.Clamp(index, min, max);
    }
}
