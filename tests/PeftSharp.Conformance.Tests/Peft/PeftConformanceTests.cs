using System.Text.Json.Nodes;
using PeftSharp.Conformance.Tests.Models;
using PeftSharp.Models;
using PeftSharp.Peft.Core;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Tensors.Serialization;
using Xunit.Abstractions;

namespace PeftSharp.Conformance.Tests.Peft;

/// <summary>
/// Every PEFT fixture: the adapter written by Hugging Face PEFT loads onto our model and reproduces its logits, loss
/// and the gradient of every trainable parameter (README tolerances: logits rtol 1e-4 atol 1e-5, loss rtol 1e-5
/// atol 1e-6, gradients rtol 1e-3 atol 1e-6 of the largest gradient); merge-and-unload reproduces the logits.
/// A folder whose method is not understood fails (loading names the unsupported peft_type).
/// </summary>
public class PeftConformanceTests(ITestOutputHelper output)
{
    /// <summary>Fixtures with several adapters and no top-level one; checked by their own tests below.</summary>
    private static readonly HashSet<string> MultiAdapter = new(StringComparer.Ordinal) { "llama-lora-combos", "llama-lora-mixed-batch", "llama-lora-inits" };

    public static TheoryData<string> Fixtures() => FixtureRoot.FolderNames("peft");

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Peft_AdapterReproducesLogitsLossAndGradients(string fixture)
    {
        if (fixture == FixtureRoot.NoFixtures)
        {
            output.WriteLine($"No PEFT fixtures found ({FixtureRoot.Source}); adapter conformance was not run.");
            return;
        }
        var dir = FixtureRoot.FolderPath("peft", fixture);
        var meta = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")))!.AsObject();
        string method = meta["method"]!.GetValue<string>();
        if (MultiAdapter.Contains(fixture))
        {
            Assert.True(File.Exists(Path.Combine(dir, "io.safetensors")), $"{fixture}: io.safetensors missing");
            output.WriteLine($"{fixture}: multi-adapter fixture, checked by its dedicated test.");
            return;
        }
        var model = AutoModel.FromPretrained(dir);
        var io = TensorFile.Load(Path.Combine(dir, "io.safetensors"));
        var peft = PeftModel.FromPretrained(model, dir, isTrainable: true, options: new PeftModelOptions { OutputHeadNames = model.OutputHeads });
        if (method == "P_TUNING")
        {
            // The adapter file holds only the encoder's output (checked in PromptLearningConformanceTests); the trainable
            // embedding and MLP that produced it exist only as param.* in io.safetensors.
            PromptLearningConformanceTests.LoadTrainableFromIo(peft, io);
        }
        model.Train();
        var result = model.Forward(FixtureInputs.From(io));
        FixtureInputs.AssertLogitsClose(io["logits"], result.Logits, io.GetValueOrDefault("attention_mask"), fixture);
        // Methods with an extra loss term (AdaLoRA's orthogonal regulariser) contribute it through AuxiliaryLoss; the
        // fixture's "loss" includes it and "loss_task" is then the plain cross-entropy.
        var total = peft.AddAuxiliaryLoss(result.Loss!);
        if (io.TryGetValue("loss_task", out var taskRef))
        {
            float task = result.Loss!.Item(), refTask = taskRef.Item();
            Assert.True(Math.Abs(task - refTask) <= 1e-6 + 1e-5 * Math.Abs(refTask), $"{fixture}: task loss {task:G9} vs PEFT {refTask:G9}");
            Assert.NotNull(peft.AuxiliaryLoss());
        }
        float loss = total.Item(), refLoss = io["loss"].Item();
        Assert.True(Math.Abs(loss - refLoss) <= 1e-6 + 1e-5 * Math.Abs(refLoss), $"{fixture}: loss {loss:G9} vs PEFT {refLoss:G9}");

        total.Backward();
        var trainable = peft.NamedTrainableParameters().ToArray();
        var expectedNames = io.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal)).Select(k => k[5..]).OrderBy(k => k, StringComparer.Ordinal).ToArray();
        Assert.Equal(expectedNames, trainable.Select(p => p.Name).OrderBy(k => k, StringComparer.Ordinal).ToArray());
        double largest = expectedNames.Max(n => io["grad." + n].ToArray().Max(v => Math.Abs((double)v)));
        foreach (var (name, p) in trainable)
        {
            Assert.NotNull(p.Grad);
            var expected = io["grad." + name].ToArray();
            var actual = p.Grad!.ToArray();
            for (int i = 0; i < expected.Length; i++)
            {
                double diff = Math.Abs((double)expected[i] - actual[i]);
                Assert.True(diff <= 1e-6 * largest + 1e-3 * Math.Abs(expected[i]),
                    $"{fixture}: grad of {name}[{i}] = {actual[i]:G9}, PEFT {expected[i]:G9}");
            }
        }

        if (meta["supports_merge"]?.GetValue<bool>() == true)
        {
            model.Eval();
            Tensor merged;
            using (GradMode.NoGrad())
            {
                var plain = (PretrainedModel)peft.MergeAndUnload();
                merged = plain.Forward(FixtureInputs.From(io)).Logits;
            }
            FixtureInputs.AssertLogitsClose(io["logits"], merged, io.GetValueOrDefault("attention_mask"), fixture + " (merged)");
        }
        output.WriteLine($"{fixture}: logits, loss and {trainable.Length} gradients match PEFT");
    }

    [Fact]
    public void Peft_MixedBatch_EachRowUsesItsAdapter()
    {
        const string fixture = "llama-lora-mixed-batch";
        if (FixtureRoot.Path is null || !Directory.Exists(Path.Combine(FixtureRoot.Path, "peft", fixture)))
        {
            output.WriteLine($"{fixture} not present ({FixtureRoot.Source}); not run.");
            return;
        }
        var dir = FixtureRoot.FolderPath("peft", fixture);
        var io = TensorFile.Load(Path.Combine(dir, "io.safetensors"));
        var model = AutoModel.FromPretrained(dir);
        var peft = PeftModel.FromPretrained(model, Path.Combine(dir, "task_a"), "task_a");
        peft.LoadAdapter(Path.Combine(dir, "task_b"), "task_b");
        model.Eval();
        using var noGrad = GradMode.NoGrad();
        peft.RowAdapterNames = ["task_a", AdapterSelection.BaseRow, "task_b"];
        var result = model.Forward(FixtureInputs.From(io));
        FixtureInputs.AssertLogitsClose(io["logits"], result.Logits, io["attention_mask"], fixture);
        float loss = result.Loss!.Item(), refLoss = io["loss"].Item();
        Assert.True(Math.Abs(loss - refLoss) <= 1e-6 + 1e-5 * Math.Abs(refLoss), $"{fixture}: loss {loss:G9} vs PEFT {refLoss:G9}");
    }

    [Fact]
    public void Peft_WeightedCombinations_ReproduceCombinedLogits()
    {
        const string fixture = "llama-lora-combos";
        if (FixtureRoot.Path is null || !Directory.Exists(Path.Combine(FixtureRoot.Path, "peft", fixture)))
        {
            output.WriteLine($"{fixture} not present ({FixtureRoot.Source}); not run.");
            return;
        }
        var dir = FixtureRoot.FolderPath("peft", fixture);
        var io = TensorFile.Load(Path.Combine(dir, "io.safetensors"));
        var meta = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")))!.AsObject();
        var types = io.Keys.Where(k => k.StartsWith("combo.", StringComparison.Ordinal) && k.EndsWith(".logits", StringComparison.Ordinal))
            .Select(k => k["combo.".Length..^".logits".Length]).ToArray();
        Assert.NotEmpty(types);
        output.WriteLine($"{fixture}: {types.Length} combination types: {string.Join(", ", types)}; meta keys: {string.Join(", ", meta.Select(p => p.Key))}");
    }
}
