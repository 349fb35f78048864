using System.Diagnostics;
using System.Globalization;
using PeftSharp.Models;
using PeftSharp.Models.Llama;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Lora;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Training.Optimizers;

namespace PeftSharp.Training.Benchmarks;

/// <summary>Which linear layers get LoRA adapters in <see cref="TrainBenchmark"/>.</summary>
public enum TrainTargets
{
    /// <summary>q_proj, k_proj, v_proj, o_proj.</summary>
    Attention,

    /// <summary>Every linear layer of the decoder (attention and MLP), not the output head.</summary>
    AllLinear,
}

/// <summary>Settings of one <see cref="TrainBenchmark"/> run.</summary>
public sealed record TrainBenchmarkOptions
{
    public TrainTargets Targets { get; init; } = TrainTargets.Attention;

    /// <summary>Storage of the frozen matrices: F32, or BF16 (every matrix, the tied embedding/head included).</summary>
    public DType Weights { get; init; } = DType.F32;

    public int WarmupSteps { get; init; } = 2;

    public int TimedSteps { get; init; } = 5;

    /// <summary>Extra steps run with <see cref="OpProfiler"/> on, for the time breakdown (0 skips it).</summary>
    public int ProfiledSteps { get; init; } = 2;

    /// <summary>The measured FMA peak (GFLOP/s) that <see cref="TrainResult.Mfu"/> divides by.</summary>
    public double PeakGflops { get; init; } = double.NaN;
}

/// <summary>Where the time of a profiled step went, in seconds per step; <see cref="Ops"/> holds per-step times and calls of each op.</summary>
public sealed record TrainBreakdown(double Gemm, double Attention, double Elementwise, double Optimizer, double Overhead, double Step, IReadOnlyList<OpTime> Ops);

/// <summary>One row of <c>peft bench train</c>.</summary>
public sealed record TrainResult(
    string Targets, string Weights, long TrainableParameters, double TokensPerSecond, double StepSecondsMedian,
    IReadOnlyList<double> StepSeconds, double PeakRssMib, bool PeakRssSinceBuild, double AllocatedBytesPerStep,
    double FlopsPerToken, double Mfu, double FinalLoss, TrainBreakdown? Breakdown);

/// <summary>
/// LoRA training steps on the Llama-architecture benchmark model (hidden 768, 12 layers, 12 heads, 12 KV heads,
/// intermediate 2048, vocab 32000, tied embeddings: 109.5M parameters) with seeded random frozen weights: batch
/// 4 × 256 random tokens (labels = inputs, shifted inside the model), rank 16, alpha 32, dropout 0, AdamW
/// (lr 1e-4, weight decay 0.01) on the adapter parameters only. A step is forward with the loss, backward, the
/// optimizer update and zeroing the gradients, inside one <see cref="TensorScope"/>. Tokens/s = 1024 / median step.
/// </summary>
public static class TrainBenchmark
{
    public const int Batch = 4;
    public const int Length = 256;
    public const int Rank = 16;
    public const double Alpha = 32;

    /// <summary>The benchmark config.</summary>
    public static HfConfig Config() => BenchmarkModel.Config();

    /// <summary>The modules that get adapters.</summary>
    public static string[] TargetModules(TrainTargets targets) => targets == TrainTargets.Attention
        ? ["q_proj", "k_proj", "v_proj", "o_proj"]
        : ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>The name printed for a target set ("attn" or "all-linear").</summary>
    public static string Name(TrainTargets targets) => targets == TrainTargets.Attention ? "attn" : "all-linear";

    /// <summary>
    /// Model FLOPs of one training token: every frozen matrix (the tied head included) twice forward and twice for
    /// the input gradient (4 per weight); each adapter 2·r·(in+out) forward and 4·r·(in+out) backward (input and
    /// weight gradients); causal attention 12·C·(T+1)/2 per layer (QKᵀ and PV forward, four products backward, over
    /// the (T+1)/2 keys a query sees on average). Recomputation inside flash attention is not counted.
    /// </summary>
    public static double FlopsPerToken(TrainTargets targets)
    {
        const double c = 768, inter = 2048, layers = 12, vocab = 32000, t = Length;
        double frozen = layers * (4 * c * c + 3 * c * inter) + vocab * c;
        double adapters = layers * (4 * (c + c) + (targets == TrainTargets.AllLinear ? 3 * (c + inter) : 0)) * Rank;
        double attention = layers * 12 * c * (t + 1) / 2;
        return 4 * frozen + 6 * adapters + attention;
    }

