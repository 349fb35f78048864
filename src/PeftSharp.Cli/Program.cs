using System.CommandLine;
using PeftSharp.Cli.Commands;

namespace PeftSharp.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("peft — parameter-efficient fine-tuning of transformer models on the CPU.");
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }
        // Ctrl-C cancels the running verb's token; training then finishes its step and writes a checkpoint, which can take
        // longer than System.CommandLine's default two seconds of grace on a large model.
        return root.Parse(args).Invoke(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromMinutes(2) });
    }
}
