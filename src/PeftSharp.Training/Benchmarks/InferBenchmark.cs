using System.Diagnostics;
using PeftSharp.Models;
using PeftSharp.Models.Generation;
using PeftSharp.Models.Llama;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Training.Benchmarks;

/// <summary>One row of <c>peft bench infer</c>.</summary>
public sealed record InferResult(string Weights, double ForwardTokensPerSecond, double GenerateTokensPerSecond, double PeakRssMib, bool PeakRssSinceBuild);

/// <summary>Prefill and decode-step times (ms) beside the time of their weight products alone; the first (cold) generate call.</summary>
public sealed record DecodeBreakdown(double FirstCallMs, double PrefillMs, double PrefillGemmMs, double DecodeStepMs, double WeightGemvMs, long WeightBytes)
{
    /// <summary>GB/s the weight GEMVs alone reach.</summary>
    public double GemvGigabytesPerSecond => WeightBytes / (WeightGemvMs * 1e6);
}

/// <summary>
/// End-to-end inference on the Llama-architecture benchmark model (hidden 768, 12 layers, 12 heads, 12 KV heads,
/// intermediate 2048, vocab 32000, tied embeddings: 109.5M parameters) with seeded random weights.
/// Forward: no-grad batch 4 × 256 tokens, median of the timed runs after one warm-up.
/// Generate: batch 1, a 32-token prompt, exactly 64 new greedy tokens with the KV cache (no EOS); tokens/s = 64 / wall
/// time including the prefill, median of the timed runs after one warm-up.
/// </summary>
public static class InferBenchmark
{
    public const int ForwardBatch = 4;
    public const int ForwardLength = 256;
    public const int PromptLength = 32;
    public const int NewTokens = 64;

    /// <summary>The benchmark config.</summary>
    public static HfConfig Config() => BenchmarkModel.Config();

    /// <summary>The shared benchmark model (see <see cref="BenchmarkModel.Build"/>).</summary>
    public static LlamaForCausalLM Build(DType weights, ulong seed = 1234) => BenchmarkModel.Build(weights, seed);

    /// <summary>Runs both measurements for one weight precision.</summary>
    public static InferResult Run(DType weights, int repeats, Action<string>? log = null)
    {
        var model = Build(weights);
        ProcessMemory.ReleaseGarbage();
        bool reset = ProcessMemory.TryResetPeak();
        string name = weights.ToString().ToLowerInvariant();
        log?.Invoke($"{name}: {model.NamedParameters().Select(p => p.Parameter).Distinct().Sum(p => (long)p.Numel) / 1e6:F1}M parameters built; forward {ForwardBatch}×{ForwardLength}...");
        double forward = MeasureForward(model, repeats);
        log?.Invoke($"{name}: forward {forward:F1} tokens/s; generate {PromptLength} + {NewTokens}...");
        double generate = MeasureGenerate(model, repeats);
        log?.Invoke($"{name}: generate {generate:F2} tokens/s");
        double peak = ProcessMemory.PeakRssMib();
        return new InferResult(name, forward, generate, peak, reset);
    }

    /// <summary>Tokens per second of the no-grad forward pass on a batch of 4 × 256 random ids.</summary>
    public static double MeasureForward(CausalLanguageModel model, int repeats)
    {
        var rng = new Rng(7);
        var ids = Enumerable.Range(0, ForwardBatch * ForwardLength).Select(_ => rng.NextInt(model.VocabSize)).ToArray();
        var times = new List<double>();
        for (int run = 0; run <= repeats; run++)
        {
            using var noGrad = GradMode.NoGrad();
            using var scope = TensorScope.Begin();
            var sw = Stopwatch.StartNew();
            var logits = model.Forward(new ModelInput { InputIds = Tensor.FromInts(ids, ForwardBatch, ForwardLength) }).Logits;
            sw.Stop();
            if (logits.Dim(1) != ForwardLength)
            {
                throw new InvalidOperationException("The forward pass returned the wrong number of positions.");
            }
            if (run > 0)
            {
                times.Add(sw.Elapsed.TotalSeconds);
            }
        }
        return ForwardBatch * ForwardLength / Statistics.Median(times);
    }

