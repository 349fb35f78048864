using PeftSharp.Tensors;
using PeftSharp.Tensors.Serialization;
using PeftSharp.Training.Optimizers;
using Xunit.Abstractions;

namespace PeftSharp.Training.Tests.Optimizers;

/// <summary>AdamW against torch.optim.AdamW: the fixtures' <c>after_step.*</c> values from their <c>param.*</c>/<c>grad.*</c>.</summary>
public class AdamWFixtureTests(ITestOutputHelper output)
{
    private const string NoFixtures = "(no fixtures)";
    private const string AfterStep = "after_step.";

    public static TheoryData<string> Fixtures()
    {
        var data = new TheoryData<string>();
        if (FixturePaths.Root is { } root && Directory.Exists(Path.Combine(root, "peft")))
        {
            foreach (var dir in Directory.GetDirectories(Path.Combine(root, "peft")).OrderBy(d => d, StringComparer.Ordinal))
            {
                var io = Path.Combine(dir, "io.safetensors");
                if (!File.Exists(io))
                {
                    continue;
                }
                using var file = SafetensorsCheckpoint.Open(io);
                if (file.Tensors.Any(t => t.Name.StartsWith(AfterStep, StringComparison.Ordinal)))
                {
                    data.Add(Path.GetFileName(dir));
                }
            }
        }
        if (data.Count == 0)
        {
            data.Add(NoFixtures);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void OneStep_MatchesTorchAdamW(string fixture)
    {
        if (fixture == NoFixtures)
        {
            output.WriteLine($"AdamW fixture comparison not run: {FixturePaths.Describe()}.");
            return;
        }
        var io = TensorFile.Load(Path.Combine(FixturePaths.Root!, "peft", fixture, "io.safetensors"));
        var names = io.Keys.Where(k => k.StartsWith(AfterStep, StringComparison.Ordinal)).Select(k => k[AfterStep.Length..]).Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(names);
        var parameters = new List<(string, Tensor)>();
        foreach (var name in names)
        {
            var p = Tensor.FromArray(io["param." + name].ToArray(), io["param." + name].Shape.ToArray());
            p.RequiresGrad = true;
            p.Grad = Tensor.FromArray(io["grad." + name].ToArray(), io["grad." + name].Shape.ToArray());
            parameters.Add((name, p));
        }
        // The fixture's hyperparameters (README "AdamW step").
        var adam = new AdamW(parameters, learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01);
        adam.Step();

        // README tolerance for after_step.*: rtol 1e-5, atol 1e-6.
        int checkedValues = 0;
        foreach (var (name, p) in parameters)
        {
            var expected = io[AfterStep + name].ToArray();
            var actual = p.ToArray();
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++)
            {
                double err = Math.Abs(actual[i] - expected[i]);
                Assert.True(err <= 1e-6 + 1e-5 * Math.Abs(expected[i]), $"{fixture} {name}[{i}]: {actual[i]} vs torch {expected[i]} (|diff| {err:g3})");
            }
            checkedValues += expected.Length;
        }
        output.WriteLine($"{fixture}: {parameters.Count} parameters, {checkedValues} values within tolerance.");
    }
}
