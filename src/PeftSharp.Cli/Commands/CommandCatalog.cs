using System.CommandLine;

namespace PeftSharp.Cli.Commands;

/// <summary>Every verb of the <c>peft</c> command, in the order <c>--help</c> lists them.</summary>
public static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return QuickstartCommand.Create();
        yield return PretrainCommand.Create();
        yield return TrainCommand.Create();
        yield return EvalCommand.Create();
        yield return GenerateCommand.Create();
        yield return MergeCommand.Create();
        yield return InspectCommand.Create();
        yield return BenchCommand.Create();
    }
}
