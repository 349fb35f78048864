using System.CommandLine;
using System.Text.Json;
using PeftSharp.Cli.Bench;
using PeftSharp.Tensors.Kernels;
using Spectre.Console;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft bench gemm</c>: GFLOP/s of our SGEMM beside OpenBLAS (when installed) on the same shapes, in one run.</summary>
public static class BenchGemmCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON array (a row per shape and thread count) instead of a table." };
        var threads = new Option<string>("--threads") { Description = "Comma-separated thread counts to measure.", DefaultValueFactory = _ => "1,2" };
        var shapes = new Option<string>("--shapes")
        {
            Description = "Comma-separated shape names or groups (square, transformer, lora, decode), or 'all'.",
            DefaultValueFactory = _ => "all",
        };
        var repeat = new Option<int>("--repeat") { Description = "Alternating rounds per shape; the best round of each side is reported.", DefaultValueFactory = _ => 5 };
        var minMs = new Option<double>("--min-ms") { Description = "Minimum duration of one timed round, in milliseconds.", DefaultValueFactory = _ => 100 };
        var noBlas = new Option<bool>("--no-openblas") { Description = "Do not load OpenBLAS even if it is installed." };

        var command = new Command("gemm", "GFLOP/s of the SGEMM kernel at 1 and 2 threads beside OpenBLAS sgemm on square, transformer, LoRA and decode shapes.");
        foreach (Option option in new Option[] { json, threads, shapes, repeat, minMs, noBlas })
        {
            command.Options.Add(option);
        }
        command.SetAction(parse =>
        {
            int[] threadCounts;
            IReadOnlyList<Bench.GemmShape> selected;
            try
            {
                threadCounts = ParseThreads(parse.GetValue(threads) ?? "1,2");
                selected = Bench.GemmShape.Select(parse.GetValue(shapes) ?? "all");
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine(e.Message);
                return 2;
            }
            int rounds = parse.GetValue(repeat);
            double minimum = parse.GetValue(minMs);
            if (rounds < 1 || minimum <= 0)
            {
                Console.Error.WriteLine("--repeat must be at least 1 and --min-ms positive.");
                return 2;
            }
            string reason = "disabled by --no-openblas";
            OpenBlas? blas = parse.GetValue(noBlas) ? null : OpenBlas.TryLoad(out reason);
            var benchmark = new GemmBenchmark(blas, rounds, minimum);
            bool asJson = parse.GetValue(json);
            if (asJson)
            {
                if (blas is null)
                {
                    Console.Error.WriteLine($"OpenBLAS: {reason}; openblas_gflops is null.");
                }
                WriteJson(benchmark.Run(selected, threadCounts));
            }
            else
            {
                AnsiConsole.MarkupLine($"[bold]SGEMM[/] — {Environment.ProcessorCount} logical CPUs, {Gemm.KernelName} kernel, best of {rounds} alternating rounds of ≥ {minimum} ms");
                AnsiConsole.MarkupLine(blas is null ? $"[yellow]OpenBLAS: {Markup.Escape(reason)}[/]" : $"OpenBLAS: {Markup.Escape(blas.Config)}");
                WriteTable(benchmark.Run(selected, threadCounts));
            }
            return 0;
        });
        return command;
    }

    private static int[] ParseThreads(string text)
    {
        var counts = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, out int n) || n < 1 || n > CpuPool.ThreadLimit)
            {
                throw new ArgumentException($"--threads: '{part}' is not a thread count between 1 and {CpuPool.ThreadLimit}.");
            }
            counts.Add(n);
        }
        if (counts.Count == 0)
        {
            throw new ArgumentException("--threads: no thread count given.");
        }
        return [.. counts];
    }

    private static void WriteJson(IEnumerable<GemmResult> results)
    {
        using var stream = Console.OpenStandardOutput();
        using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        writer.WriteStartArray();
        foreach (GemmResult r in results)
        {
            writer.WriteStartObject();
            writer.WriteString("name", r.Name);
            writer.WriteNumber("m", r.M);
            writer.WriteNumber("n", r.N);
            writer.WriteNumber("k", r.K);
            writer.WriteString("transpose", r.Transpose);
            writer.WriteNumber("threads", r.Threads);
            writer.WriteNumber("ours_gflops", r.OursGflops);
            if (r.OpenBlasGflops is double blas)
            {
                writer.WriteNumber("openblas_gflops", blas);
            }
            else
            {
                writer.WriteNull("openblas_gflops");
            }
            writer.WriteEndObject();
            writer.Flush();
        }
        writer.WriteEndArray();
        writer.Flush();
        stream.WriteByte((byte)'\n');
    }

    private static void WriteTable(IEnumerable<GemmResult> results)
    {
        var table = new Table().AddColumns("shape", "M", "N", "K", "op", "threads", "ours GFLOP/s", "OpenBLAS GFLOP/s", "ours/OpenBLAS", "ours GFLOP/CPU-s", "max rel. diff");
        foreach (int i in new[] { 1, 2, 3, 5, 6, 7, 8, 9, 10 })
        {
            table.Columns[i].RightAligned();
        }
        if (Console.IsOutputRedirected)
        {
            // Not a terminal: no live redraws, and a width that fits every column.
            AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 160);
            foreach (GemmResult r in results)
            {
                AddRow(table, r);
            }
            AnsiConsole.Write(table);
            return;
        }
        AnsiConsole.Live(table).Start(context =>
        {
            foreach (GemmResult r in results)
            {
                AddRow(table, r);
                context.Refresh();
            }
        });
    }

    private static void AddRow(Table table, GemmResult r)
    {
        string ratio = r.OpenBlasGflops is double b && b > 0 ? $"{r.OursGflops / b:P0}" : "–";
        table.AddRow(r.Name, $"{r.M}", $"{r.N}", $"{r.K}", r.Transpose, $"{r.Threads}", $"{r.OursGflops:F1}",
            r.OpenBlasGflops is double v ? $"{v:F1}" : "n/a", ratio, $"{r.OursCpuGflops:F1}", double.IsNaN(r.MaxRelativeDifference) ? "–" : $"{r.MaxRelativeDifference:E1}");
    }
}
