using System.CommandLine;
using PeftSharp.Cli.Commands;
using PeftSharp.Models;
using PeftSharp.Tensors;
using PeftSharp.Text.Tokenization;
using Spectre.Console;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace PeftSharp.Cli.Tests;

/// <summary>What one in-process <c>peft</c> invocation printed and returned.</summary>
public sealed record CliRun(int ExitCode, string Output, string Error)
{
    public string All => Output + Error;
}

/// <summary>
/// Runs the <c>peft</c> command tree in-process with stdout, stderr and the Spectre console captured (tests run one at
/// a time because the console is process-wide), and builds tiny model folders whose vocabulary fits a fixture tokenizer.
/// </summary>
public static class CliHarness
{
    public static CliRun Run(params string[] args) => Run(args, null);

    /// <summary>Runs with <paramref name="onOutput"/> seeing every line printed (it may cancel the token it is given).</summary>
    public static CliRun Run(string[] args, Action<string, CancellationTokenSource>? onOutput)
    {
        using var cts = new CancellationTokenSource();
        var output = new WatchingWriter(line => onOutput?.Invoke(line, cts));
        var error = new StringWriter();
        var (oldOut, oldErr, oldAnsi) = (Console.Out, Console.Error, AnsiConsole.Console);
        Console.SetOut(output);
        Console.SetError(error);
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        try
        {
            var root = new RootCommand("peft");
            foreach (var command in CommandCatalog.All())
            {
                root.Subcommands.Add(command);
            }
            int code = root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cts.Token).GetAwaiter().GetResult();
            return new CliRun(code, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
            AnsiConsole.Console = oldAnsi;
        }
    }

    private sealed class WatchingWriter(Action<string> onLine) : StringWriter
    {
        private readonly System.Text.StringBuilder _line = new();

        public override void Write(char value)
        {
            base.Write(value);
            if (value == '\n')
            {
                onLine(_line.ToString());
                _line.Clear();
            }
            else
            {
                _line.Append(value);
            }
        }

        public override void Write(string? value)
        {
            foreach (var ch in value ?? "")
            {
                Write(ch);
            }
        }

        public override void Write(char[] buffer, int index, int count)
        {
            for (int i = 0; i < count; i++)
            {
                Write(buffer[index + i]);
            }
        }

        public override void WriteLine(string? value)
        {
            Write(value);
            Write('\n');
        }
    }

    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PeftSharp.slnx")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("PeftSharp.slnx not found above the test folder.");
    }

    public static string TokenizerFixture(string name) => Path.Combine(RepoRoot(), "tests", "fixtures", "tokenizers", name);

    /// <summary>A new empty temporary folder.</summary>
    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "peftsharp-cli-tests", name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static readonly Lazy<string> LlamaFolder = new(() => BuildLlama(TempDir("tiny-llama")));
    private static readonly Lazy<string> BertFolder = new(() => BuildBert(TempDir("tiny-bert")));

    /// <summary>A tiny Llama (2 layers, hidden 32) with the synthetic GPT-2 tokenizer, built once per test run.</summary>
    public static string TinyLlama => LlamaFolder.Value;

    /// <summary>A tiny BertForSequenceClassification (2 layers, hidden 32, 3 labels) with the synthetic WordPiece tokenizer.</summary>
    public static string TinyBert => BertFolder.Value;

    private static string BuildLlama(string dir)
    {
        var tokenizerDir = TokenizerFixture("synthetic-gpt2");
        var tok = Tokenizer.FromDirectory(tokenizerDir);
        int eos = tok.TokenToId("<|endoftext|>") ?? throw new InvalidOperationException("no <|endoftext|>");
        var config = HfConfig.Parse($$"""
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": {{tok.VocabSize}}, "hidden_size": 32,
             "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 128, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "hidden_act": "silu",
             "tie_word_embeddings": false, "attention_bias": false, "mlp_bias": false, "bos_token_id": {{eos}}, "eos_token_id": {{eos}},
             "torch_dtype": "float32"}
            """);
        var model = new PeftSharp.Models.Llama.LlamaForCausalLM(config, new Rng(1));
        AutoModel.SavePretrained(model, dir);
        CopyTokenizer(tokenizerDir, dir);
        return dir;
    }

    private static string BuildBert(string dir)
    {
        var tokenizerDir = TokenizerFixture("synthetic-wordpiece");
        var tok = Tokenizer.FromDirectory(tokenizerDir);
        var config = HfConfig.Parse($$"""
            {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "vocab_size": {{tok.VocabSize}}, "hidden_size": 32,
             "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 64,
             "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "pad_token_id": 0,
             "id2label": {"0": "negative", "1": "neutral", "2": "positive"}, "label2id": {"negative": 0, "neutral": 1, "positive": 2},
             "torch_dtype": "float32"}
            """);
        var model = new PeftSharp.Models.Bert.BertForSequenceClassification(config, new Rng(2));
        AutoModel.SavePretrained(model, dir);
        CopyTokenizer(tokenizerDir, dir);
        return dir;
    }

    private static void CopyTokenizer(string from, string to)
    {
        File.Copy(Path.Combine(from, "tokenizer.json"), Path.Combine(to, "tokenizer.json"), overwrite: true);
        File.Copy(Path.Combine(from, "tokenizer_config.json"), Path.Combine(to, "tokenizer_config.json"), overwrite: true);
    }

    /// <summary>Language-modelling lines: a few short sentences over a small vocabulary, repeated so a few steps can learn them.</summary>
    public static string WriteTextData(string dir, string name = "train.jsonl", int lines = 48)
    {
        string[] subjects = ["the cat", "a dog", "the bird", "my friend"];
        string[] verbs = ["sat on", "looked at", "ran to", "jumped over"];
        string[] objects = ["the mat", "a tree", "the house", "the river"];
        var path = Path.Combine(dir, name);
        File.WriteAllLines(path, Enumerable.Range(0, lines).Select(i =>
            $"{{\"text\": \"{subjects[i % 4]} {verbs[i / 4 % 4]} {objects[i % 3]} .\"}}"));
        return path;
    }
}
