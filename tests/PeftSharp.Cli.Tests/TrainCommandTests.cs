using System.Text.Json.Nodes;
using PeftSharp.Models;
using PeftSharp.Peft.Core;
using static PeftSharp.Cli.Tests.CliHarness;

namespace PeftSharp.Cli.Tests;

public class TrainCommandTests
{
    private static string[] TrainArgs(string data, string output, params string[] extra) =>
    [
        "train", "--model", TinyLlama, "--data", data, "--output", output, "--batch-size", "8", "--r", "4",
        "--target-modules", "all-linear", "--lr", "1e-2", "--scheduler", "constant", "--seed", "3", .. extra,
    ];

    private static double EvalLoss(string data, params string[] adapters)
    {
        var args = new List<string> { "eval", "--model", TinyLlama, "--data", data, "--json" };
        foreach (var a in adapters)
        {
            args.AddRange(["--adapter", a]);
        }
        var run = Run([.. args]);
        Assert.True(run.ExitCode == 0, run.All);
        var json = JsonNode.Parse(run.Output.Trim().Split('\n')[^1])!;
        return json["loss"]!.GetValue<double>();
    }

    [Fact]
    public void Train_FewSteps_ReduceLossAndWriteAdapterMetricsAndCurve()
    {
        var dir = TempDir("train");
        var data = WriteTextData(dir);
        var output = Path.Combine(dir, "out");
        var run = Run(TrainArgs(data, output, "--max-steps", "10"));
        Assert.True(run.ExitCode == 0, run.All);
        Assert.Contains("Final train loss", run.Output);
        Assert.True(File.Exists(Path.Combine(output, "adapter", "adapter_config.json")), run.All);
        Assert.True(File.Exists(Path.Combine(output, "adapter", "adapter_model.safetensors")));
        Assert.True(File.Exists(Path.Combine(output, "metrics.jsonl")));
        Assert.True(File.Exists(Path.Combine(output, "loss_curve.svg")));
        Assert.True(File.Exists(Path.Combine(output, "train_config.json")));

        // Scored by the eval verb, independently of the trainer's own numbers: the same data, base vs adapted.
        double before = EvalLoss(data);
        double after = EvalLoss(data, Path.Combine(output, "adapter"));
        // Cross-entropy starts near ln(vocab) ≈ 8.7 on the random base; ten steps must remove a clear part of it.
        Assert.True(after < before - 0.5, $"loss before {before:F4}, after {after:F4}");
    }

    [Fact]
    public void Cancel_LeavesLoadableCheckpoint_AndResumeContinuesExactly()
    {
        var dir = TempDir("resume");
        var data = WriteTextData(dir);
        var straight = Path.Combine(dir, "straight");
        var interrupted = Path.Combine(dir, "interrupted");
        // Dropout makes the run depend on generator state, which the checkpoint must restore too.
        string[] settings = ["--max-steps", "6", "--dropout", "0.1"];

        var a = Run(TrainArgs(data, straight, settings));
        Assert.True(a.ExitCode == 0, a.All);

        var b = Run(TrainArgs(data, interrupted, settings), (line, cts) =>
        {
            if (line.Contains("step 3/6", StringComparison.Ordinal))
            {
                cts.Cancel();
            }
        });
        Assert.True(b.ExitCode == 130, b.All);
        Assert.Contains("--resume", b.Output);
        var checkpoint = Path.Combine(interrupted, "checkpoint-3");
        Assert.True(Directory.Exists(checkpoint), b.All);
        Assert.False(Directory.Exists(Path.Combine(interrupted, "adapter")));

        // The checkpoint is an adapter folder Hugging Face's layout loader accepts.
        var model = AutoModel.FromPretrained(TinyLlama);
        var peft = PeftModel.FromPretrained(model, checkpoint);
        Assert.NotEmpty(peft.AdapterLayers());

        var c = Run(TrainArgs(data, interrupted, [.. settings, "--resume"]));
        Assert.True(c.ExitCode == 0, c.All);
        Assert.Contains("resumed from", c.Output);
        var expected = File.ReadAllBytes(Path.Combine(straight, "adapter", "adapter_model.safetensors"));
        var actual = File.ReadAllBytes(Path.Combine(interrupted, "adapter", "adapter_model.safetensors"));
        Assert.Equal(expected, actual);
        // Guard: the last three steps changed the weights, so equality is not an accident of an early stop.
        Assert.NotEqual(expected, File.ReadAllBytes(Path.Combine(checkpoint, "adapter_model.safetensors")));
    }

