namespace PeftSharp.Text.Templates;

/// <summary>
/// A parsed Jinja chat template, rendered the way Hugging Face <c>transformers</c> renders
/// <c>chat_template</c> with Python Jinja2 3.1: <c>trim_blocks</c> and <c>lstrip_blocks</c> on, the template's
/// final newline dropped, <c>raise_exception</c>, <c>strftime_now</c>, loop controls, <c>{% generation %}</c>,
/// and <c>tojson</c> as <c>json.dumps(x, ensure_ascii=False)</c>. Parse once; <see cref="Render"/> is thread-safe.
/// </summary>
public sealed class ChatTemplate
{
    private readonly Stmt[] _body;

    private ChatTemplate(string source, Stmt[] body, long maxLoopIterations)
    {
        Source = source;
        _body = body;
        MaxLoopIterations = maxLoopIterations;
    }

    /// <summary>Default for <see cref="MaxLoopIterations"/>.</summary>
    public const long DefaultMaxLoopIterations = 10_000_000;

    /// <summary>The template text as given.</summary>
    public string Source { get; }

    /// <summary>Upper bound on loop iterations in one render, so a hostile template cannot run forever.</summary>
    public long MaxLoopIterations { get; }

    /// <summary>The same parsed template with another loop-iteration budget.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxLoopIterations"/> is not positive.</exception>
    public ChatTemplate WithMaxLoopIterations(long maxLoopIterations)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLoopIterations);
        return new ChatTemplate(Source, _body, maxLoopIterations);
    }

    /// <summary>Parses a template.</summary>
    /// <exception cref="TemplateSyntaxException">Malformed template, or a construct this engine does not support; the message names it and its line and column.</exception>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var tokens = Lexer.Tokenize(Lexer.Normalize(source));
        return new ChatTemplate(source, Parser.Parse(tokens), DefaultMaxLoopIterations);
    }

    /// <summary>
    /// Renders with the given variables. Values may be null, bool, integers, floating-point numbers, strings,
    /// dictionaries (string keys), sequences, or System.Text.Json <c>JsonElement</c>/<c>JsonNode</c> values; JSON
    /// objects keep their key order (it shows in <c>tojson</c> output).
    /// </summary>
    /// <param name="context">Template variables.</param>
    /// <param name="clock">Time source for <c>strftime_now</c>; the system clock when null.</param>
    /// <exception cref="TemplateRaisedException">The template called <c>raise_exception(message)</c>.</exception>
    /// <exception cref="TemplateRuntimeException">An operation failed (undefined value used, wrong type, limit exceeded); the message gives the position.</exception>
    /// <exception cref="ArgumentException">A context value has a type that cannot be converted.</exception>
    public string Render(IEnumerable<KeyValuePair<string, object?>> context, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        var contextScope = new Scope(Globals.Create());
        foreach (var (name, value) in context)
        {
            contextScope.Set(name, ValueConverter.From(value, name));
        }
        var state = new RenderState(new Scope(contextScope), clock ?? TimeProvider.System, MaxLoopIterations);
        Stmt.RunAll(_body, state);
        return state.Output.ToString();
    }

    /// <summary>
    /// Builds the context as <c>transformers</c>' <c>apply_chat_template</c> does and renders: <c>messages</c>,
    /// <c>add_generation_prompt</c>, <c>tools</c> (null unless given in <paramref name="extraContext"/>),
    /// <c>documents</c> (null), the non-empty special tokens the config sets (<c>bos_token</c>, <c>eos_token</c>, ...,
    /// and <c>additional_special_tokens</c> as a list when present), then
    /// <paramref name="extraContext"/>. The template is chosen by <paramref name="templateName"/>; without one, a
    /// config with named templates uses "tool_use" when tools are given and such a template exists, else "default".
    /// </summary>
    /// <param name="config">The tokenizer config holding the template and special tokens.</param>
    /// <param name="messages">The conversation: a JSON array (JsonElement/JsonNode) or a sequence of dictionaries.</param>
    /// <param name="addGenerationPrompt">Value of the template variable <c>add_generation_prompt</c>.</param>
    /// <param name="extraContext">Further variables (<c>tools</c>, <c>enable_thinking</c>, ...); they override the defaults.</param>
    /// <param name="templateName">Which named template to use; null for the default choice.</param>
    /// <param name="clock">Time source for <c>strftime_now</c>; the system clock when null.</param>
    /// <exception cref="InvalidOperationException">The config has no chat template, or not the one requested.</exception>
    public static string ApplyChatTemplate(
        TokenizerConfig config,
        object messages,
        bool addGenerationPrompt,
        IEnumerable<KeyValuePair<string, object?>>? extraContext = null,
        string? templateName = null,
        TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(messages);
        var extra = extraContext?.ToList() ?? [];
        bool hasTools = extra.Exists(kv => kv.Key == "tools" && kv.Value is not null);
        if (templateName is null && hasTools && config.ChatTemplates.ContainsKey("tool_use") && config.ChatTemplates.Count > 1)
        {
            templateName = "tool_use";
        }
        var template = config.GetParsedChatTemplate(templateName);
        return template.Render(BuildContext(config, messages, addGenerationPrompt, extra), clock);
    }

    /// <summary>The render context <see cref="ApplyChatTemplate"/> uses, in order (later entries override earlier ones).</summary>
    public static List<KeyValuePair<string, object?>> BuildContext(
        TokenizerConfig config, object messages, bool addGenerationPrompt, IEnumerable<KeyValuePair<string, object?>>? extraContext = null)
    {
        var context = new List<KeyValuePair<string, object?>>
        {
            new("messages", messages),
            new("add_generation_prompt", addGenerationPrompt),
            new("tools", null),
            new("documents", null),
        };
        // transformers passes special_tokens_map: every set, non-empty special token, plus the additional ones.
        foreach (var (name, token) in config.SpecialTokens)
        {
            if (token.Length > 0)
            {
                context.Add(new(name, token));
            }
        }
        if (config.AdditionalSpecialTokens.Count > 0)
        {
            context.Add(new("additional_special_tokens", config.AdditionalSpecialTokens.ToList()));
        }
        if (extraContext is not null)
        {
            context.AddRange(extraContext);
        }
        return context;
    }
}
