namespace PeftSharp.Text.Templates;

/// <summary>Recursive-descent parser following Jinja2's grammar and operator precedence.</summary>
internal sealed class Parser
{
    /// <summary>Expression and block nesting limit, so hostile input fails cleanly instead of overflowing the stack.</summary>
    private const int MaxNesting = 200;

    private static readonly HashSet<string> UnsupportedTags =
        ["include", "import", "from", "extends", "block", "call", "autoescape", "do", "trans", "pluralize", "print", "endblock"];

    /// <summary>Jinja2 built-in filters this engine does not implement (named specifically in errors).</summary>
    private static readonly HashSet<string> UnsupportedJinjaFilters =
        ["batch", "filesizeformat", "forceescape", "groupby", "pprint", "random", "slice", "striptags", "truncate",
         "urlencode", "urlize", "wordwrap", "xmlattr"];

    private readonly List<Token> _tokens;
    private int _i;
    private int _depth;
    private HashSet<string>? _namesSeen;

    private Parser(List<Token> tokens) => _tokens = tokens;

    public static Stmt[] Parse(List<Token> tokens)
    {
        var p = new Parser(tokens);
        var body = p.ParseBody([], out _);
        return body;
    }

    private Token Cur => _tokens[_i];

    private Token Peek(int k = 1) => _tokens[Math.Min(_i + k, _tokens.Count - 1)];

    /// <summary>Returns the current token and advances; the End token is never passed.</summary>
    private Token Next()
    {
        var t = _tokens[_i];
        if (_i < _tokens.Count - 1)
        {
            _i++;
        }
        return t;
    }

    private static TemplateSyntaxException Fail(string reason, Token at) => new(reason, at.Line, at.Column);

    private bool IsOp(string op) => Cur.Kind == TokenKind.Operator && Cur.Value == op;

    private bool IsName(string name) => Cur.Kind == TokenKind.Name && Cur.Value == name;

    private bool SkipOp(string op)
    {
        if (IsOp(op))
        {
            _i++;
            return true;
        }
        return false;
    }

    private bool SkipName(string name)
    {
        if (IsName(name))
        {
            _i++;
            return true;
        }
        return false;
    }

    private Token ExpectOp(string op)
    {
        if (!IsOp(op))
        {
            throw Fail($"Expected '{op}', got {Cur.Describe()}", Cur);
        }
        return Next();
    }

    private Token ExpectName()
    {
        if (Cur.Kind != TokenKind.Name)
        {
            throw Fail($"Expected a name, got {Cur.Describe()}", Cur);
        }
        return Next();
    }

    private void ExpectBlockEnd()
    {
        if (Cur.Kind != TokenKind.BlockEnd)
        {
            throw Fail($"Expected end of statement block ('%}}'), got {Cur.Describe()}", Cur);
        }
        _i++;
    }

    private void Enter(Token at)
    {
        if (++_depth > MaxNesting)
        {
            throw Fail($"Template nesting exceeds {MaxNesting} levels", at);
        }
    }

    // ----- statements -----

    /// <summary>Parses statements until a block tag whose keyword is in <paramref name="endTags"/> (left unconsumed after the keyword).</summary>
    private Stmt[] ParseBody(string[] endTags, out string? endTag)
    {
        var body = new List<Stmt>();
        while (true)
        {
            var t = Cur;
            switch (t.Kind)
            {
                case TokenKind.End:
                    if (endTags.Length > 0)
                    {
                        throw Fail($"Unexpected end of template: expected {string.Join(" or ", endTags.Select(e => $"'{{% {e} %}}'"))}", t);
                    }
                    endTag = null;
                    return [.. body];
                case TokenKind.Data:
                    _i++;
                    body.Add(new TextStmt(t.Value, t.Line, t.Column));
                    break;
                case TokenKind.VariableBegin:
                    _i++;
                    var expr = ParseTuple(withCondExpr: true, explicitParens: false);
                    if (Cur.Kind != TokenKind.VariableEnd)
                    {
                        throw Fail($"Expected end of print statement ('}}}}'), got {Cur.Describe()}", Cur);
                    }
                    _i++;
                    body.Add(new OutputStmt(expr, t.Line, t.Column));
                    break;
                case TokenKind.BlockBegin:
                    var keyword = Peek();
                    if (keyword.Kind == TokenKind.Name && Array.IndexOf(endTags, keyword.Value) >= 0)
                    {
                        _i += 2;
                        endTag = keyword.Value;
                        return [.. body];
                    }
                    _i++;
                    body.Add(ParseStatement(t));
                    break;
                default:
                    throw Fail($"Unexpected {t.Describe()}", t);
            }
        }
    }

