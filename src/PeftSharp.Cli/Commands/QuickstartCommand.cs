using System.CommandLine;
using System.Reflection;
using PeftSharp.Cli.Rendering;
using PeftSharp.Training.Quickstart;
using Spectre.Console;

namespace PeftSharp.Cli.Commands;

/// <summary>
/// <c>peft quickstart</c>: the end-to-end demonstration on the embedded base model — score it on a held-out task,
/// LoRA-fine-tune it, score it again, save the adapter (Hugging Face PEFT layout) and generate with and without it.
/// </summary>
public static class QuickstartCommand
{
    /// <summary>Resource names of the embedded base model (see the Cli project file).</summary>
    internal static readonly string[] ModelFiles = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"];

    public static Command Create()
    {
        var output = new Option<string>("--output") { Description = "Folder for the base model copy, the adapter and the training logs.", DefaultValueFactory = _ => "peft-quickstart" };
        var steps = new Option<long>("--steps") { Description = "LoRA training steps.", DefaultValueFactory = _ => new QuickstartOptions { BaseModel = "", Output = "" }.Steps };
        var model = new Option<string?>("--model") { Description = "Use this base model folder instead of the embedded one." };
        var command = new Command("quickstart", "Fine-tune the embedded base model with LoRA on a held-out task, show the before/after scores and samples, and save everything.");
        command.Options.Add(output);
        command.Options.Add(steps);
        command.Options.Add(model);
        command.SetAction((parse, ct) =>
        {
            var dir = Path.GetFullPath(parse.GetValue(output)!);
            var baseDir = parse.GetValue(model) ?? ExtractEmbeddedModel(Path.Combine(dir, "base-model"));
            var options = new QuickstartOptions { BaseModel = baseDir, Output = dir, Steps = parse.GetValue(steps) };
            AnsiConsole.MarkupLine("[bold]PeftSharp quickstart[/]: LoRA fine-tuning of a small Llama on a task it has never seen.");
            var view = new TrainingView("LoRA");
            var report = view.Run(options.Steps, progress => QuickstartRunner.Run(options, progress, line => System.Console.WriteLine(line), ct));
            Print(report, baseDir);
            return Task.FromResult(0);
        });
        return command;
    }

    private static void Print(QuickstartReport r, string baseDir)
    {
        var table = new Table().AddColumn("").AddColumn("base model").AddColumn("with LoRA adapter");
        table.AddRow("accuracy on held-out words", $"{r.BaseAccuracy:P1}", $"[green]{r.AdaptedAccuracy:P1}[/]");
        table.AddRow("answer loss", $"{r.BaseAnswerLoss:F3}", $"{r.AdaptedAnswerLoss:F3}");
        table.AddRow("sample answer", Markup.Escape(r.BaseSample.Length == 0 ? "(nothing)" : r.BaseSample), Markup.Escape(r.AdaptedSample));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"sample prompt: [italic]{Markup.Escape(r.SamplePrompt)}[/] (expected: {Markup.Escape(r.SampleAnswer)})");
        AnsiConsole.MarkupLine($"{Markup.Escape(r.Trainable.ToString())}; {r.Training.Steps} steps in {r.Training.Elapsed:m\\:ss}; total {r.Elapsed:m\\:ss}");
        AnsiConsole.MarkupLine($"base model:    {Markup.Escape(baseDir)}");
        AnsiConsole.MarkupLine($"adapter:       {Markup.Escape(Path.GetFullPath(r.AdapterDirectory))}");
        AnsiConsole.MarkupLine($"training logs: {Markup.Escape(Path.GetFullPath(Path.Combine(r.AdapterDirectory, "..", "training")))} (metrics.jsonl, loss_curve.svg)");
        AnsiConsole.MarkupLine($"try: peft generate --model {Markup.Escape(baseDir)} --adapter {Markup.Escape(Path.GetFullPath(r.AdapterDirectory))} --greedy --prompt \"{Markup.Escape(r.SamplePrompt)}\"");
    }

    /// <summary>Writes the embedded base model into <paramref name="directory"/> (unless an identical copy is there) and returns it.</summary>
    internal static string ExtractEmbeddedModel(string directory)
    {
        Directory.CreateDirectory(directory);
        var assembly = Assembly.GetExecutingAssembly();
        foreach (var name in ModelFiles)
        {
            using var stream = assembly.GetManifestResourceStream("quickstart-model/" + name)
                ?? throw new InvalidOperationException($"The embedded quickstart model lacks {name}; the build is incomplete.");
            var path = Path.Combine(directory, name);
            if (File.Exists(path) && new FileInfo(path).Length == stream.Length)
            {
                continue;
            }
            var tmp = path + ".tmp";
            using (var file = File.Create(tmp))
            {
                stream.CopyTo(file);
            }
            File.Move(tmp, path, overwrite: true);
        }
        return directory;
    }
}
