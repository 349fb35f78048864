using BenchmarkDotNet.Running;

namespace PeftSharp.Benchmarks;

/// <summary>
/// BenchmarkDotNet entry: <c>dotnet run -c Release --project bench/PeftSharp.Benchmarks -- --filter '*Gemm*'</c>.
/// A first argument naming a console mode (tokenizers, attention, prepacked, pool, step) runs that quick
/// side-by-side measurement instead, with the remaining arguments.
/// </summary>
public static class Program
{
    private static readonly Dictionary<string, Func<string[], int>> Modes = new()
    {
        ["tokenizers"] = Text.TokenizerThroughput.Run,
        ["attention"] = Tensors.AttentionTiles.Run,
        ["prepacked"] = Tensors.PrePackedGemm.Run,
        ["pool"] = Tensors.PoolWakeUp.Run,
        ["step"] = Tensors.StepAllocation.Run,
    };

    public static int Main(string[] args)
    {
        if (args.Length > 0 && Modes.TryGetValue(args[0], out var mode))
        {
            return mode(args[1..]);
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
