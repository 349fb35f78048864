using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PeftSharp.Cli.Rendering;
using PeftSharp.Training.FineTuning;
using Spectre.Console;

namespace PeftSharp.Cli.Commands;

/// <summary>
/// <c>peft inspect PATH</c>: a model folder (architecture, sizes, parameters by tensor group and dtype) or an adapter
/// folder (method, rank, targets, parameters; with <c>--model</c>, whether it fits that model). With a model and
/// <c>--config</c> or <c>--method</c>, which modules the adapter would target and the trainable share.
/// </summary>
public static partial class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "A model folder (config.json) or an adapter folder (adapter_config.json)." };
        var model = new Option<string>("--model") { Description = "With an adapter PATH: the base model to check it against." };
        var config = new Option<string>("--config") { Description = "With a model PATH: an adapter_config.json whose targeting to show." };
        var method = new Option<string>("--method") { Description = "With a model PATH: lora, dora or ia3 — show what it would target." };
        var targets = new Option<string[]>("--targets") { Description = "Target modules for --method (names or all-linear; default: the architecture's usual ones).", AllowMultipleArgumentsPerToken = true };
        var r = new Option<int>("--r") { Description = "LoRA rank for --method (default 8).", DefaultValueFactory = _ => 8 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of tables." };
        var command = new Command("inspect", "Show a model or adapter folder, and which modules an adapter configuration targets.");
        command.Arguments.Add(path);
        foreach (Option o in new Option[] { model, config, method, targets, r, json })
        {
            command.Options.Add(o);
        }
        command.SetAction(parse => CommandErrors.Guard("inspect", () =>
        {
            var report = Inspector.Run(new InspectOptions
            {
                Path = parse.GetValue(path)!,
                Model = parse.GetValue(model),
                Config = parse.GetValue(config),
                Method = parse.GetValue(method),
                Targets = parse.GetValue(targets) is { Length: > 0 } given
                    ? given.SelectMany(t => t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray()
                    : null,
                R = parse.GetValue(r),
            });
            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(ToJson(report).ToJsonString());
            }
            else
            {
                Print(report);
            }
            return report.Targeting?.Error is null ? 0 : CommandErrors.Failure;
        }));
        return command;
    }

    private static void Print(InspectReport report)
    {
        var c = CultureInfo.InvariantCulture;
        if (report.Model is { } m)
        {
            var t = KeyValues($"model {m.Path}");
            Row(t, "Architecture", $"{m.Architecture} (model_type {m.ModelType ?? "?"})");
            Row(t, "Layers", m.Layers);
            Row(t, "Hidden size", m.Hidden);
            Row(t, "Attention heads", m.Heads is null ? null : m.KvHeads is { } kv && kv != m.Heads ? $"{m.Heads} ({kv} key/value)" : $"{m.Heads}");
            Row(t, "Intermediate size", m.Intermediate);
            Row(t, "Vocabulary", m.Vocab);
            Row(t, "Max positions", m.MaxPositions);
            Row(t, "Parameters", m.Parameters.ToString("N0", c));
            Row(t, "Stored as", string.Join(", ", m.ParametersByDType.Select(p => string.Create(c, $"{p.Key} {p.Value:N0}"))));
            AnsiConsole.Write(t);
            var g = new Table().AddColumn("tensor").AddColumn(new TableColumn("count").RightAligned()).AddColumn("shape").AddColumn(new TableColumn("parameters").RightAligned());
            foreach (var x in m.Groups)
            {
                g.AddRow(Markup.Escape(x.Pattern), x.Tensors.ToString(c), Markup.Escape(x.Shape), x.Parameters.ToString("N0", c));
            }
            AnsiConsole.Write(g);
        }
        if (report.Adapter is { } a)
        {
            var t = KeyValues($"adapter {a.Path}");
            Row(t, "Method", a.PeftType);
            Row(t, "Settings", a.Summary);
            Row(t, "Task type", a.TaskType);
            Row(t, "Base model", string.IsNullOrEmpty(a.BaseModel) ? null : a.BaseModel);
            Row(t, "Rank / alpha", a.R is null ? null : string.Create(c, $"{a.R} / {a.Alpha:g}"));
            Row(t, "Targets", a.Targets);
            Row(t, "Modules to save", a.ModulesToSave.Count == 0 ? null : string.Join(", ", a.ModulesToSave));
            Row(t, "Tensors", a.Tensors);
            Row(t, "Parameters", a.Parameters.ToString("N0", c));
            AnsiConsole.Write(t);
        }
        if (report.Targeting is { } tg)
        {
            if (tg.Error is not null)
            {
                Console.Error.WriteLine($"peft inspect: {(report.Adapter is null ? "the configuration does not fit the model" : "the adapter does not fit the model")}: {tg.Error}");
                return;
            }
            AnsiConsole.WriteLine($"{(report.Adapter is null ? "would target" : "the adapter fits the model; it targets")}: {tg.Summary}");
            var t = new Table().AddColumn("modules").AddColumn(new TableColumn("count").RightAligned()).AddColumn("module");
            foreach (var group in tg.Targets.GroupBy(x => LayerIndex().Replace(x.Path, ".*.")))
            {
                t.AddRow(Markup.Escape(group.Key), group.Count().ToString(c), Markup.Escape(group.First().Module));
            }
            AnsiConsole.Write(t);
            AnsiConsole.WriteLine($"{tg.Targets.Count} modules adapted{(tg.ModulesToSave.Count > 0 ? $", trained in full: {string.Join(", ", tg.ModulesToSave)}" : "")}");
            AnsiConsole.WriteLine(tg.Trainable.ToString());
        }
    }

    private static Table KeyValues(string title)
    {
        AnsiConsole.WriteLine(title);
        var t = new Table().AddColumn("").AddColumn("");
        t.HideHeaders();
        return t;
    }

    private static void Row(Table t, string name, object? value)
    {
        if (value is not null)
        {
            t.AddRow(Markup.Escape(name), Markup.Escape(Convert.ToString(value, CultureInfo.InvariantCulture)!));
        }
    }

    private static JsonObject ToJson(InspectReport r)
    {
        var o = new JsonObject();
        if (r.Model is { } m)
        {
            o["model"] = new JsonObject
            {
                ["path"] = m.Path, ["architecture"] = m.Architecture, ["model_type"] = m.ModelType, ["layers"] = m.Layers, ["hidden_size"] = m.Hidden,
                ["attention_heads"] = m.Heads, ["key_value_heads"] = m.KvHeads, ["intermediate_size"] = m.Intermediate, ["vocab_size"] = m.Vocab,
                ["max_positions"] = m.MaxPositions, ["parameters"] = m.Parameters,
                ["parameters_by_dtype"] = new JsonObject(m.ParametersByDType.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)JsonValue.Create(p.Value)))),
                ["tensors"] = new JsonArray(m.Groups.Select(g => (JsonNode?)new JsonObject { ["pattern"] = g.Pattern, ["count"] = g.Tensors, ["shape"] = g.Shape, ["parameters"] = g.Parameters }).ToArray()),
            };
        }
        if (r.Adapter is { } a)
        {
            o["adapter"] = new JsonObject
            {
                ["path"] = a.Path, ["peft_type"] = a.PeftType, ["summary"] = a.Summary, ["task_type"] = a.TaskType, ["base_model"] = a.BaseModel,
                ["r"] = a.R, ["alpha"] = a.Alpha, ["targets"] = a.Targets,
                ["modules_to_save"] = new JsonArray(a.ModulesToSave.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
                ["tensors"] = a.Tensors, ["parameters"] = a.Parameters,
            };
        }
        if (r.Targeting is { } t)
        {
            o["targeting"] = new JsonObject
            {
                ["summary"] = t.Summary,
                ["error"] = t.Error,
                ["targets"] = new JsonArray(t.Targets.Select(x => (JsonNode?)new JsonObject { ["path"] = x.Path, ["module"] = x.Module }).ToArray()),
                ["modules_to_save"] = new JsonArray(t.ModulesToSave.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
                ["trainable_parameters"] = t.Trainable.Trainable,
                ["all_parameters"] = t.Trainable.Total,
                ["trainable_percent"] = t.Trainable.Percent,
            };
        }
        return o;
    }

    [GeneratedRegex(@"\.\d+\.")]
    private static partial Regex LayerIndex();
}
