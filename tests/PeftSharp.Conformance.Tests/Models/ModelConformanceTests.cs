using PeftSharp.Models;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Tensors.Serialization;
using Xunit.Abstractions;

namespace PeftSharp.Conformance.Tests.Models;

/// <summary>
/// Every base model in the PEFT fixtures must reproduce transformers' base_logits and base_loss within the
/// fixture README's tolerances (logits rtol 1e-4 atol 1e-5; loss rtol 1e-5 atol 1e-6). Logits are compared at
/// positions whose attention_mask is 1 (the README allows this: padded positions depend on masking conventions).
/// </summary>
public class ModelConformanceTests(ITestOutputHelper output)
{
    public static TheoryData<string> Fixtures() => FixtureRoot.FolderNames("peft");

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Model_BaseLogitsAndLoss_MatchTransformers(string fixture)
    {
        if (fixture == FixtureRoot.NoFixtures)
        {
            output.WriteLine($"No PEFT fixtures found ({FixtureRoot.Source}); base-model conformance was not run.");
            return;
        }
        var dir = FixtureRoot.FolderPath("peft", fixture);
        output.WriteLine($"fixture root: {FixtureRoot.Source}");
        var model = AutoModel.FromPretrained(dir);
        model.Eval();
        var io = TensorFile.Load(Path.Combine(dir, "io.safetensors"));
        var input = FixtureInputs.From(io);
        ModelOutput result;
        using (GradMode.NoGrad())
        {
            result = model.Forward(input);
        }
        var expected = io["base_logits"];
        Assert.Equal(expected.Shape.ToArray(), result.Logits.Shape.ToArray());
        FixtureInputs.AssertLogitsClose(expected, result.Logits, io.GetValueOrDefault("attention_mask"), fixture);
        Assert.NotNull(result.Loss);
        float loss = result.Loss!.Item(), refLoss = io["base_loss"].Item();
        Assert.True(Math.Abs(loss - refLoss) <= 1e-6 + 1e-5 * Math.Abs(refLoss), $"{fixture}: loss {loss:G9} vs transformers {refLoss:G9}");
    }
}

/// <summary>Reads fixture inputs and compares logits with the README's tolerances.</summary>
public static class FixtureInputs
{
    public static ModelInput From(IReadOnlyDictionary<string, Tensor> io) => new()
    {
        InputIds = io["input_ids"],
        AttentionMask = io.GetValueOrDefault("attention_mask"),
        Labels = io.GetValueOrDefault("labels"),
    };

    public static void AssertLogitsClose(Tensor expected, Tensor actual, Tensor? mask, string what, double rtol = 1e-4, double atol = 1e-5)
    {
        var e = expected.ToArray();
        var a = actual.ToArray();
        int[]? m = mask?.ToIntArray();
        int b = expected.Dim(0);
        int rowLen = e.Length / b;
        int v = expected.Dim(-1);
        int len = expected.Rank == 3 ? expected.Dim(1) : 1;
        int offset = mask is not null && expected.Rank == 3 ? len - mask.Dim(1) : 0; // virtual tokens come first
        double worst = 0;
        for (int i = 0; i < e.Length; i++)
        {
            int row = i / rowLen;
            int pos = (i % rowLen) / v;
            if (m is not null && expected.Rank == 3 && pos >= offset && m[row * mask!.Dim(1) + pos - offset] == 0)
            {
                continue;
            }
            double diff = Math.Abs((double)e[i] - a[i]);
            worst = Math.Max(worst, diff);
            Assert.True(diff <= atol + rtol * Math.Abs(e[i]), $"{what}: logit {i} (row {row}, position {pos}) = {a[i]:G9}, expected {e[i]:G9}");
        }
    }
}
