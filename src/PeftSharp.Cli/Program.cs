using System.CommandLine;
using PeftSharp.Cli.Commands;

namespace PeftSharp.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        if (Console.IsOutputRedirected)
        {
            // Logs and pipes get plain text: no colour escapes, no live redraws.
            Spectre.Console.AnsiConsole.Profile.Capabilities.Ansi = false;
        }
        var root = new RootCommand("peft — parameter-efficient fine-tuning of transformer models on the CPU.");
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }
        return root.Parse(args).Invoke();
    }
}
