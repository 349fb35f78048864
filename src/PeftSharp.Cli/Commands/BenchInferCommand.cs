using System.CommandLine;
using System.Text.Json;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Kernels;
using PeftSharp.Training.Benchmarks;
using Spectre.Console;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft bench infer</c>: forward and generation tokens/s and peak memory of the 109.5M-parameter Llama benchmark model.</summary>
public static class BenchInferCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON line {\"results\": [...]} instead of a table." };
        var weights = new Option<string>("--weights") { Description = "Weight storage to measure: f32, bf16, or both (default: both, f32 first)." };
        var repeat = new Option<int>("--repeat") { Description = "Timed runs of each measurement after one warm-up; the median is reported.", DefaultValueFactory = _ => 3 };
        var breakdown = new Option<bool>("--breakdown") { Description = "Instead: prefill time, decode step time and the weight-streaming floor of a step (every weight matrix once through the M = 1 GEMV)." };
        var command = new Command("infer",
            "Forward (no grad, batch 4 × 256) and generate (batch 1, 32-token prompt, 64 new tokens with the KV cache) tokens/s and peak RSS of a Llama model with hidden 768, 12 layers, vocab 32000 (109.5M parameters, random weights).");
        foreach (Option option in new Option[] { json, weights, repeat, breakdown })
        {
            command.Options.Add(option);
        }
        command.SetAction(parse =>
        {
            DType[] kinds;
            switch (parse.GetValue(weights))
            {
                case null or "both": kinds = [DType.F32, DType.BF16]; break;
                case "f32": kinds = [DType.F32]; break;
                case "bf16": kinds = [DType.BF16]; break;
                case var other:
                    Console.Error.WriteLine($"--weights: '{other}' is not f32, bf16 or both.");
                    return 2;
            }
            int repeats = parse.GetValue(repeat);
            if (repeats < 1)
            {
                Console.Error.WriteLine("--repeat must be at least 1.");
                return 2;
            }
            if (parse.GetValue(breakdown))
            {
                foreach (var kind in kinds)
                {
                    var model = InferBenchmark.Build(kind);
                    var b = InferBenchmark.MeasureBreakdown(model, repeats);
                    Console.WriteLine(FormattableString.Invariant(
                        $"{kind.ToString().ToLowerInvariant()} threads {CpuPool.MaxThreads}: prefill {b.PrefillMs:F1} ms (weight GEMMs {b.PrefillGemmMs:F1} ms), decode step {b.DecodeStepMs:F2} ms, weight GEMVs {b.WeightGemvMs:F2} ms ({b.WeightBytes / 1e6:F0} MB, {b.GemvGigabytesPerSecond:F1} GB/s), step/floor {b.DecodeStepMs / b.WeightGemvMs:F2}; first call {b.FirstCallMs:F0} ms"));
                }
                return 0;
            }
            bool asJson = parse.GetValue(json);
            var results = new List<InferResult>();
            foreach (var kind in kinds)
            {
                results.Add(InferBenchmark.Run(kind, repeats, asJson ? Console.Error.WriteLine : m => AnsiConsole.MarkupLine(Markup.Escape(m))));
            }
            if (asJson)
            {
                WriteJson(results);
            }
            else
            {
                var table = new Table().AddColumns("weights", "forward tok/s", "generate tok/s", "peak RSS MiB");
                foreach (var r in results)
                {
                    table.AddRow(r.Weights, $"{r.ForwardTokensPerSecond:F1}", $"{r.GenerateTokensPerSecond:F2}", $"{r.PeakRssMib:F0}{(r.PeakRssSinceBuild ? "" : " (process)")}");
                }
                AnsiConsole.Write(table);
                AnsiConsole.MarkupLine($"{Environment.ProcessorCount} logical CPUs; peak RSS is measured from after the model was built{(results.TrueForAll(r => r.PeakRssSinceBuild) ? "" : " where /proc/self/clear_refs allows, else for the whole process")}.");
            }
            return 0;
        });
        return command;
    }

    private static void WriteJson(IReadOnlyList<InferResult> results)
    {
        using var stream = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("results");
            foreach (var r in results)
            {
                writer.WriteStartObject();
                writer.WriteString("weights", r.Weights);
                writer.WriteNumber("forward_tokens_per_s", Math.Round(r.ForwardTokensPerSecond, 2));
                writer.WriteNumber("generate_tokens_per_s", Math.Round(r.GenerateTokensPerSecond, 3));
                BenchCommand.WritePeakRss(writer, r.PeakRssMib);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
    }
}
