using System.CommandLine;
using System.Text.Json;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft bench</c>: a parent verb; each measurement is a sub-verb in its own file (Bench*Command.cs).</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Measure the engine on this machine: GEMM kernels, inference and LoRA training.");
        command.Subcommands.Add(BenchGemmCommand.Create());
        command.Subcommands.Add(BenchInferCommand.Create());
        command.Subcommands.Add(BenchTrainCommand.Create());
        return command;
    }

    /// <summary>Writes "peak_rss_mib" rounded to 0.1, or null where the platform gave no measurement (NaN).</summary>
    internal static void WritePeakRss(Utf8JsonWriter writer, double mib)
    {
        if (double.IsNaN(mib))
        {
            writer.WriteNull("peak_rss_mib");
        }
        else
        {
            writer.WriteNumber("peak_rss_mib", Math.Round(mib, 1));
        }
    }
}