    /// <summary>64 / wall time of generating exactly 64 greedy tokens after a 32-token prompt (prefill included).</summary>
    public static double MeasureGenerate(CausalLanguageModel model, int repeats)
    {
        var rng = new Rng(8);
        var prompt = Enumerable.Range(0, PromptLength).Select(_ => rng.NextInt(model.VocabSize)).ToArray();
        var options = new GenerationOptions { MaxNewTokens = NewTokens, EosTokenIds = [] };
        var times = new List<double>();
        for (int run = 0; run <= repeats; run++)
        {
            var sw = Stopwatch.StartNew();
            var result = Generator.Generate(model, [prompt], options);
            sw.Stop();
            if (result[0].Tokens.Length != NewTokens)
            {
                throw new InvalidOperationException($"Generation produced {result[0].Tokens.Length} tokens instead of {NewTokens}.");
            }
            if (run > 0)
            {
                times.Add(sw.Elapsed.TotalSeconds);
            }
        }
        return NewTokens / Statistics.Median(times);
    }

    /// <summary>
    /// Where generation time goes, for <c>--breakdown</c>: the prefill, the median decode step (from the time each
    /// token is chosen), and the floor of one decode step, the median time of streaming every distinct weight matrix
    /// once through <see cref="Tensor.Linear"/> with one row of input (the M = 1 GEMV), with the bytes that moves.
    /// </summary>
    public static DecodeBreakdown MeasureBreakdown(CausalLanguageModel model, int repeats)
    {
        var rng = new Rng(8);
        var prompt = Enumerable.Range(0, PromptLength).Select(_ => rng.NextInt(model.VocabSize)).ToArray();
        var options = new GenerationOptions { MaxNewTokens = NewTokens, EosTokenIds = [] };
        var prefill = new List<double>();
        var steps = new List<double>();
        double first = 0;
        for (int run = 0; run <= repeats; run++)
        {
            var stamps = new List<long>(NewTokens + 1) { Stopwatch.GetTimestamp() };
            Generator.Generate(model, [prompt], options, (_, _) => stamps.Add(Stopwatch.GetTimestamp()));
            if (run == 0)
            {
                first = Stopwatch.GetElapsedTime(stamps[0], stamps[^1]).TotalMilliseconds;
                continue;
            }
            prefill.Add(Stopwatch.GetElapsedTime(stamps[0], stamps[1]).TotalMilliseconds);
            for (int i = 2; i < stamps.Count; i++)
            {
                steps.Add(Stopwatch.GetElapsedTime(stamps[i - 1], stamps[i]).TotalMilliseconds);
            }
        }
        var weights = model.NamedParameters().Select(p => p.Parameter).Where(p => p.Rank == 2).Distinct().ToList();
        long bytes = weights.Sum(w => (long)w.Numel * (w.DType == DType.F32 ? 4 : 2));
        var floor = new List<double>();
        var prefillFloor = new List<double>();
        using (GradMode.NoGrad())
        {
            var inputs = weights.Select(w => Tensor.Full([1, w.Dim(1)], 0.01f)).ToList();
            for (int run = 0; run <= repeats * 3; run++)
            {
                using var scope = TensorScope.Begin();
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < weights.Count; i++)
                {
                    Tensor.Linear(inputs[i], weights[i]);
                }
                if (run > 0)
                {
                    floor.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            }
            // The prefill's share: every matrix but the head (it sees one position) on the whole prompt at once.
            var prompts = weights.Select(w => Tensor.Full([PromptLength, w.Dim(1)], 0.01f)).ToList();
            var head = weights.MaxBy(w => w.Numel)!;
            for (int run = 0; run <= repeats; run++)
            {
                using var scope = TensorScope.Begin();
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < weights.Count; i++)
                {
                    Tensor.Linear(weights[i] == head ? inputs[i] : prompts[i], weights[i]);
                }
                if (run > 0)
                {
                    prefillFloor.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            }
        }
        return new DecodeBreakdown(first, Statistics.Median(prefill), Statistics.Median(prefillFloor), Statistics.Median(steps), Statistics.Median(floor), bytes);
    }
}
