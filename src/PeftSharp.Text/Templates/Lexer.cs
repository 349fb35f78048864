using System.Globalization;
using System.Text;

namespace PeftSharp.Text.Templates;

internal enum TokenKind
{
    Data,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    End,
}

internal readonly record struct Token(TokenKind Kind, string Value, int Line, int Column, object? Literal = null)
{
    public string Describe() =>
        Kind switch
        {
            TokenKind.End => "end of template",
            TokenKind.VariableEnd => "end of print statement",
            TokenKind.BlockEnd => "end of statement block",
            TokenKind.Data => "template data",
            TokenKind.String => "string literal",
            _ => $"'{Value}'",
        };
}

/// <summary>
/// Splits a template into data and tag tokens the way Jinja2's lexer does with trim_blocks and lstrip_blocks on:
/// a block or comment end eats one following newline; whitespace from the start of a line up to a block or comment
/// tag is dropped; <c>-</c> strips all whitespace on that side; <c>+</c> keeps it. Newlines are normalized to \n and
/// one trailing newline of the template is dropped.
/// </summary>
internal sealed class Lexer
{
    private readonly string _src;
    private readonly List<int> _lineStarts = [0];
    private readonly List<Token> _tokens = [];
    private int _pos;
    private bool _lineStarting = true;

    private Lexer(string source)
    {
        _src = source;
        for (int i = 0; i < source.Length; i++)
        {
            if (source[i] == '\n')
            {
                _lineStarts.Add(i + 1);
            }
        }
    }

    /// <summary>Jinja2's newline normalization plus keep_trailing_newline=False.</summary>
    public static string Normalize(string source)
    {
        string s = source.Contains('\r') ? source.Replace("\r\n", "\n").Replace('\r', '\n') : source;
        return s.EndsWith('\n') ? s[..^1] : s;
    }

    public static List<Token> Tokenize(string normalizedSource)
    {
        var lexer = new Lexer(normalizedSource);
        lexer.Run();
        return lexer._tokens;
    }

    private (int Line, int Column) Position(int offset)
    {
        int idx = _lineStarts.BinarySearch(offset);
        if (idx < 0)
        {
            idx = ~idx - 1;
        }
        return (idx + 1, offset - _lineStarts[idx] + 1);
    }

    private TemplateSyntaxException Error(string reason, int offset)
    {
        var (line, col) = Position(offset);
        return new TemplateSyntaxException(reason, line, col);
    }

    private void Emit(TokenKind kind, string value, int offset, object? literal = null)
    {
        var (line, col) = Position(offset);
        _tokens.Add(new Token(kind, value, line, col, literal));
    }

    private void Run()
    {
        while (_pos < _src.Length)
        {
            int tag = FindTagStart(_pos);
            if (tag < 0)
            {
                Emit(TokenKind.Data, _src[_pos..], _pos);
                _pos = _src.Length;
                break;
            }
            char kind = _src[tag + 1];
            char sign = tag + 2 < _src.Length ? _src[tag + 2] : '\0';
            bool signed = sign is '-' or '+';
            int rawEnd = kind == '%' ? MatchRawBegin(tag) : -1;
            string text = ApplyLeftStrip(_src[_pos..tag], signed ? sign : '\0', kind != '{');
            if (text.Length > 0)
            {
                Emit(TokenKind.Data, text, _pos);
            }
            if (rawEnd >= 0)
            {
                _pos = rawEnd;
                _lineStarting = _src[rawEnd - 1] == '\n';
                LexRawBody(tag);
                continue;
            }
            _pos = tag + 2 + (signed ? 1 : 0);
            _lineStarting = false;
            switch (kind)
            {
                case '#':
                    LexComment(tag);
                    break;
                case '{':
                    Emit(TokenKind.VariableBegin, "{{", tag);
                    LexTag(isBlock: false, tag);
                    break;
                default:
                    Emit(TokenKind.BlockBegin, "{%", tag);
                    LexTag(isBlock: true, tag);
                    break;
            }
        }
        Emit(TokenKind.End, "", _src.Length);
    }

    private int FindTagStart(int from)
    {
        int i = from;
        while (true)
        {
            i = _src.IndexOf('{', i);
            if (i < 0 || i + 1 >= _src.Length)
            {
                return -1;
            }
            char c = _src[i + 1];
            if (c is '{' or '%' or '#')
            {
                return i;
            }
            i++;
        }
    }

