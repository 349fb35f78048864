using BenchmarkDotNet.Running;

namespace PeftSharp.Benchmarks;

/// <summary>BenchmarkDotNet entry: <c>dotnet run -c Release --project bench/PeftSharp.Benchmarks -- --filter '*Gemm*'</c>.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "tokenizers")
        {
            return Text.TokenizerThroughput.Run(args[1..]);
        }
        if (args.Length > 0 && args[0] == "attention")
        {
            return Tensors.AttentionTiles.Run(args[1..]);
        }
        if (args.Length > 0 && args[0] == "prepacked")
        {
            return Tensors.PrePackedGemm.Run(args[1..]);
        }
        if (args.Length > 0 && args[0] == "pool")
        {
            return Tensors.PoolWakeUp.Run(args[1..]);
        }
        if (args.Length > 0 && args[0] == "step")
        {
            return Tensors.StepAllocation.Run(args[1..]);
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
