using System.Globalization;
using System.Text;

namespace PeftSharp.Text.Templates;

/// <summary>Python's printf-style <c>str % values</c> (used by <c>%</c> on strings and the <c>format</c> filter).</summary>
internal static class PyFormat
{
    public static string Percent(string format, object? values)
    {
        object?[] positional = values switch
        {
            object?[] t => t,
            PyDict => [],
            _ => [values],
        };
        var mapping = values as PyDict;
        int next = 0;
        bool usedMapping = false;
        var sb = new StringBuilder(format.Length + 16);
        int i = 0;
        while (i < format.Length)
        {
            char c = format[i++];
            if (c != '%')
            {
                sb.Append(c);
                continue;
            }
            if (i >= format.Length)
            {
                throw new PyException("incomplete format");
            }
            object? value = Arguments.Missing;
            if (format[i] == '(')
            {
                int close = format.IndexOf(')', i);
                if (close < 0)
                {
                    throw new PyException("incomplete format key");
                }
                if (mapping is null)
                {
                    throw new PyException("format requires a mapping");
                }
                var key = format[(i + 1)..close];
                value = mapping.TryGetValue(key, out var mv) ? mv : throw new PyException($"KeyError: {Py.Repr(key)}");
                usedMapping = true;
                i = close + 1;
            }
            bool left = false, zero = false, plus = false, space = false, alt = false;
            for (; i < format.Length && format[i] is '-' or '0' or '+' or ' ' or '#'; i++)
            {
                switch (format[i])
                {
                    case '-': left = true; break;
                    case '0': zero = true; break;
                    case '+': plus = true; break;
                    case ' ': space = true; break;
                    default: alt = true; break;
                }
            }
            int width = ReadNumber(format, ref i, positional, ref next);
            int precision = -1;
            if (i < format.Length && format[i] == '.')
            {
                i++;
                precision = Math.Max(ReadNumber(format, ref i, positional, ref next), 0);
            }
            while (i < format.Length && format[i] is 'h' or 'l' or 'L')
            {
                i++;
            }
            if (i >= format.Length)
            {
                throw new PyException("incomplete format");
            }
            char conv = format[i++];
            if (conv == '%')
            {
                sb.Append('%');
                continue;
            }
            if (ReferenceEquals(value, Arguments.Missing))
            {
                if (next >= positional.Length)
                {
                    throw new PyException("not enough arguments for format string");
                }
                value = positional[next++];
            }
            if (value is Undefined u && conv is not ('s' or 'r' or 'a'))
            {
                u.Fail();
            }
            string body;
            bool numeric = false;
            switch (conv)
            {
                case 's':
                    body = Py.Str(value);
                    if (precision >= 0 && precision < body.Length)
                    {
                        body = PyStr.Slice(body, 0, precision, null);
                    }
                    break;
                case 'r' or 'a':
                    body = Py.Repr(value);
                    break;
                case 'd' or 'i' or 'u':
                    numeric = true;
                    body = Sign(ToInt(value, conv).ToString(CultureInfo.InvariantCulture), plus, space);
                    break;
                case 'x' or 'X' or 'o':
                    numeric = true;
                    long n = ToInt(value, conv);
                    string digits = Math.Abs(n).ToString(conv == 'o' ? "" : conv.ToString(), CultureInfo.InvariantCulture);
                    if (conv == 'o')
                    {
                        digits = Convert.ToString(Math.Abs(n), 8);
                    }
                    if (alt)
                    {
                        digits = (conv == 'o' ? "0o" : conv == 'x' ? "0x" : "0X") + digits;
                    }
                    body = Sign((n < 0 ? "-" : "") + digits, plus, space);
                    break;
                case 'f' or 'F' or 'e' or 'E' or 'g' or 'G':
                    numeric = true;
                    body = Sign(FormatFloat(ToFloat(value, conv), conv, precision < 0 ? 6 : precision, alt), plus, space);
                    break;
                case 'c':
                    body = value switch
                    {
                        string ch when PyStr.Length(ch) == 1 => ch,
                        long cp when cp is >= 0 and <= 0x10FFFF => char.ConvertFromUtf32((int)cp),
                        _ => throw new PyException("%c requires an int or a unicode character"),
                    };
                    break;
                default:
                    throw new PyException($"unsupported format character '{conv}' (0x{(int)conv:x}) at index {i - 1}");
            }
            if (body.Length < width)
            {
                if (left)
                {
                    body = body.PadRight(width);
                }
                else if (zero && numeric && !body.Contains("inf") && !body.Contains("nan"))
                {
                    int signLen = body.Length > 0 && body[0] is '-' or '+' or ' ' ? 1 : 0;
                    body = body[..signLen] + new string('0', width - body.Length) + body[signLen..];
                }
                else
                {
                    body = body.PadLeft(width);
                }
            }
            sb.Append(body);
        }
        if (!usedMapping && mapping is null && next < positional.Length)
        {
            throw new PyException("not all arguments converted during string formatting");
        }
        return sb.ToString();
    }