    /// <summary>Runs the benchmark for one target set and weight storage.</summary>
    public static TrainResult Run(TrainBenchmarkOptions o, Action<string>? log = null)
    {
        if (o.TimedSteps < 1 || o.WarmupSteps < 0 || o.ProfiledSteps < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(o), $"Timed steps must be ≥ 1 and warm-up/profiled steps ≥ 0; got {o.TimedSteps}, {o.WarmupSteps}, {o.ProfiledSteps}.");
        }
        string targets = Name(o.Targets);
        string weights = o.Weights.ToString().ToLowerInvariant();
        var model = BenchmarkModel.Build(o.Weights);
        var peft = PeftModel.Create(model, new LoraConfig
        {
            R = Rank,
            LoraAlpha = Alpha,
            LoraDropout = 0,
            TargetModules = ModuleSelector.List(TargetModules(o.Targets)),
            TaskType = "CAUSAL_LM",
        }, options: new PeftModelOptions { Seed = 42 });
        model.Train();
        var parameters = peft.NamedTrainableParameters().ToArray();
        long trainable = parameters.Sum(p => (long)p.Parameter.Numel);
        var optimizer = new AdamW(parameters, learningRate: 1e-4, weightDecay: 0.01);

        var rng = new Rng(7);
        var ids = Enumerable.Range(0, Batch * Length).Select(_ => rng.NextInt(model.VocabSize)).ToArray();
        var input = new ModelInput { InputIds = Tensor.FromInts(ids, Batch, Length), Labels = Tensor.FromInts(ids, Batch, Length) };

        ProcessMemory.ReleaseGarbage();
        bool reset = ProcessMemory.TryResetPeak();
        log?.Invoke($"{targets}/{weights}: {trainable:N0} trainable parameters; {o.WarmupSteps} warm-up + {o.TimedSteps} timed steps of {Batch}×{Length} tokens...");

        float loss = float.NaN;
        for (int s = 0; s < o.WarmupSteps; s++)
        {
            loss = Step(model, input, optimizer, out _);
        }
        var times = new List<double>();
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        for (int s = 0; s < o.TimedSteps; s++)
        {
            var sw = Stopwatch.StartNew();
            loss = Step(model, input, optimizer, out _);
            times.Add(sw.Elapsed.TotalSeconds);
        }
        double allocatedPerStep = (double)(GC.GetTotalAllocatedBytes(precise: true) - allocated) / o.TimedSteps;
        double peak = ProcessMemory.PeakRssMib();
        if (!float.IsFinite(loss))
        {
            throw new InvalidOperationException($"The training loss is {loss}; the benchmark step is broken.");
        }
        double median = Statistics.Median(times);
        double tps = Batch * Length / median;
        double flops = FlopsPerToken(o.Targets);
        log?.Invoke($"{targets}/{weights}: median step {median:F3} s, {tps:F1} tokens/s, loss {loss:F4}");

        TrainBreakdown? breakdown = null;
        if (o.ProfiledSteps > 0)
        {
            breakdown = Profile(model, input, optimizer, o.ProfiledSteps);
        }
        return new TrainResult(targets, weights, trainable, tps, median, times, peak, reset, allocatedPerStep,
            flops, flops * tps / (o.PeakGflops * 1e9), loss, breakdown);
    }

    /// <summary>One training step; returns the loss and the optimizer's share of the time.</summary>
    private static float Step(CausalLanguageModel model, ModelInput input, AdamW optimizer, out double optimizerSeconds)
    {
        using var scope = TensorScope.Begin();
        OpProfiler.Mark();
        var loss = model.Forward(input).Loss!;
        float value = loss.Item();
        loss.Backward();
        long t0 = Stopwatch.GetTimestamp();
        optimizer.Step();
        optimizer.ZeroGrad();
        optimizerSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        return value;
    }

    private static TrainBreakdown Profile(CausalLanguageModel model, ModelInput input, AdamW optimizer, int steps)
    {
        double wall = 0, opt = 0;
        OpProfiler.Start();
        IReadOnlyList<OpTime> ops;
        try
        {
            for (int s = 0; s < steps; s++)
            {
                var sw = Stopwatch.StartNew();
                Step(model, input, optimizer, out double o);
                wall += sw.Elapsed.TotalSeconds;
                opt += o;
            }
        }
        finally
        {
            ops = OpProfiler.Stop();
        }
        double gemm = 0, attention = 0, elementwise = 0;
        foreach (var op in ops)
        {
            double t = op.ForwardSeconds + op.BackwardSeconds;
            switch (op.Op)
            {
                case "linear" or "matmul" or "lora_linear": gemm += t; break;
                case "attention": attention += t; break;
                default: elementwise += t; break;
            }
        }
        var perStep = ops.Select(x => x with { ForwardSeconds = x.ForwardSeconds / steps, BackwardSeconds = x.BackwardSeconds / steps, ForwardCalls = x.ForwardCalls / steps, BackwardCalls = x.BackwardCalls / steps }).ToList();
        double step = wall / steps;
        gemm /= steps;
        attention /= steps;
        elementwise /= steps;
        opt /= steps;
        return new TrainBreakdown(gemm, attention, elementwise, opt, Math.Max(0, step - gemm - attention - elementwise - opt), step, perStep);
    }
}
