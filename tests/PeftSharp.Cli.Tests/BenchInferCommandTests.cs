using static PeftSharp.Cli.Tests.CliHarness;

namespace PeftSharp.Cli.Tests;

public class BenchInferCommandTests
{
    [Theory]
    [InlineData("--weights", "f16", "--weights: 'f16' is not f32, bf16 or both.")]
    [InlineData("--repeat", "0", "--repeat must be at least 1.")]
    public void BadSettings_ExitWithUsageError_BeforeBuildingTheModel(string option, string value, string message)
    {
        var run = Run("bench", "infer", option, value, "--json");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error);
        Assert.Equal("", run.Output.Trim());
    }

    /// <summary>"both" (the documented default) is a valid --weights value: parsing gets past it to the next check.</summary>
    [Fact]
    public void WeightsBoth_IsAccepted()
    {
        var run = Run("bench", "infer", "--weights", "both", "--repeat", "0", "--json");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--repeat must be at least 1.", run.Error);
        Assert.DoesNotContain("--weights", run.Error);
    }
}