    /// <summary>Whitespace control on the data before a tag (Jinja2's OptionalLStrip).</summary>
    private string ApplyLeftStrip(string text, char sign, bool lstripApplies)
    {
        if (sign == '-')
        {
            return PyStr.Strip(text, null, false, true);
        }
        if (sign != '+' && lstripApplies)
        {
            int lineStart = text.LastIndexOf('\n') + 1;
            if ((lineStart > 0 || _lineStarting) && lineStart < text.Length && AllSpace(text, lineStart))
            {
                return text[..lineStart];
            }
        }
        return text;
    }

    private static bool AllSpace(string s, int from)
    {
        for (int i = from; i < s.Length; i++)
        {
            if (!PyStr.IsSpace(s[i]))
            {
                return false;
            }
        }
        return true;
    }

    private int SkipSpace(int i)
    {
        while (i < _src.Length && PyStr.IsSpace(_src[i]))
        {
            i++;
        }
        return i;
    }

    private bool At(int i, string s) => i < _src.Length && _src.AsSpan(i).StartsWith(s, StringComparison.Ordinal);

    /// <summary>If a <c>{% raw %}</c> tag starts at <paramref name="tag"/>, the offset just after it; else -1.</summary>
    private int MatchRawBegin(int tag)
    {
        int i = tag + 2;
        if (i < _src.Length && _src[i] is '-' or '+')
        {
            i++;
        }
        i = SkipSpace(i);
        if (!At(i, "raw"))
        {
            return -1;
        }
        i = SkipSpace(i + 3);
        if (At(i, "-%}"))
        {
            return SkipSpace(i + 3);
        }
        return At(i, "%}") ? i + 2 : -1;
    }

    private void LexRawBody(int rawTag)
    {
        int search = _pos;
        while (true)
        {
            int tag = _src.IndexOf("{%", search, StringComparison.Ordinal);
            if (tag < 0)
            {
                throw Error("Missing end of raw directive ('{% endraw %}')", rawTag);
            }
            int i = tag + 2;
            char sign = i < _src.Length && _src[i] is '-' or '+' ? _src[i] : '\0';
            if (sign != '\0')
            {
                i++;
            }
            i = SkipSpace(i);
            if (At(i, "endraw"))
            {
                i = SkipSpace(i + 6);
                int end = -1;
                if (At(i, "+%}"))
                {
                    end = i + 3;
                }
                else if (At(i, "-%}"))
                {
                    end = SkipSpace(i + 3);
                }
                else if (At(i, "%}"))
                {
                    end = i + 2 < _src.Length && _src[i + 2] == '\n' ? i + 3 : i + 2;
                }
                if (end >= 0)
                {
                    string text = ApplyLeftStrip(_src[_pos..tag], sign, true);
                    if (text.Length > 0)
                    {
                        Emit(TokenKind.Data, text, _pos);
                    }
                    _pos = end;
                    _lineStarting = _src[end - 1] == '\n';
                    return;
                }
            }
            search = tag + 2;
        }
    }

    private void LexComment(int tag)
    {
        int search = _pos;
        int close = _src.IndexOf("#}", search, StringComparison.Ordinal);
        if (close < 0)
        {
            throw Error("Missing end of comment tag ('#}')", tag);
        }
        char before = close > _pos ? _src[close - 1] : '\0';
        int end = close + 2;
        if (before == '-')
        {
            end = SkipSpace(end);
        }
        else if (before != '+' && end < _src.Length && _src[end] == '\n')
        {
            end++;
        }
        _pos = end;
        _lineStarting = _src[end - 1] == '\n';
    }