    private Stmt ParseStatement(Token begin)
    {
        var kw = Cur;
        if (kw.Kind != TokenKind.Name)
        {
            throw Fail($"Expected a statement keyword after '{{%', got {kw.Describe()}", kw);
        }
        Enter(kw);
        try
        {
            _i++;
            switch (kw.Value)
            {
                case "if":
                    return ParseIf(kw);
                case "for":
                    return ParseFor(kw);
                case "set":
                    return ParseSet(kw);
                case "macro":
                    return ParseMacro(kw);
                case "filter":
                    return ParseFilterBlock(kw);
                case "with":
                    return ParseWith(kw);
                case "generation":
                    ExpectBlockEnd();
                    var generated = ParseBody(["endgeneration"], out _);
                    ExpectBlockEnd();
                    return new GenerationStmt(generated, kw.Line, kw.Column);
                case "break":
                case "continue":
                    ExpectBlockEnd();
                    return new LoopControlStmt(kw.Value == "break" ? Flow.Break : Flow.Continue, kw.Line, kw.Column);
            }
            if (UnsupportedTags.Contains(kw.Value))
            {
                throw Fail($"Unsupported tag '{kw.Value}'", kw);
            }
            if (kw.Value.StartsWith("end", StringComparison.Ordinal) || kw.Value is "else" or "elif")
            {
                throw Fail($"Unexpected tag '{kw.Value}' with no open block to close", kw);
            }
            throw Fail($"Unknown tag '{kw.Value}'", kw);
        }
        finally
        {
            _depth--;
        }
    }

    private Stmt ParseIf(Token kw)
    {
        var branches = new List<(Expr, Stmt[])>();
        Stmt[]? otherwise = null;
        var test = ParseTuple(withCondExpr: false, explicitParens: false);
        ExpectBlockEnd();
        while (true)
        {
            var body = ParseBody(["elif", "else", "endif"], out var end);
            branches.Add((test, body));
            if (end == "elif")
            {
                test = ParseTuple(withCondExpr: false, explicitParens: false);
                ExpectBlockEnd();
                continue;
            }
            if (end == "else")
            {
                ExpectBlockEnd();
                otherwise = ParseBody(["endif"], out _);
            }
            ExpectBlockEnd();
            return new IfStmt([.. branches], otherwise, kw.Line, kw.Column);
        }
    }

    private Stmt ParseFor(Token kw)
    {
        var target = ParseAssignTarget(allowAttribute: false, stopAtIn: true);
        if (!SkipName("in"))
        {
            throw Fail($"Expected 'in' in for loop, got {Cur.Describe()}", Cur);
        }
        var iterable = ParseTuple(withCondExpr: false, explicitParens: false, extraEnd: "recursive");
        Expr? filter = null;
        if (SkipName("if"))
        {
            filter = ParseExpression(withCondExpr: true);
        }
        if (IsName("recursive"))
        {
            throw Fail("Unsupported construct 'recursive' for loop", Cur);
        }
        ExpectBlockEnd();
        var body = ParseBody(["endfor", "else"], out var end);
        Stmt[]? otherwise = null;
        if (end == "else")
        {
            ExpectBlockEnd();
            otherwise = ParseBody(["endfor"], out _);
        }
        ExpectBlockEnd();
        return new ForStmt(target, iterable, filter, body, otherwise, kw.Line, kw.Column);
    }

