using System.Text;

namespace PeftSharp.Text.Templates;

/// <summary>Python methods callable on template values (<c>s.strip()</c>, <c>d.items()</c>, ...).</summary>
internal static class Methods
{
    private static readonly HashSet<string> StringMethods =
    [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
        "title", "capitalize", "replace", "find", "rfind", "index", "rindex", "count", "join", "isdigit", "isalpha",
        "isalnum", "isspace", "isupper", "islower", "isnumeric", "isdecimal", "removeprefix", "removesuffix",
        "zfill", "ljust", "rjust", "center", "partition", "rpartition", "swapcase", "casefold", "format", "encode",
    ];

    private static readonly HashSet<string> DictMethods = ["items", "keys", "values", "get", "copy", "update", "pop", "popitem", "setdefault", "clear"];

    private static readonly HashSet<string> ListMethods = ["index", "count", "copy", "append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"];

    public static bool IsStringMethod(string name) => StringMethods.Contains(name);

    public static bool IsDictMethod(string name) => DictMethods.Contains(name);

    public static bool IsListMethod(string name, bool tuple) => tuple ? name is "index" or "count" : ListMethods.Contains(name);

    public static object? Call(object target, string name, Arguments args) =>
        target switch
        {
            string s => CallString(s, name, args),
            PyDict d => CallDict(d, name, args),
            List<object?> l => CallSequence(l, name, args, "list"),
            object?[] t => CallSequence(t, name, args, "tuple"),
            _ => throw new PyException($"'{Py.TypeName(target)}' object has no attribute '{name}'"),
        };

    private static PyException Unsafe(string name, string type) => new($"access to attribute '{name}' of '{type}' object is unsafe.");

    private static string? OptString(object? v, string what) =>
        v switch
        {
            null => null,
            _ when ReferenceEquals(v, Arguments.Missing) => null,
            string s => s,
            _ => throw new PyException($"{what} arg must be None or str, not {Py.TypeName(v)}"),
        };

    private static string ReqString(object? v, string what) =>
        v as string ?? throw new PyException(ReferenceEquals(v, Arguments.Missing)
            ? $"{what} missing required argument"
            : $"{what} argument must be str, not {Py.TypeName(v)}");

    private static long OptInt(object? v, long fallback, string what) =>
        v switch
        {
            _ when ReferenceEquals(v, Arguments.Missing) => fallback,
            long l => l,
            bool b => b ? 1 : 0,
            _ => throw new PyException($"{what}: '{Py.TypeName(v)}' object cannot be interpreted as an integer"),
        };