    private void LexTag(bool isBlock, int tagStart)
    {
        var brackets = new Stack<(char Close, int Offset)>();
        while (true)
        {
            if (_pos >= _src.Length)
            {
                throw Error(isBlock ? "Unexpected end of template: block tag '{%' is not closed with '%}'"
                    : "Unexpected end of template: print tag '{{' is not closed with '}}'", tagStart);
            }
            if (brackets.Count == 0 && TryLexTagEnd(isBlock))
            {
                _lineStarting = _src[_pos - 1] == '\n';
                return;
            }
            char c = _src[_pos];
            if (PyStr.IsSpace(c))
            {
                _pos++;
            }
            else if (char.IsAsciiDigit(c))
            {
                LexNumber();
            }
            else if (char.IsAsciiLetter(c) || c == '_')
            {
                int start = _pos;
                while (_pos < _src.Length && (char.IsAsciiLetterOrDigit(_src[_pos]) || _src[_pos] == '_'))
                {
                    _pos++;
                }
                Emit(TokenKind.Name, _src[start.._pos], start);
            }
            else if (c is '\'' or '"')
            {
                LexString();
            }
            else
            {
                LexOperator(brackets);
            }
        }
    }

    private bool TryLexTagEnd(bool isBlock)
    {
        int start = _pos;
        if (_src[_pos] is not ('-' or '+' or '%' or '}'))
        {
            return false;
        }
        if (isBlock)
        {
            if (At(_pos, "-%}"))
            {
                _pos = SkipSpace(_pos + 3);
            }
            else if (At(_pos, "+%}"))
            {
                _pos += 3;
            }
            else if (At(_pos, "%}"))
            {
                _pos += 2;
                if (_pos < _src.Length && _src[_pos] == '\n')
                {
                    _pos++;
                }
            }
            else
            {
                return false;
            }
            Emit(TokenKind.BlockEnd, "%}", start);
            return true;
        }
        if (At(_pos, "-}}"))
        {
            _pos = SkipSpace(_pos + 3);
        }
        else if (At(_pos, "}}"))
        {
            _pos += 2;
        }
        else
        {
            return false;
        }
        Emit(TokenKind.VariableEnd, "}}", start);
        return true;
    }

    /// <summary>The operator at the current position: two-character operators first, then single characters.</summary>
    private string? MatchOperator()
    {
        char c = _src[_pos];
        char n = _pos + 1 < _src.Length ? _src[_pos + 1] : '\0';
        switch (c)
        {
            case '/': return n == '/' ? "//" : "/";
            case '*': return n == '*' ? "**" : "*";
            case '=': return n == '=' ? "==" : "=";
            case '!': return n == '=' ? "!=" : null;
            case '>': return n == '=' ? ">=" : ">";
            case '<': return n == '=' ? "<=" : "<";
            case '+': return "+";
            case '-': return "-";
            case '%': return "%";
            case '~': return "~";
            case '[': return "[";
            case ']': return "]";
            case '(': return "(";
            case ')': return ")";
            case '{': return "{";
            case '}': return "}";
            case '.': return ".";
            case ':': return ":";
            case '|': return "|";
            case ',': return ",";
            case ';': return ";";
            default: return null;
        }
    }

    private void LexOperator(Stack<(char Close, int Offset)> brackets)
    {
        var op = MatchOperator() ?? throw Error($"Unexpected character {Py.Repr(_src[_pos].ToString())}", _pos);
        switch (op)
        {
            case "(":
                brackets.Push((')', _pos));
                break;
            case "[":
                brackets.Push((']', _pos));
                break;
            case "{":
                brackets.Push(('}', _pos));
                break;
            case ")" or "]" or "}":
                if (brackets.Count == 0)
                {
                    throw Error($"Unexpected '{op}'", _pos);
                }
                var (close, _) = brackets.Pop();
                if (close != op[0])
                {
                    throw Error($"Unexpected '{op}', expected '{close}'", _pos);
                }
                break;
        }
        Emit(TokenKind.Operator, op, _pos);
        _pos += op.Length;
    }

