using PeftSharp.Text.Templates;
using PeftSharp.Text.Tokenization;

namespace PeftSharp.Training.Data;

/// <summary>
/// Renders conversations with the chat template and finds which tokens are assistant output.
/// <para>
/// The span of assistant message i is found by rendering the conversation twice: as it is (R), and with the message's
/// content wrapped in two private-use marker characters that occur nowhere else (R′). Everything before the first
/// difference and after the last one is template text shared by both renders, so the differing stretch of R is exactly
/// what the template made of that content (after any <c>trim</c> or similar). Templates that drop the opening marker
/// (e.g. by splitting reasoning off the content) are handled by a second render with the content replaced by one
/// marker. Tokens overlapping the span are labelled, then the template's end-of-turn token: the first special added
/// token after the span, when only whitespace separates them.
/// </para>
/// </summary>
internal sealed class ChatMasker
{
    private readonly Tokenizer _tokenizer;
    private readonly TokenizerConfig _config;
    private readonly TokenizationOptions _options;
    private readonly TimeProvider _clock;

    public ChatMasker(Tokenizer tokenizer, TokenizerConfig config, TokenizationOptions options)
    {
        _tokenizer = tokenizer;
        _config = config;
        _options = options;
        // Every render of one run sees the same time, so templates that print the date render identically.
        _clock = new FixedClock(DateTimeOffset.UtcNow);
    }

    public (int[] Ids, int[] Labels) Tokenize(ChatRecord record)
    {
        string rendered = Render(record, record.Messages, -1, null);
        var spans = new List<(int Start, int End)>();
        var (open, close) = PickMarkers(record, rendered);
        for (int i = 0; i < record.Messages.Count; i++)
        {
            if (_options.AssistantRoles.Contains(record.Messages[i].Role) && FindSpan(record, rendered, i, open, close) is { } span)
            {
                spans.Add(span);
            }
        }
        var encoding = _tokenizer.Encode(rendered, addSpecialTokens: false);
        var ids = encoding.Ids.ToArray();
        var labels = new int[ids.Length];
        Array.Fill(labels, ExampleTokenizer.IgnoreIndex);
        var offsets = encoding.Offsets;
        int k = 0;
        foreach (var (start, end) in spans)
        {
            // Tokens that overlap the content.
            while (k < ids.Length && offsets[k].End <= start)
            {
                k++;
            }
            while (k < ids.Length && offsets[k].Start < end)
            {
                labels[k] = ids[k];
                k++;
            }
            // Whitespace, then the end-of-turn special token.
            int j = k;
            while (j < ids.Length)
            {
                if (_tokenizer.AddedTokens.TryGetValue(ids[j], out var added) && added.Special)
                {
                    for (int t = k; t <= j; t++)
                    {
                        labels[t] = ids[t];
                    }
                    k = j + 1;
                    break;
                }
                if (!IsWhitespace(rendered, offsets[j]))
                {
                    break;
                }
                j++;
            }
        }
        return (ids, labels);
    }

    private (int Start, int End)? FindSpan(ChatRecord record, string rendered, int index, char open, char close)
    {
        string content = record.Messages[index].Content;
        string wrapped = Render(record, record.Messages, index, open + content + close);
        if (Count(wrapped, open) == 1 && Count(wrapped, close) == 1)
        {
            var (start, end, wStart, wEnd) = Diff(rendered, wrapped);
            if (wEnd - wStart >= 2 && wrapped[wStart] == open && wrapped[wEnd - 1] == close)
            {
                return (start, end);
            }
        }
        string replaced = Render(record, record.Messages, index, open.ToString());
        int n = Count(replaced, open);
        if (n == 0 && replaced == rendered)
        {
            return null; // The template does not show this message.
        }
        if (n == 1)
        {
            var (start, end, _, _) = Diff(rendered, replaced);
            return (start, end);
        }
        throw new DataFormatException(record.Source, record.Line,
            $"the chat template shows the content of messages[{index}] {(n == 0 ? "in a transformed form" : $"{n} times")}, so its tokens cannot be told apart for the loss mask");
    }

    /// <summary>The stretch where two strings differ: [start, end) in <paramref name="a"/> and [bStart, bEnd) in <paramref name="b"/>.</summary>
    private static (int Start, int End, int BStart, int BEnd) Diff(string a, string b)
    {
        int p = 0;
        int limit = Math.Min(a.Length, b.Length);
        while (p < limit && a[p] == b[p])
        {
            p++;
        }
        int s = 0;
        while (s < limit - p && a[a.Length - 1 - s] == b[b.Length - 1 - s])
        {
            s++;
        }
        return (p, a.Length - s, p, b.Length - s);
    }

    private string Render(ChatRecord record, IReadOnlyList<ChatMessage> messages, int replaceIndex, string? replacement)
    {
        var list = new List<Dictionary<string, object?>>(messages.Count);
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            var d = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["role"] = m.Role,
                ["content"] = i == replaceIndex ? replacement : m.Content,
            };
            if (m.Extra is not null)
            {
                foreach (var (key, value) in m.Extra)
                {
                    d[key] = value;
                }
            }
            list.Add(d);
        }
        try
        {
            return ChatTemplate.ApplyChatTemplate(_config, list, addGenerationPrompt: false, _options.ChatTemplateContext, _options.ChatTemplateName, _clock);
        }
        catch (TemplateRaisedException e)
        {
            throw new DataFormatException(record.Source, record.Line, $"the chat template rejected the conversation: {e.Message}", e);
        }
        catch (TemplateRuntimeException e)
        {
            throw new DataFormatException(record.Source, record.Line, $"the chat template failed on the conversation: {e.Message}", e);
        }
    }

    /// <summary>Two private-use characters found in no message and not in the render.</summary>
    private static (char Open, char Close) PickMarkers(ChatRecord record, string rendered)
    {
        for (char c = '\uE000'; c < '\uF8FE'; c += (char)2)
        {
            char d = (char)(c + 1);
            if (!rendered.Contains(c) && !rendered.Contains(d)
                && !record.Messages.Any(m => m.Content.Contains(c) || m.Content.Contains(d) || m.Role.Contains(c) || m.Role.Contains(d)))
            {
                return (c, d);
            }
        }
        throw new DataFormatException(record.Source, record.Line, "the conversation uses every private-use character; cannot build the loss mask");
    }

    private static int Count(string s, char c)
    {
        int n = 0;
        foreach (char x in s)
        {
            if (x == c)
            {
                n++;
            }
        }
        return n;
    }

    private static bool IsWhitespace(string s, (int Start, int End) range)
    {
        if (range.End <= range.Start)
        {
            return false;
        }
        for (int i = range.Start; i < range.End; i++)
        {
            if (!char.IsWhiteSpace(s[i]))
            {
                return false;
            }
        }
        return true;
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
