using static PeftSharp.Cli.Tests.CliHarness;

namespace PeftSharp.Cli.Tests;

/// <summary>`peft bench train|infer` reject bad settings with a usage error before building the 109.5M model.</summary>
public class BenchCommandTests
{
    [Theory]
    [InlineData("train", "--targets", "mlp", "--targets: 'mlp' is not attn, all-linear or both.")]
    [InlineData("train", "--weights", "f16", "--weights: 'f16' is not f32, bf16 or both.")]
    [InlineData("train", "--steps", "0", "--steps must be at least 1.")]
    [InlineData("train", "--peak-gflops", "-1", "--peak-gflops must be a finite number ≥ 0.")]
    [InlineData("infer", "--weights", "f16", "--weights: 'f16' is not f32, bf16 or both.")]
    [InlineData("infer", "--repeat", "0", "--repeat must be at least 1.")]
    public void BadSettings_ExitWithUsageError_BeforeBuildingTheModel(string verb, string option, string value, string message)
    {
        var run = Run("bench", verb, option, value, "--json");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error);
        Assert.Equal("", run.Output.Trim());
    }

    /// <summary>"both" (bench infer's documented default) is a valid --weights value: parsing gets past it to the next check.</summary>
    [Fact]
    public void InferWeightsBoth_IsAccepted()
    {
        var run = Run("bench", "infer", "--weights", "both", "--repeat", "0", "--json");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--repeat must be at least 1.", run.Error);
        Assert.DoesNotContain("--weights", run.Error);
    }
}