    private static object? CallString(string s, string name, Arguments args)
    {
        object?[] a;
        switch (name)
        {
            case "strip" or "lstrip" or "rstrip":
                a = args.Bind($"str.{name}()", "chars");
                return PyStr.Strip(s, OptString(a[0], name), name != "rstrip", name != "lstrip");
            case "split" or "rsplit":
                a = args.Bind($"str.{name}()", "sep", "maxsplit");
                var sep = OptString(a[0], name);
                long max = OptInt(a[1], -1, name);
                return name == "split" ? PyStr.Split(s, sep, max) : PyStr.RSplit(s, sep, max);
            case "splitlines":
                a = args.Bind("str.splitlines()", "keepends");
                return PyStr.SplitLines(s, Arguments.Given(a[0]) && Py.Truthy(a[0]));
            case "startswith" or "endswith":
            {
                a = args.Bind($"str.{name}()", "prefix", "start", "end");
                string sub = s;
                if (Arguments.Given(a[1]) || Arguments.Given(a[2]))
                {
                    sub = PyStr.Slice(s, Arguments.Given(a[1]) ? NullableInt(a[1]) : null, Arguments.Given(a[2]) ? NullableInt(a[2]) : null, null);
                }
                bool Match(object? p) =>
                    p is string ps
                        ? (name == "startswith" ? sub.StartsWith(ps, StringComparison.Ordinal) : sub.EndsWith(ps, StringComparison.Ordinal))
                        : throw new PyException($"tuple for {name} must only contain str, not {Py.TypeName(p)}");
                return a[0] switch
                {
                    string p => Match(p),
                    object?[] tuple => tuple.Any(Match),
                    _ => throw new PyException($"{name} first arg must be str or a tuple of str, not {Py.TypeName(a[0])}"),
                };
            }
            case "upper":
                args.Bind("str.upper()");
                return PyStr.Upper(s);
            case "lower" or "casefold":
                args.Bind($"str.{name}()");
                return PyStr.Lower(s);
            case "title":
                args.Bind("str.title()");
                return PyStr.Title(s);
            case "capitalize":
                args.Bind("str.capitalize()");
                return PyStr.Capitalize(s);
            case "swapcase":
                args.Bind("str.swapcase()");
                return string.Concat(s.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)));
            case "replace":
                a = args.Bind("str.replace()", "old", "new", "count");
                return PyStr.Replace(s, ReqString(a[0], "replace()"), ReqString(a[1], "replace()"), OptInt(a[2], -1, "replace()"));
            case "find" or "rfind" or "index" or "rindex":
            {
                a = args.Bind($"str.{name}()", "sub");
                var sub = ReqString(a[0], name);
                int k = name is "find" or "index" ? s.IndexOf(sub, StringComparison.Ordinal) : s.LastIndexOf(sub, StringComparison.Ordinal);
                if (k < 0 && name is "index" or "rindex")
                {
                    throw new PyException("substring not found");
                }
                return PyStr.CodePointIndex(s, k);
            }
            case "count":
            {
                a = args.Bind("str.count()", "sub");
                var sub = ReqString(a[0], "count");
                if (sub.Length == 0)
                {
                    return PyStr.Length(s) + 1;
                }
                long n = 0;
                for (int k = s.IndexOf(sub, StringComparison.Ordinal); k >= 0; k = s.IndexOf(sub, k + sub.Length, StringComparison.Ordinal))
                {
                    n++;
                }
                return n;
            }
            case "join":
            {
                a = args.Bind("str.join()", "iterable");
                var parts = Py.Iterate(a[0]);
                for (int i = 0; i < parts.Count; i++)
                {
                    if (parts[i] is not string)
                    {
                        throw new PyException($"sequence item {i}: expected str instance, {Py.TypeName(parts[i])} found");
                    }
                }
                return string.Join(s, parts.Cast<string>());
            }
            case "isdigit" or "isnumeric" or "isdecimal":
                args.Bind($"str.{name}()");
                return s.Length > 0 && s.EnumerateRunes().All(r => Rune.IsDigit(r) || (name == "isnumeric" && Rune.IsNumber(r)));
            case "isalpha":
                args.Bind("str.isalpha()");
                return s.Length > 0 && s.EnumerateRunes().All(Rune.IsLetter);
            case "isalnum":
                args.Bind("str.isalnum()");
                return s.Length > 0 && s.EnumerateRunes().All(Rune.IsLetterOrDigit);
            case "isspace":
                args.Bind("str.isspace()");
                return s.Length > 0 && s.All(PyStr.IsSpace);
            case "isupper" or "islower":
            {
                args.Bind($"str.{name}()");
                bool anyCased = false;
                foreach (var r in s.EnumerateRunes())
                {
                    if (Rune.IsUpper(r))
                    {
                        anyCased = true;
                        if (name == "islower")
                        {
                            return false;
                        }
                    }
                    else if (Rune.IsLower(r))
                    {
                        anyCased = true;
                        if (name == "isupper")
                        {
                            return false;
                        }
                    }
                }
                return anyCased;
            }
            case "removeprefix":
                a = args.Bind("str.removeprefix()", "prefix");
                var pre = ReqString(a[0], "removeprefix()");
                return s.StartsWith(pre, StringComparison.Ordinal) ? s[pre.Length..] : s;
            case "removesuffix":
                a = args.Bind("str.removesuffix()", "suffix");
                var suf = ReqString(a[0], "removesuffix()");
                return suf.Length > 0 && s.EndsWith(suf, StringComparison.Ordinal) ? s[..^suf.Length] : s;
            case "zfill":
            {
                a = args.Bind("str.zfill()", "width");
                long width = OptInt(a[0], 0, "zfill()");
                long len = PyStr.Length(s);
                if (width <= len)
                {
                    return s;
                }
                CheckWidth(width);
                int signLen = s.Length > 0 && s[0] is '+' or '-' ? 1 : 0;
                return s[..signLen] + new string('0', (int)(width - len)) + s[signLen..];
            }
            case "ljust" or "rjust" or "center":
            {
                a = args.Bind($"str.{name}()", "width", "fillchar");
                long width = OptInt(a[0], 0, name);
                string fill = Arguments.Given(a[1]) ? ReqString(a[1], name) : " ";
                if (PyStr.Length(fill) != 1)
                {
                    throw new PyException("The fill character must be exactly one character long");
                }
                long len = PyStr.Length(s);
                if (width <= len)
                {
                    return s;
                }
                CheckWidth(width);
                long pad = width - len;
                long left = name switch
                {
                    "ljust" => 0,
                    "rjust" => pad,
                    _ => pad / 2 + (pad & width & 1),
                };
                return string.Concat(Enumerable.Repeat(fill, (int)left)) + s + string.Concat(Enumerable.Repeat(fill, (int)(pad - left)));
            }
            case "partition" or "rpartition":
            {
                a = args.Bind($"str.{name}()", "sep");
                var sep2 = ReqString(a[0], name);
                if (sep2.Length == 0)
                {
                    throw new PyException("empty separator");
                }
                int k = name == "partition" ? s.IndexOf(sep2, StringComparison.Ordinal) : s.LastIndexOf(sep2, StringComparison.Ordinal);
                if (k < 0)
                {
                    return name == "partition" ? new object?[] { s, "", "" } : new object?[] { "", "", s };
                }
                return new object?[] { s[..k], sep2, s[(k + sep2.Length)..] };
            }
            default:
                throw new PyException($"str.{name}() is not supported by this template engine");
        }
    }

    private static void CheckWidth(long width)
    {
        if (width > Py.MaxRepeatedLength)
        {
            throw new PyException($"width {width} is above the limit of {Py.MaxRepeatedLength}");
        }
    }

    private static long? NullableInt(object? v) =>
        v switch
        {
            null => null,
            long l => l,
            bool b => b ? 1 : 0,
            _ => throw new PyException("slice indices must be integers or None or have an __index__ method"),
        };

    private static object? CallDict(PyDict d, string name, Arguments args)
    {
        switch (name)
        {
            case "items" or "keys" or "values":
                args.Bind($"dict.{name}()");
                return new DictView(d, name);
            case "get":
            {
                var a = args.Bind("dict.get()", "key", "default");
                if (!Arguments.Given(a[0]))
                {
                    throw new PyException("get expected at least 1 argument, got 0");
                }
                object? fallback = Arguments.Given(a[1]) ? a[1] : null;
                if (a[0] is null or List<object?> or PyDict or Undefined)
                {
                    if (a[0] is List<object?> or PyDict)
                    {
                        throw new PyException($"unhashable type: '{Py.TypeName(a[0])}'");
                    }
                    return fallback;
                }
                return d.TryGetValue(a[0]!, out var v) ? v : fallback;
            }
            case "copy":
                args.Bind("dict.copy()");
                var copy = new PyDict(d.Count);
                foreach (var (k, v) in d)
                {
                    copy[k] = v;
                }
                return copy;
            default:
                throw Unsafe(name, "dict");
        }
    }

    private static object? CallSequence(IReadOnlyList<object?> l, string name, Arguments args, string type)
    {
        switch (name)
        {
            case "index":
            {
                var a = args.Bind($"{type}.index()", "value");
                for (int i = 0; i < l.Count; i++)
                {
                    if (Py.Eq(l[i], a[0]))
                    {
                        return (long)i;
                    }
                }
                throw new PyException($"{Py.Repr(a[0])} is not in {type}");
            }
            case "count":
            {
                var a = args.Bind($"{type}.count()", "value");
                return (long)l.Count(x => Py.Eq(x, a[0]));
            }
            case "copy":
                args.Bind("list.copy()");
                return l.ToList();
            default:
                throw Unsafe(name, type);
        }
    }
}
