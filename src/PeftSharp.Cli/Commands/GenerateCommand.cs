using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using PeftSharp.Models;
using PeftSharp.Models.Generation;
using PeftSharp.Tensors;
using PeftSharp.Text.Templates;
using PeftSharp.Text.Tokenization;
using PeftSharp.Training.FineTuning;

namespace PeftSharp.Cli.Commands;

/// <summary>
/// <c>peft generate</c>: loads a Hugging Face model folder and its tokenizer, continues one prompt and streams the text
/// (or prints one JSON line with <c>--json</c>).
/// </summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder: config.json and *.safetensors (and tokenizer.json unless --tokenizer is given).", Required = true };
        var adapters = new Option<string[]>("--adapter") { Description = "Adapter folder (adapter_config.json + adapter_model.safetensors); repeatable." };
        var tokenizer = new Option<string>("--tokenizer") { Description = "Folder holding tokenizer.json (default: the model folder)." };
        var prompt = new Option<string>("--prompt") { Description = "The text to continue.", Required = true };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Upper bound on generated tokens.", DefaultValueFactory = _ => 64 };
        var greedy = new Option<bool>("--greedy") { Description = "Arg-max decoding (the default when no sampling option is given)." };
        var temperature = new Option<float?>("--temperature") { Description = "Sample with this temperature." };
        var topP = new Option<float?>("--top-p") { Description = "Sample from the smallest set of tokens with probability ≥ P." };
        var topK = new Option<int?>("--top-k") { Description = "Sample from the K most likely tokens." };
        var seed = new Option<ulong?>("--seed") { Description = "Seed of the sampling stream (default 0)." };
        var penalty = new Option<float>("--repetition-penalty") { Description = "transformers' repetition penalty (1 = off).", DefaultValueFactory = _ => 1f };
        var stops = new Option<string[]>("--stop") { Description = "Stop when the generated text contains this string (cut from the output); repeatable." };
        var chat = new Option<bool>("--chat") { Description = "Wrap the prompt as a user message with the tokenizer's chat template." };
        var weights = new Option<string>("--weights") { Description = "Storage of frozen matrix weights: f32 (default) or bf16.", DefaultValueFactory = _ => "f32" };
        var json = new Option<bool>("--json") { Description = "Print one JSON line {\"prompt_ids\", \"generated_ids\", \"text\"} instead of streaming text." };

        var command = new Command("generate", "Continue a prompt with a causal language model (greedy or sampled), streaming the text.");
        foreach (Option option in new Option[] { model, adapters, tokenizer, prompt, maxNew, greedy, temperature, topP, topK, seed, penalty, stops, chat, weights, json })
        {
            command.Options.Add(option);
        }
        command.SetAction(parse =>
        {
            try
            {
                var request = new GenerateRequest(
                    parse.GetValue(model)!, parse.GetValue(adapters) ?? [], parse.GetValue(tokenizer), parse.GetValue(prompt)!,
                    parse.GetValue(maxNew), parse.GetValue(greedy), parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(topK),
                    parse.GetValue(seed), parse.GetValue(penalty), parse.GetValue(stops) ?? [], parse.GetValue(chat), parse.GetValue(weights) ?? "f32",
                    parse.GetValue(json));
                return Run(request);
            }
            catch (UsageException e)
            {
                Console.Error.WriteLine(e.Message);
                return 2;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or TokenizerFormatException
                or ArgumentException or InvalidOperationException or UnauthorizedAccessException or FormatException)
            {
                Console.Error.WriteLine($"peft generate: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private sealed record GenerateRequest(string Model, string[] Adapters, string? Tokenizer, string Prompt, int MaxNewTokens, bool Greedy,
        float? Temperature, float? TopP, int? TopK, ulong? Seed, float RepetitionPenalty, string[] Stops, bool Chat, string Weights, bool Json);

    private sealed class UsageException(string message) : Exception(message);

    private static int Run(GenerateRequest r)
    {
        bool sampling = r.Temperature is not null || r.TopP is not null || r.TopK is not null || r.Seed is not null;
        if (r.Greedy && sampling)
        {
            throw new UsageException("--greedy cannot be combined with --temperature, --top-p, --top-k or --seed.");
        }
        if (r.MaxNewTokens < 0)
        {
            throw new UsageException($"--max-new-tokens must be non-negative; got {r.MaxNewTokens}.");
        }
        var dtype = r.Weights switch
        {
            "f32" => DType.F32,
            "bf16" => DType.BF16,
            _ => throw new UsageException($"--weights: '{r.Weights}' is not f32 or bf16."),
        };
        if (!Directory.Exists(r.Model))
        {
            throw new UsageException($"--model: the folder '{r.Model}' does not exist.");
        }
        string tokenizerDir = r.Tokenizer ?? r.Model;
        if (!File.Exists(Path.Combine(tokenizerDir, "tokenizer.json")))
        {
            throw new UsageException(r.Tokenizer is null
                ? $"--model: '{r.Model}' has no tokenizer.json; pass --tokenizer DIR."
                : $"--tokenizer: '{r.Tokenizer}' has no tokenizer.json.");
        }
        var loaded = AutoModel.FromPretrained(r.Model, new LoadOptions { WeightsDType = dtype });
        if (loaded is not CausalLanguageModel lm)
        {
            throw new UsageException($"--model: '{r.Model}' holds a {loaded.ArchitectureName}, not a causal language model.");
        }
        lm.RequiresGrad(false);
        lm = ApplyAdapters(lm, r.Adapters);
        var tok = Tokenizer.FromDirectory(tokenizerDir);

        int[] promptIds;
        if (r.Chat)
        {
            var configPath = Path.Combine(tokenizerDir, "tokenizer_config.json");
            if (!File.Exists(configPath))
            {
                throw new UsageException($"--chat: '{tokenizerDir}' has no tokenizer_config.json with a chat template.");
            }
            var messages = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = r.Prompt });
            var text = ChatTemplate.ApplyChatTemplate(PeftSharp.Text.Templates.TokenizerConfig.Load(configPath), messages, addGenerationPrompt: true);
            // The template already writes the special tokens (BOS), as transformers' apply_chat_template assumes.
            promptIds = [.. tok.Encode(text, addSpecialTokens: false).Ids];
        }
        else
        {
            promptIds = [.. tok.Encode(r.Prompt).Ids];
        }
        if (promptIds.Length == 0)
        {
            throw new UsageException("--prompt: the prompt encodes to no tokens.");
        }

        string Decode(IReadOnlyList<int> ids) => tok.Decode(ids, skipSpecialTokens: true);
        var options = new GenerationOptions
        {
            MaxNewTokens = r.MaxNewTokens,
            Greedy = !sampling,
            Temperature = r.Temperature ?? 1f,
            TopP = r.TopP ?? 1f,
            TopK = r.TopK ?? 0,
            Seed = r.Seed ?? 0,
            RepetitionPenalty = r.RepetitionPenalty,
            EosTokenIds = EosIds(lm, r.Model, tok, tokenizerDir),
            StopStrings = r.Stops,
            Decode = Decode,
        };

        if (r.Json)
        {
            var result = Generator.Generate(lm, [promptIds], options)[0];
            using var stream = Console.OpenStandardOutput();
            using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                writer.WriteStartObject();
                writer.WriteStartArray("prompt_ids");
                foreach (int id in promptIds)
                {
                    writer.WriteNumberValue(id);
                }
                writer.WriteEndArray();
                writer.WriteStartArray("generated_ids");
                foreach (int id in result.Tokens)
                {
                    writer.WriteNumberValue(id);
                }
                writer.WriteEndArray();
                writer.WriteString("text", result.Text ?? Decode(result.Tokens));
                writer.WriteEndObject();
            }
            stream.WriteByte((byte)'\n');
            return 0;
        }

        var stream2 = new TextStreamer(Decode, r.Stops);
        var output = Generator.Generate(lm, [promptIds], options, (_, token) => Console.Out.Write(stream2.Add(token)))[0];
        Console.Out.Write(stream2.Finish(output.Text ?? ""));
        Console.Out.WriteLine();
        return 0;
    }

    /// <summary>
    /// Attaches the adapters (frozen, all active so their updates add) to the base model. The adapter layers replace
    /// modules inside <paramref name="model"/>, so the same model object now computes the adapted outputs.
    /// </summary>
    private static CausalLanguageModel ApplyAdapters(CausalLanguageModel model, IReadOnlyList<string> adapterDirs)
    {
        try
        {
            ModelFolder.AttachAdapters(model, adapterDirs);
        }
        catch (FineTuneException e)
        {
            throw new UsageException("--" + e.Message);
        }
        return model;
    }

    /// <summary>EOS ids: config.json's, generation_config.json's, and the tokenizer config's eos_token.</summary>
    private static int[] EosIds(CausalLanguageModel model, string modelDir, Tokenizer tok, string tokenizerDir)
    {
        var ids = new SortedSet<int>(model.EosTokenIds);
        var generationConfig = Path.Combine(modelDir, "generation_config.json");
        if (File.Exists(generationConfig))
        {
            var config = HfConfig.Parse(File.ReadAllText(generationConfig), generationConfig);
            ids.UnionWith(config.GetIntList("eos_token_id"));
        }
        var tokenizerConfig = Path.Combine(tokenizerDir, "tokenizer_config.json");
        if (File.Exists(tokenizerConfig) && PeftSharp.Text.Templates.TokenizerConfig.Load(tokenizerConfig).EosToken is { } eos && tok.TokenToId(eos) is int id)
        {
            ids.Add(id);
        }
        ids.RemoveWhere(i => i < 0 || i >= model.VocabSize);
        return [.. ids];
    }

    /// <summary>
    /// Turns a growing list of ids into printable increments: the text is re-decoded as a whole (pieces such as
    /// multi-byte characters only resolve with their neighbours), an unfinished character (U+FFFD at the end) is held
    /// back, and so is any tail that could begin a stop string, so a stop string never reaches the console.
    /// </summary>
    private sealed class TextStreamer(Func<IReadOnlyList<int>, string> decode, IReadOnlyList<string> stops)
    {
        private readonly List<int> _ids = new();
        private int _printed;

        public string Add(int token)
        {
            _ids.Add(token);
            string text = decode(_ids);
            int safe = text.Length;
            while (safe > _printed && text[safe - 1] == '\uFFFD')
            {
                safe--;
            }
            foreach (var s in stops)
            {
                int at = text.IndexOf(s, StringComparison.Ordinal);
                if (at >= 0)
                {
                    safe = Math.Min(safe, at);
                }
                for (int k = Math.Min(s.Length - 1, text.Length); k > 0; k--)
                {
                    if (text.AsSpan(text.Length - k).SequenceEqual(s.AsSpan(0, k)))
                    {
                        safe = Math.Min(safe, text.Length - k);
                        break;
                    }
                }
            }
            if (safe <= _printed)
            {
                return "";
            }
            var piece = text[_printed..safe];
            _printed = safe;
            return piece;
        }

        /// <summary>The rest of the final text (already cut at any stop string).</summary>
        public string Finish(string finalText) => finalText.Length > _printed ? finalText[_printed..] : "";
    }
}
