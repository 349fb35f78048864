using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using PeftSharp.Tensors;
using PeftSharp.Training.Benchmarks;
using Spectre.Console;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft bench train</c>: LoRA training tokens/s, peak memory, allocation and MFU of the 109.5M-parameter Llama benchmark model.</summary>
public static class BenchTrainCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON line {\"results\": [...]} instead of a table." };
        var targets = new Option<string>("--targets") { Description = "Adapted modules: attn (q/k/v/o_proj), all-linear, or both.", DefaultValueFactory = _ => "attn" };
        var weights = new Option<string>("--weights") { Description = "Storage of the frozen weights: f32, bf16, or both.", DefaultValueFactory = _ => "f32" };
        var steps = new Option<int>("--steps") { Description = "Timed steps after 2 warm-ups; the median is reported.", DefaultValueFactory = _ => 5 };
        var peak = new Option<double>("--peak-gflops") { Description = "FMA peak (GFLOP/s) for the MFU; 0 measures it before the run (the larger of the 2-thread figure and twice the 1-thread one).", DefaultValueFactory = _ => 0 };
        var command = new Command("train",
            "LoRA training steps (forward, backward, AdamW on the adapters) of a Llama model with hidden 768, 12 layers, vocab 32000 (109.5M parameters, random weights): batch 4 × 256, rank 16, alpha 32.");
        foreach (Option option in new Option[] { json, targets, weights, steps, peak })
        {
            command.Options.Add(option);
        }
        command.SetAction(parse =>
        {
            TrainTargets[]? targetList = parse.GetValue(targets) switch
            {
                "attn" => [TrainTargets.Attention],
                "all-linear" => [TrainTargets.AllLinear],
                "both" => [TrainTargets.Attention, TrainTargets.AllLinear],
                _ => null,
            };
            if (targetList is null)
            {
                Console.Error.WriteLine($"--targets: '{parse.GetValue(targets)}' is not attn, all-linear or both.");
                return 2;
            }
            DType[]? kinds = parse.GetValue(weights) switch
            {
                "f32" => [DType.F32],
                "bf16" => [DType.BF16],
                "both" => [DType.F32, DType.BF16],
                _ => null,
            };
            if (kinds is null)
            {
                Console.Error.WriteLine($"--weights: '{parse.GetValue(weights)}' is not f32, bf16 or both.");
                return 2;
            }
            int timed = parse.GetValue(steps);
            if (timed < 1)
            {
                Console.Error.WriteLine("--steps must be at least 1.");
                return 2;
            }
            bool asJson = parse.GetValue(json);
            Action<string> log = asJson ? Console.Error.WriteLine : m => AnsiConsole.MarkupLine(Markup.Escape(m));
            double peakGflops = parse.GetValue(peak);
            if (!(peakGflops >= 0) || double.IsInfinity(peakGflops))
            {
                Console.Error.WriteLine("--peak-gflops must be a finite number ≥ 0.");
                return 2;
            }
            FmaPeakResult? measured = null;
            if (peakGflops == 0)
            {
                measured = FmaPeak.Measure();
                peakGflops = measured.PeakGflops;
                log(string.Create(CultureInfo.InvariantCulture, $"FMA peak ({measured.Isa}): {measured.OneThreadGflops:F1} GFLOP/s on 1 thread, {measured.TwoThreadGflops:F1} on 2; MFU against {peakGflops:F1}"));
            }
            var results = new List<TrainResult>();
            foreach (var t in targetList)
            {
                foreach (var kind in kinds)
                {
                    results.Add(TrainBenchmark.Run(new TrainBenchmarkOptions { Targets = t, Weights = kind, TimedSteps = timed, PeakGflops = peakGflops, ProfiledSteps = asJson ? 0 : 2 }, log));
                }
            }
            if (asJson)
            {
                WriteJson(results, peakGflops, measured);
                return 0;
            }
            var table = new Table().AddColumns("targets", "weights", "trainable", "tokens/s", "step s (median)", "peak RSS MiB", "alloc/step", "MFU");
            foreach (var r in results)
            {
                table.AddRow(r.Targets, r.Weights, $"{r.TrainableParameters:N0}", $"{r.TokensPerSecond:F1}", $"{r.StepSecondsMedian:F3}",
                    $"{r.PeakRssMib:F0}{(r.PeakRssSinceBuild ? "" : " (process)")}", $"{r.AllocatedBytesPerStep / 1024:F0} KiB", $"{r.Mfu:P1}");
            }
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"MFU = model FLOPs per token × tokens/s ÷ {peakGflops:F1} GFLOP/s; peak RSS from after the model was built (weights included).")));
            foreach (var r in results.Where(r => r.Breakdown is not null))
            {
                var b = r.Breakdown!;
                var parts = new Table().AddColumns($"{r.Targets}/{r.Weights}: where a step's time goes", "s/step", "share");
                foreach (var (name, s) in new[] { ("GEMM (linear, lora_linear, matmul)", b.Gemm), ("attention", b.Attention), ("elementwise, norms, loss", b.Elementwise), ("optimizer (AdamW + zero grad)", b.Optimizer), ("overhead (unattributed)", b.Overhead) })
                {
                    parts.AddRow(name, $"{s:F3}", $"{s / b.Step:P1}");
                }
                parts.AddRow("step (profiled)", $"{b.Step:F3}", "100%");
                AnsiConsole.Write(parts);
                var ops = new Table().AddColumns("op", "forward s/step", "backward s/step", "calls/step");
                foreach (var op in b.Ops.Take(12))
                {
                    ops.AddRow(op.Op, $"{op.ForwardSeconds:F4}", $"{op.BackwardSeconds:F4}", $"{op.ForwardCalls}");
                }
                AnsiConsole.Write(ops);
            }
            return 0;
        });
        return command;
    }

    private static void WriteJson(IReadOnlyList<TrainResult> results, double peakGflops, FmaPeakResult? measured)
    {
        using var stream = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("results");
            foreach (var r in results)
            {
                writer.WriteStartObject();
                writer.WriteString("targets", r.Targets);
                writer.WriteString("weights", r.Weights);
                writer.WriteNumber("train_tokens_per_s", Math.Round(r.TokensPerSecond, 2));
                writer.WriteNumber("train_step_s_median", Math.Round(r.StepSecondsMedian, 4));
                writer.WriteStartArray("train_step_s");
                foreach (double t in r.StepSeconds)
                {
                    writer.WriteNumberValue(Math.Round(t, 4));
                }
                writer.WriteEndArray();
                BenchCommand.WritePeakRss(writer, r.PeakRssMib);
                writer.WriteNumber("allocated_bytes_per_step", Math.Round(r.AllocatedBytesPerStep));
                writer.WriteNumber("mfu", Math.Round(r.Mfu, 4));
                writer.WriteNumber("trainable_parameters", r.TrainableParameters);
                writer.WriteNumber("flops_per_token", r.FlopsPerToken);
                writer.WriteNumber("peak_gflops", Math.Round(peakGflops, 1));
                writer.WriteNumber("loss", Math.Round(r.FinalLoss, 5));
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            if (measured is not null)
            {
                writer.WriteStartObject("fma_peak");
                writer.WriteString("isa", measured.Isa);
                writer.WriteNumber("gflops_1_thread", Math.Round(measured.OneThreadGflops, 1));
                writer.WriteNumber("gflops_2_threads", Math.Round(measured.TwoThreadGflops, 1));
                writer.WriteNumber("peak_gflops", Math.Round(measured.PeakGflops, 1));
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
    }
}
