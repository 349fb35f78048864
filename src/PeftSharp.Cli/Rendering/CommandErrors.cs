using PeftSharp.Peft.Core;
using PeftSharp.Peft.Formats;
using PeftSharp.Tensors.Serialization;
using PeftSharp.Text.Tokenization;
using PeftSharp.Training;
using PeftSharp.Training.Checkpoints;
using PeftSharp.Training.Data;
using PeftSharp.Training.FineTuning;

namespace PeftSharp.Cli.Rendering;

/// <summary>
/// The command boundary: known failures (bad settings, bad files, diverged training) become one message on stderr
/// saying what to do next and exit code 1; anything else prints its message with a request to report it (exit code
/// 70). No stack traces either way.
/// </summary>
public static class CommandErrors
{
    /// <summary>Exit code of a known failure.</summary>
    public const int Failure = 1;

    /// <summary>Exit code of an unexpected failure (EX_SOFTWARE).</summary>
    public const int Unexpected = 70;

    /// <summary>Exit code after Ctrl-C (128 + SIGINT).</summary>
    public const int Cancelled = 130;

    /// <summary>Runs a verb's body and turns exceptions into messages and exit codes.</summary>
    public static int Guard(string verb, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"peft {verb}: cancelled.");
            return Cancelled;
        }
        catch (Exception e) when (Hint(e) is { } hint)
        {
            Console.Error.WriteLine($"peft {verb}: {e.Message}{(hint.Length > 0 ? Environment.NewLine + hint : "")}");
            return Failure;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"peft {verb}: unexpected error ({e.GetType().Name}): {e.Message}");
            Console.Error.WriteLine("This is likely a bug in PeftSharp. Please report it with the command you ran and this message.");
            return Unexpected;
        }
    }

    /// <summary>What to do next after a known failure ("" when the message says it already), or null for an unknown kind.</summary>
    private static string? Hint(Exception e) => e switch
    {
        FineTuneException => "",
        DataFormatException => "Fix that line, or pass --skip-bad-lines to skip and count malformed lines.",
        TrainingDivergedException => "",
        CheckpointException => "Start a new run without --resume (or with another --output), or resume with the settings of the original run.",
        AdapterConfigException => "Fix adapter_config.json, or check which modules the model has with: peft inspect MODEL --method lora --targets NAME.",
        AdapterLoadException => "Check that the adapter was trained on this base model: peft inspect ADAPTER --model MODEL.",
        SafetensorsFormatException => "The file is damaged or not a safetensors file; re-download or re-save it.",
        TokenizerFormatException => "Check the tokenizer.json (or pass --tokenizer DIR with a working one).",
        FileNotFoundException or DirectoryNotFoundException => "Check the path.",
        UnauthorizedAccessException => "Check the permissions of the path.",
        InvalidDataException or NotSupportedException or IOException => "",
        ArgumentException or KeyNotFoundException or InvalidOperationException => "",
        _ => null,
    };
}
