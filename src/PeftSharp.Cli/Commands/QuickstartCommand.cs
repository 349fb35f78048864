using System.CommandLine;

namespace PeftSharp.Cli.Commands;

public static class QuickstartCommand
{
    public static Command Create()
    {
        var command = new Command("quickstart", "Run the end-to-end demonstration on the embedded default model.");
        command.SetAction(_ =>
        {
            Console.WriteLine("PeftSharp quickstart: the engine is being built; this verb will fine-tune the embedded model once it lands.");
            return 0;
        });
        return command;
    }
}