    private Stmt ParseSet(Token kw)
    {
        var target = ParseAssignTarget(allowAttribute: true, stopAtIn: false);
        if (SkipOp("="))
        {
            var value = ParseTuple(withCondExpr: true, explicitParens: false);
            ExpectBlockEnd();
            return new SetStmt(target, value, kw.Line, kw.Column);
        }
        var filters = ParseFilterChain();
        ExpectBlockEnd();
        var body = ParseBody(["endset"], out _);
        ExpectBlockEnd();
        return new SetBlockStmt(target, filters, body, kw.Line, kw.Column);
    }

    private Stmt ParseFilterBlock(Token kw)
    {
        var filters = ParseFilterChain(requireFirstPipe: false);
        if (filters.Length == 0)
        {
            throw Fail("Expected a filter name after 'filter'", Cur);
        }
        ExpectBlockEnd();
        var body = ParseBody(["endfilter"], out _);
        ExpectBlockEnd();
        return new FilterBlockStmt(filters, body, kw.Line, kw.Column);
    }

    private Stmt ParseWith(Token kw)
    {
        var assignments = new List<(Target, Expr)>();
        while (Cur.Kind != TokenKind.BlockEnd)
        {
            if (assignments.Count > 0)
            {
                ExpectOp(",");
            }
            var target = ParseAssignTarget(allowAttribute: false, stopAtIn: false);
            ExpectOp("=");
            assignments.Add((target, ParseExpression(withCondExpr: true)));
        }
        ExpectBlockEnd();
        var body = ParseBody(["endwith"], out _);
        ExpectBlockEnd();
        return new WithStmt([.. assignments], body, kw.Line, kw.Column);
    }

    private Stmt ParseMacro(Token kw)
    {
        var name = ExpectName();
        ExpectOp("(");
        var parameters = new List<string>();
        var defaults = new List<Expr?>();
        while (!IsOp(")"))
        {
            if (parameters.Count > 0)
            {
                ExpectOp(",");
                if (IsOp(")"))
                {
                    break;
                }
            }
            var p = ExpectName();
            parameters.Add(p.Value);
            if (SkipOp("="))
            {
                defaults.Add(ParseExpression(withCondExpr: true));
            }
            else
            {
                if (defaults.Count > 0 && defaults[^1] is not null)
                {
                    throw Fail($"Macro parameter '{p.Value}' without a default follows one with a default", p);
                }
                defaults.Add(null);
            }
        }
        ExpectOp(")");
        ExpectBlockEnd();
        var savedNames = _namesSeen;
        _namesSeen = [];
        var body = ParseBody(["endmacro"], out _);
        var used = _namesSeen;
        _namesSeen = savedNames;
        savedNames?.UnionWith(used);
        ExpectBlockEnd();
        var macro = new Macro(name.Value, [.. parameters], [.. defaults], body,
            used.Contains("varargs") && !parameters.Contains("varargs"),
            used.Contains("kwargs") && !parameters.Contains("kwargs"));
        return new MacroStmt(macro, kw.Line, kw.Column);
    }

    private Target ParseAssignTarget(bool allowAttribute, bool stopAtIn)
    {
        var first = Cur;
        var items = new List<Target>();
        bool isTuple = false;
        bool parens = SkipOp("(");
        while (true)
        {
            var n = ExpectName();
            if (allowAttribute && !parens && items.Count == 0 && SkipOp("."))
            {
                var attr = ExpectName();
                return new Target(n.Value, null, attr.Value, n.Line, n.Column);
            }
            items.Add(new Target(n.Value, null, null, n.Line, n.Column));
            if (!SkipOp(","))
            {
                break;
            }
            isTuple = true;
            if ((stopAtIn && IsName("in")) || IsOp("=") || IsOp(")"))
            {
                break;
            }
        }
        if (parens)
        {
            ExpectOp(")");
            isTuple = true;
        }
        return isTuple ? new Target(null, [.. items], null, first.Line, first.Column) : items[0];
    }

