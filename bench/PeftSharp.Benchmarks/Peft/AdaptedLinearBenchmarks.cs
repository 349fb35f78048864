using BenchmarkDotNet.Attributes;
using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Ia3;
using PeftSharp.Peft.Methods.LoKr;
using PeftSharp.Peft.Methods.Lora;
using PeftSharp.Peft.Methods.Vera;
using PeftSharp.Tensors;

namespace PeftSharp.Benchmarks.Peft;

/// <summary>
/// Forward + backward of one adapted linear layer (hidden → hidden, frozen base, input requiring grad as inside a
/// network) against the bare linear layer in the same run, so the ratio column is the adapter's overhead.
/// Shapes: prefill M = 1024 and decode M = 1 tokens; hidden 768 / 2048; rank 8 / 16 / 64 (rank does not apply to
/// the bare layer and IA3; LoKr's Kronecker factors follow from hidden, VeRA uses r = 16 × rank as its
/// projections are shared and frozen). Set PEFTSHARP_BENCH_QUICK=1 to run only hidden 768, rank 16.
/// <c>dotnet run -c Release --project bench/PeftSharp.Benchmarks -- --filter '*AdaptedLinear*'</c>
/// </summary>
[MemoryDiagnoser]
public class AdaptedLinearBenchmarks
{
    private static bool Quick => Environment.GetEnvironmentVariable("PEFTSHARP_BENCH_QUICK") == "1";

    [Params(1, 1024)]
    public int M { get; set; }

    [ParamsSource(nameof(Hiddens))]
    public int Hidden { get; set; }

    [ParamsSource(nameof(Ranks))]
    public int Rank { get; set; }

    public static IEnumerable<int> Hiddens => Quick ? [768] : [768, 2048];

    public static IEnumerable<int> Ranks => Quick ? [16] : [8, 16, 64];

    private Linear _bare = null!;
    private PeftModel _lora = null!, _dora = null!, _ia3 = null!, _lokr = null!, _vera = null!;
    private Tensor _x = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(1);
        _x = Tensor.Normal([M, Hidden], 0, 1, rng);
        _x.RequiresGrad = true;
        _bare = Frozen();
        _lora = Adapted(new LoraConfig { TargetModules = ModuleSelector.List("proj"), R = Rank, LoraAlpha = 2 * Rank });
        _dora = Adapted(new LoraConfig { TargetModules = ModuleSelector.List("proj"), R = Rank, LoraAlpha = 2 * Rank, UseDora = true });
        _ia3 = Adapted(new Ia3Config { TargetModules = ModuleSelector.List("proj") });
        _lokr = Adapted(new LoKrConfig { TargetModules = ModuleSelector.List("proj"), R = Rank, Alpha = 2 * Rank });
        _vera = Adapted(new VeraConfig { TargetModules = ModuleSelector.List("proj"), R = 16 * Rank });
        // Correctness before timing: with the freshly initialised (identity) adapters every variant equals the bare layer.
        var reference = _bare.Forward(_x).ToArray();
        foreach (var m in new[] { _lora, _dora, _ia3, _lokr, _vera })
        {
            var y = m.Forward(_x).ToArray();
            for (int i = 0; i < y.Length; i++)
            {
                if (MathF.Abs(y[i] - reference[i]) > 1e-3f * (1 + MathF.Abs(reference[i])))
                {
                    throw new InvalidOperationException($"adapted output differs from the base at {i}: {y[i]} vs {reference[i]}");
                }
            }
        }
    }

    private Linear Frozen()
    {
        var l = new Linear(Hidden, Hidden, bias: true, new Rng(2));
        l.RequiresGrad(false);
        return l;
    }

    private PeftModel Adapted(AdapterConfig config)
    {
        var root = new Holder(Frozen());
        var m = PeftModel.Create(root, config, options: new PeftModelOptions { Seed = 3 });
        m.Train();
        return m;
    }

    private sealed class Holder : Module
    {
        public Holder(Linear proj) => RegisterModule("proj", proj);

        public override Tensor Forward(Tensor input) => Child("proj").Forward(input);
    }

    private float Step(Module m)
    {
        using var scope = TensorScope.Begin();
        var y = m.Forward(_x);
        var loss = y.Sum();
        loss.Backward();
        float v = loss.Item();
        _x.Grad = null;
        m.ZeroGrad();
        return v;
    }

    [Benchmark(Baseline = true)]
    public float Bare() => Step(_bare);

    [Benchmark]
    public float Lora() => Step(_lora);

    [Benchmark]
    public float Dora() => Step(_dora);

    [Benchmark]
    public float Ia3() => Step(_ia3);

    [Benchmark]
    public float LoKr() => Step(_lokr);

    [Benchmark]
    public float Vera() => Step(_vera);
}
