using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using PeftSharp.Cli.Rendering;
using PeftSharp.Training.FineTuning;
using Spectre.Console;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft eval</c>: loss and perplexity (language models) or accuracy (classifiers) of a model with adapters on a data file.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Base model folder (config.json + *.safetensors).", Required = true };
        var adapters = new Option<string[]>("--adapter") { Description = "Adapter folder; repeatable (all are applied together). None: the base model." };
        var data = new Option<string>("--data") { Description = "Data file in a training format (JSONL or CSV).", Required = true };
        var tokenizer = new Option<string>("--tokenizer") { Description = "Folder holding tokenizer.json (default: the model folder)." };
        var batch = new Option<int>("--batch-size") { Description = "Examples per forward pass.", DefaultValueFactory = _ => 8 };
        var maxLength = new Option<int?>("--max-length") { Description = "Longest sequence in tokens (default: the model's max_position_embeddings)." };
        var weights = new Option<string>("--weights") { Description = "Storage of the base weights: f32 (default) or bf16.", DefaultValueFactory = _ => "f32" };
        var skip = new Option<bool>("--skip-bad-lines") { Description = "Skip and count malformed lines instead of stopping." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };

        var command = new Command("eval", "Score a model (with adapters) on a data file: loss and perplexity, or accuracy for classifiers.");
        foreach (Option o in new Option[] { model, adapters, data, tokenizer, batch, maxLength, weights, skip, json })
        {
            command.Options.Add(o);
        }
        command.SetAction((parse, ct) => Task.FromResult(CommandErrors.Guard("eval", () =>
        {
            var report = Evaluation.Run(new EvaluateOptions
            {
                Model = parse.GetValue(model)!,
                Data = parse.GetValue(data)!,
                Adapters = parse.GetValue(adapters) ?? [],
                Tokenizer = parse.GetValue(tokenizer),
                BatchSize = parse.GetValue(batch),
                MaxLength = parse.GetValue(maxLength),
                Weights = parse.GetValue(weights)!,
                SkipBadLines = parse.GetValue(skip),
            }, ct);
            Print(report, parse.GetValue(json));
            return 0;
        })));
        return command;
    }

    private static void Print(EvaluationReport r, bool json)
    {
        if (json)
        {
            var o = new JsonObject
            {
                ["task"] = r.Task == FineTuneTask.CausalLanguageModeling ? "causal-lm" : "classification",
                ["examples"] = r.Examples,
                ["tokens"] = r.Tokens,
                ["loss"] = r.Loss,
                ["perplexity"] = r.Perplexity,
                ["skipped_lines"] = r.SkippedLines,
                ["adapters"] = new JsonArray(r.Adapters.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray()),
            };
            if (r.Accuracy is { } acc)
            {
                o["accuracy"] = acc;
            }
            Console.Out.WriteLine(o.ToJsonString());
            return;
        }
        var c = CultureInfo.InvariantCulture;
        var table = new Table().AddColumn("").AddColumn("");
        table.HideHeaders();
        table.AddRow("Task", r.Task == FineTuneTask.CausalLanguageModeling ? "causal language modelling" : "sequence classification");
        table.AddRow("Adapters", Markup.Escape(r.Adapters.Count == 0 ? "(none: base model)" : string.Join(", ", r.Adapters)));
        table.AddRow("Examples", r.Examples.ToString("N0", c));
        table.AddRow(r.Task == FineTuneTask.CausalLanguageModeling ? "Scored tokens" : "Tokens", r.Tokens.ToString("N0", c));
        table.AddRow("Loss", r.Loss.ToString("0.####", c));
        if (r.Accuracy is { } a)
        {
            table.AddRow("Accuracy", a.ToString("P2", c));
        }
        else
        {
            table.AddRow("Perplexity", r.Perplexity.ToString("0.##", c));
        }
        if (r.SkippedLines > 0)
        {
            table.AddRow("Skipped lines", r.SkippedLines.ToString("N0", c));
        }
        AnsiConsole.Write(table);
    }
}
