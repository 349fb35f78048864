using System.CommandLine;
using PeftSharp.Cli.Rendering;
using PeftSharp.Training.FineTuning;
using Spectre.Console;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft merge</c>: folds adapters into the base weights and writes a plain Hugging Face model folder.</summary>
public static class MergeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Base model folder (config.json + *.safetensors).", Required = true };
        var adapters = new Option<string[]>("--adapter") { Description = "Adapter folder to merge; repeatable (their updates add).", Required = true };
        var output = new Option<string>("--output") { Description = "Folder for the merged model (config.json, model.safetensors, tokenizer files).", Required = true };
        var command = new Command("merge", "Merge adapters into the base model and save a Hugging Face model folder that needs no adapter.");
        command.Options.Add(model);
        command.Options.Add(adapters);
        command.Options.Add(output);
        command.SetAction(parse => CommandErrors.Guard("merge", () =>
        {
            var result = AdapterMerge.Run(parse.GetValue(model)!, parse.GetValue(adapters) ?? [], parse.GetValue(output)!);
            AnsiConsole.WriteLine($"merged {result.Adapters} adapter(s) into {result.MergedModules} modules of the {result.Architecture} ({result.Parameters:N0} parameters)");
            AnsiConsole.WriteLine($"model: {result.OutputDirectory}{(result.CopiedFiles.Count > 0 ? $" (with {string.Join(", ", result.CopiedFiles)})" : "")}");
            return 0;
        }));
        return command;
    }
}
