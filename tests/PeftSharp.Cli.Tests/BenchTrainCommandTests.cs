using static PeftSharp.Cli.Tests.CliHarness;

namespace PeftSharp.Cli.Tests;

public class BenchTrainCommandTests
{
    [Theory]
    [InlineData("--targets", "mlp", "--targets: 'mlp' is not attn, all-linear or both.")]
    [InlineData("--weights", "f16", "--weights: 'f16' is not f32, bf16 or both.")]
    [InlineData("--steps", "0", "--steps must be at least 1.")]
    [InlineData("--peak-gflops", "-1", "--peak-gflops must be a finite number ≥ 0.")]
    public void BadSettings_ExitWithUsageError_BeforeBuildingTheModel(string option, string value, string message)
    {
        var run = Run("bench", "train", option, value, "--json");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error);
        Assert.Equal("", run.Output.Trim());
    }
}