    [Fact]
    public void MalformedDataLine_IsReportedWithItsLineNumber()
    {
        var dir = TempDir("bad-data");
        var data = Path.Combine(dir, "train.jsonl");
        File.WriteAllLines(data, ["{\"text\": \"the cat sat .\"}", "{\"text\": \"a dog ran .\"}", "{\"text\": 5}", "{\"text\": \"the bird .\"}"]);
        var run = Run("train", "--model", TinyLlama, "--data", data, "--output", Path.Combine(dir, "out"), "--max-steps", "1", "--batch-size", "2");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("line 3", run.Error);
        Assert.Contains("--skip-bad-lines", run.Error);
        Assert.DoesNotContain("   at ", run.All);

        var skipped = Run("train", "--model", TinyLlama, "--data", data, "--output", Path.Combine(dir, "out2"), "--max-steps", "1", "--batch-size", "2", "--skip-bad-lines");
        Assert.True(skipped.ExitCode == 0, skipped.All);
        Assert.Contains("skipped 1 malformed line", skipped.Output);
    }

    [Fact]
    public void ConfigFile_KeysMirrorFlags_AndFlagsOverrideIt()
    {
        var dir = TempDir("config");
        WriteTextData(dir, "data.jsonl", 16);
        var config = Path.Combine(dir, "run.json");
        File.WriteAllText(config, """{"model": "MODEL", "data": "data.jsonl", "output": "out", "max-steps": 2, "lr": 0.003, "r": 2, "batch_size": 4}""".Replace("MODEL", TinyLlama.Replace("\\", "\\\\")));
        var run = Run("train", "--config", config, "--max-steps", "3");
        Assert.True(run.ExitCode == 0, run.All);
        var written = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "out", "train_config.json")))!;
        Assert.Equal(3, written["max-steps"]!.GetValue<long>());
        Assert.Equal(0.003, written["lr"]!.GetValue<double>());
        Assert.Equal(4, written["batch-size"]!.GetValue<int>());
        var adapter = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "out", "adapter", "adapter_config.json")))!;
        Assert.Equal(2, adapter["r"]!.GetValue<int>());

        File.WriteAllText(config, """{"model": "x", "lernrate": 1, "data": "d"}""");
        var bad = Run("train", "--config", config);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("\"lernrate\"", bad.Error);
        Assert.Contains("lr", bad.Error);
    }

    [Fact]
    public void DivergedLoss_StopsWithTheLastCheckpointIntact_AndNamesIt()
    {
        var dir = TempDir("diverge");
        var data = WriteTextData(dir);
        var output = Path.Combine(dir, "out");
        string[] common = ["train", "--model", TinyLlama, "--data", data, "--output", output, "--max-steps", "4", "--optimizer", "sgd",
            "--max-grad-norm", "0", "--save-every", "1", "--target-modules", "all-linear"];
        var run = Run([.. common, "--lr", "1e36"]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("diverged at step 2", run.Error);
        Assert.Contains("checkpoint-1", run.Error);
        Assert.DoesNotContain("   at ", run.All);
        Assert.False(Directory.Exists(Path.Combine(output, "checkpoint-2")));

        // The checkpoint's learning rate may change on resume (the step size is not part of the run's identity).
        var resumed = Run([.. common, "--lr", "1e36", "--resume"]);
        Assert.Equal(1, resumed.ExitCode);
        Assert.Contains("resumed from", resumed.Output);
    }

    [Theory]
    [InlineData(new[] { "train", "--data", "d.jsonl", "--output", "o" }, "model is required")]
    [InlineData(new[] { "train", "--model", "m", "--r", "many" }, "many")]
    [InlineData(new[] { "train", "--model", "/nonexistent/model", "--data", "d.jsonl", "--output", "o", "--method", "prefix" }, "not lora, dora or ia3")]
    [InlineData(new[] { "eval", "--model", "/nonexistent/model", "--data", "/nonexistent/d.jsonl" }, "does not exist")]
    [InlineData(new[] { "merge", "--model", "m", "--output", "o" }, "--adapter")]
    [InlineData(new[] { "inspect", "/nonexistent/folder" }, "does not exist")]
    [InlineData(new[] { "generate", "--model", "/nonexistent/model", "--prompt", "hi" }, "does not exist")]
    public void BadArguments_FailWithAMessageAndNoStackTrace(string[] args, string expected)
    {
        var run = Run(args);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains(expected, run.All);
        Assert.DoesNotContain("   at ", run.All);
    }

    [Fact]
    public void MissingAdapterFolder_FailsCleanly()
    {
        var run = Run("generate", "--model", TinyLlama, "--adapter", "/nonexistent/adapter", "--prompt", "the cat", "--max-new-tokens", "2");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("/nonexistent/adapter", run.Error);
        Assert.DoesNotContain("   at ", run.All);
    }
}