    private static int ReadNumber(string f, ref int i, object?[] positional, ref int next)
    {
        if (i < f.Length && f[i] == '*')
        {
            i++;
            if (next >= positional.Length)
            {
                throw new PyException("not enough arguments for format string");
            }
            return positional[next++] is long l ? (int)Math.Clamp(l, -100_000, 100_000) : throw new PyException("* wants int");
        }
        int n = 0;
        while (i < f.Length && char.IsAsciiDigit(f[i]))
        {
            n = Math.Min(n * 10 + (f[i++] - '0'), 100_000);
        }
        return n;
    }

    private static string Sign(string s, bool plus, bool space) =>
        s.StartsWith('-') ? s : plus ? "+" + s : space ? " " + s : s;

    private static long ToInt(object? v, char conv) =>
        v switch
        {
            long l => l,
            bool b => b ? 1 : 0,
            double d when double.IsFinite(d) && Math.Abs(d) < 9.2e18 && conv is 'd' or 'i' or 'u' => (long)Math.Truncate(d),
            _ => throw new PyException($"%{conv} format: {(conv is 'd' or 'i' or 'u' ? "a real number" : "an integer")} is required, not {Py.TypeName(v)}"),
        };

    private static double ToFloat(object? v, char conv) =>
        v switch
        {
            double d => d,
            long l => l,
            bool b => b ? 1 : 0,
            _ => throw new PyException($"must be real number, not {Py.TypeName(v)}"),
        };

    /// <summary>C-style %f / %e / %g as Python renders them (two-digit minimum exponent, inf/nan spelled lower case).</summary>
    public static string FormatFloat(double d, char conv, int precision, bool alt)
    {
        bool upper = char.IsUpper(conv);
        if (double.IsNaN(d))
        {
            return upper ? "NAN" : "nan";
        }
        if (double.IsInfinity(d))
        {
            return (d < 0 ? "-" : "") + (upper ? "INF" : "inf");
        }
        precision = Math.Min(precision, 100);
        switch (char.ToLowerInvariant(conv))
        {
            case 'f':
                return d.ToString("F" + precision, CultureInfo.InvariantCulture);
            case 'e':
                return Exponent(d, precision, upper);
            default:
                int p = precision == 0 ? 1 : precision;
                if (d == 0)
                {
                    return alt ? "0." + new string('0', p - 1) : (double.IsNegative(d) ? "-0" : "0");
                }
                // The exponent after rounding to p significant digits decides between fixed and scientific.
                string sci = d.ToString("E" + (p - 1), CultureInfo.InvariantCulture);
                int exp = int.Parse(sci.AsSpan(sci.IndexOf('E') + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
                string r = exp >= -4 && exp < p
                    ? d.ToString("F" + Math.Max(p - 1 - exp, 0), CultureInfo.InvariantCulture)
                    : Exponent(d, p - 1, upper);
                if (!alt)
                {
                    int e = r.IndexOfAny(['e', 'E']);
                    string mant = e < 0 ? r : r[..e], tail = e < 0 ? "" : r[e..];
                    if (mant.Contains('.'))
                    {
                        mant = mant.TrimEnd('0').TrimEnd('.');
                    }
                    r = mant + tail;
                }
                return r;
        }
    }

    private static string Exponent(double d, int precision, bool upper)
    {
        string s = d.ToString((upper ? "E" : "e") + precision, CultureInfo.InvariantCulture);
        int e = s.IndexOfAny(['e', 'E']);
        int exp = int.Parse(s.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        return s[..(e + 1)] + (exp < 0 ? "-" : "+") + Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture);
    }
}