    private void LexNumber()
    {
        int start = _pos;
        if (_src[_pos] == '0' && _pos + 1 < _src.Length && _src[_pos + 1] is 'x' or 'X' or 'o' or 'O' or 'b' or 'B')
        {
            int radix = char.ToLowerInvariant(_src[_pos + 1]) switch { 'x' => 16, 'o' => 8, _ => 2 };
            _pos += 2;
            long v = 0;
            int digits = 0;
            while (_pos < _src.Length && (Uri.IsHexDigit(_src[_pos]) || _src[_pos] == '_'))
            {
                if (_src[_pos] != '_')
                {
                    int d = Convert.ToInt32(_src[_pos].ToString(), 16);
                    if (d >= radix)
                    {
                        throw Error($"Invalid digit '{_src[_pos]}' in integer literal", _pos);
                    }
                    if (v > (long.MaxValue - d) / radix)
                    {
                        throw Error($"Integer literal {_src[start..(_pos + 1)]}... is outside the 64-bit range this engine supports", start);
                    }
                    v = v * radix + d;
                    digits++;
                }
                _pos++;
            }
            if (digits == 0)
            {
                throw Error("Invalid integer literal", start);
            }
            Emit(TokenKind.Integer, _src[start.._pos], start, v);
            return;
        }
        ReadDigits();
        bool isFloat = false;
        if (_pos + 1 < _src.Length && _src[_pos] == '.' && char.IsAsciiDigit(_src[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            ReadDigits();
        }
        if (_pos < _src.Length && _src[_pos] is 'e' or 'E')
        {
            int save = _pos;
            _pos++;
            if (_pos < _src.Length && _src[_pos] is '+' or '-')
            {
                _pos++;
            }
            if (_pos < _src.Length && char.IsAsciiDigit(_src[_pos]))
            {
                isFloat = true;
                ReadDigits();
            }
            else
            {
                _pos = save;
            }
        }
        string text = _src[start.._pos];
        string clean = text.Replace("_", "");
        if (isFloat)
        {
            Emit(TokenKind.Float, text, start, double.Parse(clean, NumberStyles.Float, CultureInfo.InvariantCulture));
        }
        else if (long.TryParse(clean, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
        {
            Emit(TokenKind.Integer, text, start, v);
        }
        else
        {
            throw Error($"Integer literal {text} is outside the 64-bit range this engine supports", start);
        }
    }

    private void ReadDigits()
    {
        while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || (_src[_pos] == '_' && _pos + 1 < _src.Length && char.IsAsciiDigit(_src[_pos + 1]))))
        {
            _pos++;
        }
    }

    /// <summary>A string literal, decoded with Python's unicode-escape rules as Jinja2 does.</summary>
    private void LexString()
    {
        int start = _pos;
        char quote = _src[_pos++];
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _src.Length)
            {
                throw Error("Unterminated string literal", start);
            }
            char c = _src[_pos++];
            if (c == quote)
            {
                break;
            }
            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }
            if (_pos >= _src.Length)
            {
                throw Error("Unterminated string literal", start);
            }
            char e = _src[_pos++];
            switch (e)
            {
                case '\n': break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'v': sb.Append('\v'); break;
                case >= '0' and <= '7':
                    int oct = e - '0';
                    for (int k = 0; k < 2 && _pos < _src.Length && _src[_pos] is >= '0' and <= '7'; k++)
                    {
                        oct = oct * 8 + (_src[_pos++] - '0');
                    }
                    sb.Append((char)oct);
                    break;
                case 'x':
                    AppendHexEscape(sb, 2, start);
                    break;
                case 'u':
                    AppendHexEscape(sb, 4, start);
                    break;
                case 'U':
                    AppendHexEscape(sb, 8, start);
                    break;
                case 'N':
                    throw Error("Named Unicode escapes (\\N{...}) are not supported in string literals", _pos - 2);
                default:
                    sb.Append('\\').Append(e);
                    break;
            }
        }
        Emit(TokenKind.String, _src[start.._pos], start, sb.ToString());
    }

    private void AppendHexEscape(StringBuilder sb, int digits, int literalStart)
    {
        if (_pos + digits > _src.Length || !_src.AsSpan(_pos, digits).ContainsOnlyHex())
        {
            throw Error($"Truncated \\{(digits == 2 ? 'x' : digits == 4 ? 'u' : 'U')} escape in string literal", _pos - 2);
        }
        int cp = int.Parse(_src.AsSpan(_pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        _pos += digits;
        if (cp > 0x10FFFF)
        {
            throw Error("Illegal Unicode character in \\U escape", _pos - digits - 2);
        }
        if (cp is >= 0xD800 and <= 0xDFFF)
        {
            sb.Append((char)cp);
        }
        else
        {
            sb.Append(char.ConvertFromUtf32(cp));
        }
    }
}

internal static class SpanHexExtensions
{
    public static bool ContainsOnlyHex(this ReadOnlySpan<char> s)
    {
        foreach (char c in s)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }
        return true;
    }
}
