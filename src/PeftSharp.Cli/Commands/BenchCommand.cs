using System.CommandLine;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft bench</c>: a parent verb; each measurement is a sub-verb in its own file (Bench*Command.cs).</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Measure the engine on this machine (kernels, and later inference and training).");
        command.Subcommands.Add(BenchGemmCommand.Create());
        command.Subcommands.Add(BenchInferCommand.Create());
        command.Subcommands.Add(BenchTrainCommand.Create());
        return command;
    }
}