    private FilterExpr[] ParseFilterChain(bool requireFirstPipe = true)
    {
        var filters = new List<FilterExpr>();
        bool first = true;
        while (true)
        {
            if (!(first && !requireFirstPipe) && !SkipOp("|"))
            {
                break;
            }
            first = false;
            filters.Add(ParseFilterCall(null));
        }
        return [.. filters];
    }

    // ----- expressions -----

    private Expr ParseTuple(bool withCondExpr, bool explicitParens, string? extraEnd = null)
    {
        var start = Cur;
        var items = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0)
            {
                ExpectOp(",");
            }
            if (Cur.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd || IsOp(")") || (extraEnd is not null && IsName(extraEnd)))
            {
                break;
            }
            items.Add(ParseExpression(withCondExpr));
            if (IsOp(","))
            {
                isTuple = true;
            }
            else
            {
                break;
            }
        }
        if (!isTuple)
        {
            if (items.Count > 0)
            {
                return items[0];
            }
            if (!explicitParens)
            {
                throw Fail($"Expected an expression, got {Cur.Describe()}", Cur);
            }
        }
        return new TupleExpr([.. items], start.Line, start.Column);
    }

    private Expr ParseExpression(bool withCondExpr)
    {
        Enter(Cur);
        try
        {
            return withCondExpr ? ParseCondExpr() : ParseOr();
        }
        finally
        {
            _depth--;
        }
    }

    private Expr ParseCondExpr()
    {
        var start = Cur;
        var expr = ParseOr();
        while (SkipName("if"))
        {
            var test = ParseOr();
            Expr? otherwise = SkipName("else") ? ParseCondExpr() : null;
            expr = new CondExpr(test, expr, otherwise, start.Line, start.Column);
        }
        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (IsName("or"))
        {
            var op = Next();
            left = new OrExpr(left, ParseAnd(), op.Line, op.Column);
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (IsName("and"))
        {
            var op = Next();
            left = new AndExpr(left, ParseNot(), op.Line, op.Column);
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (IsName("not"))
        {
            var op = Next();
            Enter(op);
            try
            {
                return new NotExpr(ParseNot(), op.Line, op.Column);
            }
            finally
            {
                _depth--;
            }
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var start = Cur;
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Cur.Kind == TokenKind.Operator && Cur.Value is "==" or "!=" or "<" or "<=" or ">" or ">=")
            {
                var op = Next().Value;
                rest.Add((op, ParseMath1()));
            }
            else if (SkipName("in"))
            {
                rest.Add(("in", ParseMath1()));
            }
            else if (IsName("not") && Peek().Kind == TokenKind.Name && Peek().Value == "in")
            {
                _i += 2;
                rest.Add(("not in", ParseMath1()));
            }
            else
            {
                break;
            }
        }
        return rest.Count == 0 ? first : new CompareExpr(first, [.. rest], start.Line, start.Column);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Cur.Kind == TokenKind.Operator && Cur.Value is "+" or "-")
        {
            var op = Next();
            left = new BinaryExpr(op.Value, left, ParseConcat(), op.Line, op.Column);
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var start = Cur;
        var parts = new List<Expr> { ParseMath2() };
        while (SkipOp("~"))
        {
            parts.Add(ParseMath2());
        }
        return parts.Count == 1 ? parts[0] : new ConcatExpr([.. parts], start.Line, start.Column);
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Cur.Kind == TokenKind.Operator && Cur.Value is "*" or "/" or "//" or "%")
        {
            var op = Next();
            left = new BinaryExpr(op.Value, left, ParsePow(), op.Line, op.Column);
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (IsOp("**"))
        {
            var op = Next();
            left = new BinaryExpr("**", left, ParseUnary(withFilter: true), op.Line, op.Column);
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        var t = Cur;
        Expr node;
        if (IsOp("-") || IsOp("+"))
        {
            _i++;
            Enter(t);
            try
            {
                node = new NegExpr(ParseUnary(withFilter: false), t.Value == "-", t.Line, t.Column);
            }
            finally
            {
                _depth--;
            }
        }
        else
        {
            node = ParsePrimary();
        }
        node = ParsePostfix(node);
        return withFilter ? ParseFilterExpr(node) : node;
    }

    private Expr ParsePrimary()
    {
        var t = Cur;
        switch (t.Kind)
        {
            case TokenKind.Name:
                _i++;
                switch (t.Value)
                {
                    case "true" or "True":
                        return new ConstExpr(true, t.Line, t.Column);
                    case "false" or "False":
                        return new ConstExpr(false, t.Line, t.Column);
                    case "none" or "None":
                        return new ConstExpr(null, t.Line, t.Column);
                }
                _namesSeen?.Add(t.Value);
                return new NameExpr(t.Value, t.Line, t.Column);
            case TokenKind.String:
                _i++;
                var text = (string)t.Literal!;
                while (Cur.Kind == TokenKind.String)
                {
                    text += (string)Next().Literal!;
                }
                return new ConstExpr(text, t.Line, t.Column);
            case TokenKind.Integer:
            case TokenKind.Float:
                _i++;
                return new ConstExpr(t.Literal, t.Line, t.Column);
            case TokenKind.Operator when t.Value == "(":
                _i++;
                var inner = ParseTuple(withCondExpr: true, explicitParens: true);
                ExpectOp(")");
                return inner;
            case TokenKind.Operator when t.Value == "[":
                _i++;
                var items = new List<Expr>();
                while (!IsOp("]"))
                {
                    if (items.Count > 0)
                    {
                        ExpectOp(",");
                        if (IsOp("]"))
                        {
                            break;
                        }
                    }
                    items.Add(ParseExpression(withCondExpr: true));
                }
                ExpectOp("]");
                return new ListExpr([.. items], t.Line, t.Column);
            case TokenKind.Operator when t.Value == "{":
                _i++;
                var pairs = new List<(Expr, Expr)>();
                while (!IsOp("}"))
                {
                    if (pairs.Count > 0)
                    {
                        ExpectOp(",");
                        if (IsOp("}"))
                        {
                            break;
                        }
                    }
                    var key = ParseExpression(withCondExpr: true);
                    ExpectOp(":");
                    pairs.Add((key, ParseExpression(withCondExpr: true)));
                }
                ExpectOp("}");
                return new DictExpr([.. pairs], t.Line, t.Column);
            default:
                throw Fail($"Unexpected {t.Describe()}", t);
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var t = Cur;
            if (IsOp("."))
            {
                _i++;
                var attr = Cur;
                if (attr.Kind == TokenKind.Name)
                {
                    _i++;
                    node = new GetAttrExpr(node, attr.Value, t.Line, t.Column);
                }
                else if (attr.Kind == TokenKind.Integer)
                {
                    _i++;
                    node = new GetItemExpr(node, new ConstExpr(attr.Literal, attr.Line, attr.Column), t.Line, t.Column);
                }
                else
                {
                    throw Fail($"Expected a name or number after '.', got {attr.Describe()}", attr);
                }
            }
            else if (IsOp("["))
            {
                _i++;
                node = ParseSubscript(node, t);
            }
            else if (IsOp("("))
            {
                node = new CallExpr(node, ParseCallArgs(), t.Line, t.Column);
            }
            else
            {
                return node;
            }
        }
    }

    private Expr ParseSubscript(Expr node, Token bracket)
    {
        Expr? ParseSliceBound() => IsOp(":") || IsOp("]") || IsOp(",") ? null : ParseExpression(withCondExpr: true);
        var start = ParseSliceBound();
        if (SkipOp(":"))
        {
            var stop = ParseSliceBound();
            Expr? step = null;
            if (SkipOp(":"))
            {
                step = ParseSliceBound();
            }
            ExpectOp("]");
            return new SliceExpr(node, start, stop, step, bracket.Line, bracket.Column);
        }
        if (start is null)
        {
            throw Fail($"Expected an index or slice, got {Cur.Describe()}", Cur);
        }
        if (IsOp(","))
        {
            var items = new List<Expr> { start };
            while (SkipOp(","))
            {
                if (IsOp("]"))
                {
                    break;
                }
                items.Add(ParseExpression(withCondExpr: true));
            }
            start = new TupleExpr([.. items], bracket.Line, bracket.Column);
        }
        ExpectOp("]");
        return new GetItemExpr(node, start, bracket.Line, bracket.Column);
    }

    private CallArguments ParseCallArgs()
    {
        ExpectOp("(");
        var positional = new List<Expr>();
        var named = new List<(string, Expr)>();
        while (!IsOp(")"))
        {
            if (positional.Count + named.Count > 0)
            {
                ExpectOp(",");
                if (IsOp(")"))
                {
                    break;
                }
            }
            if (IsOp("*") || IsOp("**"))
            {
                throw Fail($"Unsupported construct '{Cur.Value}' argument unpacking in a call", Cur);
            }
            if (Cur.Kind == TokenKind.Name && Peek().Kind == TokenKind.Operator && Peek().Value == "=")
            {
                var key = Next();
                _i++;
                if (named.Exists(n => n.Item1 == key.Value))
                {
                    throw Fail($"Keyword argument '{key.Value}' repeated", key);
                }
                named.Add((key.Value, ParseExpression(withCondExpr: true)));
            }
            else
            {
                if (named.Count > 0)
                {
                    throw Fail("Positional argument follows keyword argument", Cur);
                }
                positional.Add(ParseExpression(withCondExpr: true));
            }
        }
        ExpectOp(")");
        return new CallArguments([.. positional], [.. named]);
    }

    private Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            if (IsOp("|"))
            {
                _i++;
                node = ParseFilterCall(node);
            }
            else if (IsName("is"))
            {
                node = ParseTest(node);
            }
            else if (IsOp("("))
            {
                var t = Cur;
                node = new CallExpr(node, ParseCallArgs(), t.Line, t.Column);
            }
            else
            {
                return node;
            }
        }
    }

    private FilterExpr ParseFilterCall(Expr? input)
    {
        var nameTok = ExpectName();
        var name = nameTok.Value;
        while (IsOp(".") && Peek().Kind == TokenKind.Name)
        {
            _i++;
            name += "." + Next().Value;
        }
        if (!Filters.Exists(name))
        {
            throw Fail(UnsupportedJinjaFilters.Contains(name)
                ? $"Unsupported filter '{name}'"
                : $"No filter named '{name}' (unsupported or unknown filter)", nameTok);
        }
        var args = IsOp("(") ? ParseCallArgs() : CallArguments.None;
        return new FilterExpr(input, name, args, nameTok.Line, nameTok.Column);
    }

    private Expr ParseTest(Expr node)
    {
        var isTok = Next();
        bool negated = SkipName("not");
        var nameTok = ExpectName();
        var name = nameTok.Value;
        while (IsOp(".") && Peek().Kind == TokenKind.Name)
        {
            _i++;
            name += "." + Next().Value;
        }
        if (!TemplateTests.Exists(name))
        {
            throw Fail($"No test named '{name}' (unsupported or unknown test)", nameTok);
        }
        CallArguments args;
        if (IsOp("("))
        {
            args = ParseCallArgs();
        }
        else if ((Cur.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float || IsOp("[") || IsOp("{"))
            && !(IsName("else") || IsName("or") || IsName("and")))
        {
            if (IsName("is"))
            {
                throw Fail("You cannot chain multiple tests with is", Cur);
            }
            var arg = ParsePostfix(ParsePrimary());
            args = new CallArguments([arg], []);
        }
        else
        {
            args = CallArguments.None;
        }
        Expr test = new TestExpr(node, name, args, nameTok.Line, nameTok.Column);
        return negated ? new NotExpr(test, isTok.Line, isTok.Column) : test;
    }
}
