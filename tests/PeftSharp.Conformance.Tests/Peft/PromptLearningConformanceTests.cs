using System.Text.Json.Nodes;
using PeftSharp.Conformance.Tests.Models;
using PeftSharp.Models;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.PrefixTuning;
using PeftSharp.Peft.Methods.PromptLearning;
using PeftSharp.Peft.Methods.PromptTuning;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Tensors.Serialization;
using Xunit.Abstractions;

namespace PeftSharp.Conformance.Tests.Peft;

/// <summary>
/// The prompt-learning fixtures beyond the shared logits/gradient check: the adapter file alone, loaded for inference,
/// reproduces PEFT's logits and loss (README tolerances: logits rtol 1e-4 atol 1e-5, loss rtol 1e-5 atol 1e-6); the
/// p-tuning encoder computes the file's prompt_embeddings from io's parameters; saving writes PEFT's config fields and
/// the same tensor; merging is refused by name.
/// </summary>
public class PromptLearningConformanceTests(ITestOutputHelper output)
{
    public static TheoryData<string> Fixtures() => ["llama-prompt-tuning", "llama-prefix-tuning", "llama-p-tuning"];

    /// <summary>Copies io's param.* values into the model's trainable parameters; the two name sets must agree.</summary>
    internal static void LoadTrainableFromIo(PeftModel peft, IReadOnlyDictionary<string, Tensor> io)
    {
        var trainable = peft.NamedTrainableParameters().ToArray();
        var expected = io.Keys.Where(k => k.StartsWith("param.", StringComparison.Ordinal)).Select(k => k[6..]).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, trainable.Select(p => p.Name).Order(StringComparer.Ordinal).ToArray());
        foreach (var (name, p) in trainable)
        {
            var v = io["param." + name];
            Assert.True(v.Shape.SequenceEqual(p.Shape), $"param.{name} is {Shapes.Format(v.Shape)}, the model's {Shapes.Format(p.Shape)}");
            v.ToArray().CopyTo(p.Span);
        }
    }

    private static string? Dir(string fixture) =>
        FixtureRoot.Path is { } root && Directory.Exists(Path.Combine(root, "peft", fixture)) ? Path.Combine(root, "peft", fixture) : null;

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void PromptLearning_FileLoadedForInference_ReproducesLogitsAndLoss(string fixture)
    {
        if (Dir(fixture) is not { } dir)
        {
            output.WriteLine($"{fixture} not present ({FixtureRoot.Source}); not run.");
            return;
        }
        var io = TensorFile.Load(Path.Combine(dir, "io.safetensors"));
        var model = AutoModel.FromPretrained(dir);
        var peft = PeftModel.FromPretrained(model, dir);
        Assert.Empty(peft.NamedTrainableParameters());
        model.Eval();
        using var _ = GradMode.NoGrad();
        var result = model.Forward(FixtureInputs.From(io));
        Assert.Equal(io["logits"].Shape.ToArray(), result.Logits.Shape.ToArray());
        FixtureInputs.AssertLogitsClose(io["logits"], result.Logits, io["attention_mask"], fixture);
        float loss = result.Loss!.Item(), refLoss = io["loss"].Item();
        Assert.True(Math.Abs(loss - refLoss) <= 1e-6 + 1e-5 * Math.Abs(refLoss), $"{fixture}: loss {loss:G9} vs PEFT {refLoss:G9}");

        using (peft.DisableAdapters())
        {
            var plain = model.Forward(FixtureInputs.From(io));
            FixtureInputs.AssertLogitsClose(io["base_logits"], plain.Logits, io["attention_mask"], fixture + " (disabled)");
        }
    }

    [Theory]
    [InlineData("llama-prefix-tuning")]
    [InlineData("llama-prompt-tuning")]
    public void PromptLearning_TwoStepsThroughACache_ReproduceOnePass(string fixture)
    {
        if (Dir(fixture) is not { } dir)
        {
            output.WriteLine($"{fixture} not present ({FixtureRoot.Source}); not run.");
            return;
        }
        var io = TensorFile.Load(Path.Combine(dir, "io.safetensors"));
        var model = (CausalLanguageModel)AutoModel.FromPretrained(dir);
        var peft = PeftModel.FromPretrained(model, dir);
        Assert.Equal(PeftModel.DefaultAdapterName, peft.ActiveAdapters.Single());
        model.Eval();
        using var noGrad = GradMode.NoGrad();
        var ids = io["input_ids"];
        var mask = io["attention_mask"];
        int b = ids.Dim(0), t = ids.Dim(1), first = 10, n = 4;
        int virtualInLogits = io["logits"].Dim(1) - t;
        var cache = new KvCache(model.NumLayers);
        var a = model.Forward(new ModelInput { InputIds = ids.Narrow(1, 0, first).Contiguous(), AttentionMask = mask.Narrow(1, 0, first).Contiguous(), Cache = cache }).Logits;
        Assert.Equal(n + first, cache.Length);
        // The second step sees the virtual positions in the cache, so its mask covers them.
        var m = mask.ToIntArray();
        var fullMask = Tensor.FromInts(Enumerable.Range(0, b).SelectMany(r => Enumerable.Repeat(1, n).Concat(m.Skip(r * t).Take(t))).ToArray(), b, n + t);
        var c = model.Forward(new ModelInput { InputIds = ids.Narrow(1, first, t - first).Contiguous(), AttentionMask = fullMask.Contiguous(), Cache = cache }).Logits;
        var joined = Tensor.Cat([a, c], 1);
        FixtureInputs.AssertLogitsClose(io["logits"], joined, mask, fixture + " (two steps)");
        Assert.Equal(virtualInLogits + t, joined.Dim(1));
    }

    /// <summary>
    /// GPT-2 takes virtual tokens too: its output with an adapter equals the base model run on the virtual tokens spelled
    /// out by hand (embeddings concatenated; a cache filled by index arithmetic from the table), exactly, since the same
    /// float32 operations run on the same values.
    /// </summary>
    [Fact]
    public void Gpt2_VirtualTokens_EqualTheBaseModelWithThemSpelledOut()
    {
        if (Dir("gpt2-lora") is not { } dir)
        {
            output.WriteLine($"gpt2-lora not present ({FixtureRoot.Source}); not run.");
            return;
        }
        var io = TensorFile.Load(Path.Combine(dir, "io.safetensors"));
        var ids = io["input_ids"];
        var mask = io["attention_mask"];
        int b = ids.Dim(0), t = ids.Dim(1), n = 3;
        var m = mask.ToIntArray();
        var extended = Tensor.FromInts(Enumerable.Range(0, b).SelectMany(r => Enumerable.Repeat(1, n).Concat(m.Skip(r * t).Take(t))).ToArray(), b, n + t);
        using var noGrad = GradMode.NoGrad();

        var model = (CausalLanguageModel)AutoModel.FromPretrained(dir);
        model.Eval();
        var peft = PeftModel.Create(model, new PromptTuningConfig { NumVirtualTokens = n });
        var table = peft.PromptEncoderOf("default").Embedding.Weight;
        var got = model.Forward(new ModelInput { InputIds = ids, AttentionMask = mask }).Logits;
        Tensor manual;
        using (peft.DisableAdapters())
        {
            var embeds = Tensor.Cat([table.Reshape(1, n, model.HiddenSize).Expand(b, n, model.HiddenSize), model.InputEmbeddings.Forward(ids)], 1);
            manual = model.Forward(new ModelInput { InputsEmbeds = embeds, AttentionMask = extended }).Logits;
        }
        Assert.Equal(manual.Shape.ToArray(), got.Shape.ToArray());
        Assert.Equal(manual.ToArray(), got.ToArray());

        var model2 = (CausalLanguageModel)AutoModel.FromPretrained(dir);
        model2.Eval();
        var peft2 = PeftModel.Create(model2, new PrefixTuningConfig { NumVirtualTokens = n });
        var x = peft2.PromptEncoderOf("default").Embedding.Weight.ToArray();
        var got2 = model2.Forward(new ModelInput { InputIds = ids, AttentionMask = mask }).Logits;
        var (heads, d) = model2.KvShape;
        int layers = model2.NumLayers, width = layers * 2 * heads * d;
        var cache = new KvCache(layers);
        for (int l = 0; l < layers; l++)
        {
            var k = new float[b * heads * n * d];
            var v = new float[k.Length];
            for (int r = 0; r < b; r++)
            {
                for (int h = 0; h < heads; h++)
                {
                    for (int i = 0; i < n; i++)
                    {
                        for (int j = 0; j < d; j++)
                        {
                            int at = ((r * heads + h) * n + i) * d + j;
                            k[at] = x[i * width + ((2 * l) * heads + h) * d + j];
                            v[at] = x[i * width + ((2 * l + 1) * heads + h) * d + j];
                        }
                    }
                }
            }
            cache.Set(l, Tensor.Wrap(k, b, heads, n, d), Tensor.Wrap(v, b, heads, n, d));
        }
        Tensor manual2, plain;
        using (peft2.DisableAdapters())
        {
            manual2 = model2.Forward(new ModelInput { InputIds = ids, AttentionMask = extended, Cache = cache }).Logits;
            plain = model2.Forward(new ModelInput { InputIds = ids, AttentionMask = mask }).Logits;
        }
        Assert.Equal(manual2.ToArray(), got2.ToArray());
        Assert.NotEqual(plain.ToArray(), got2.ToArray());
    }

    [Fact]
    public void PTuning_EncoderFromIoParameters_ProducesTheSavedPromptEmbeddings()
    {
        const string fixture = "llama-p-tuning";
        if (Dir(fixture) is not { } dir)
        {
            output.WriteLine($"{fixture} not present ({FixtureRoot.Source}); not run.");
            return;
        }
        var io = TensorFile.Load(Path.Combine(dir, "io.safetensors"));
        var file = TensorFile.Load(Path.Combine(dir, "adapter_model.safetensors"));
        var peft = PeftModel.FromPretrained(AutoModel.FromPretrained(dir), dir, isTrainable: true);
        LoadTrainableFromIo(peft, io);
        var ours = peft.AdapterStateDict(PeftModel.DefaultAdapterName)[PeftModel.PromptEmbeddingsKey].ToArray();
        var theirs = file[PeftModel.PromptEmbeddingsKey].ToArray();
        Assert.Equal(theirs.Length, ours.Length);
        // Three float32 layers of width ≤ 64: a few ulps of the O(1) outputs.
        for (int i = 0; i < theirs.Length; i++)
        {
            Assert.True(Math.Abs(ours[i] - theirs[i]) <= 1e-6 + 1e-5 * Math.Abs(theirs[i]), $"prompt_embeddings[{i}] = {ours[i]:G9}, PEFT {theirs[i]:G9}");
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void PromptLearning_SaveAfterLoad_WritesPeftsConfigAndTensor(string fixture)
    {
        if (Dir(fixture) is not { } dir)
        {
            output.WriteLine($"{fixture} not present ({FixtureRoot.Source}); not run.");
            return;
        }
        var peft = PeftModel.FromPretrained(AutoModel.FromPretrained(dir), dir);
        var outDir = Path.Combine(Path.GetTempPath(), "peftsharp-prompt-" + Guid.NewGuid().ToString("N"));
        try
        {
            peft.SavePretrained(outDir);
            var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "adapter_config.json")))!;
            var actual = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "adapter_config.json")))!;
            Assert.True(JsonNode.DeepEquals(expected, actual), $"{fixture}: saved config\n{actual.ToJsonString()}\ndiffers from PEFT's\n{expected.ToJsonString()}");
            var a = TensorFile.Load(Path.Combine(dir, "adapter_model.safetensors"));
            var b = TensorFile.Load(Path.Combine(outDir, "adapter_model.safetensors"));
            Assert.Equal([PeftModel.PromptEmbeddingsKey], b.Keys.ToArray());
            Assert.Equal(a[PeftModel.PromptEmbeddingsKey].ToArray(), b[PeftModel.PromptEmbeddingsKey].ToArray());
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void PromptLearning_MergeAndUnload_IsRefusedNamingTheMethod(string fixture)
    {
        if (Dir(fixture) is not { } dir)
        {
            output.WriteLine($"{fixture} not present ({FixtureRoot.Source}); not run.");
            return;
        }
        var peft = PeftModel.FromPretrained(AutoModel.FromPretrained(dir), dir);
        var ex = Assert.Throws<NotSupportedException>(() => peft.MergeAndUnload());
        Assert.Contains(peft.Method!.PeftType, ex.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<PromptLearningMethod>(peft.Method);
    }
}
