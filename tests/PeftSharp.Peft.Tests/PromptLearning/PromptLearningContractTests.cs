using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Formats;
using PeftSharp.Peft.Methods.PromptLearning;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Peft.Tests.PromptLearning;

/// <summary>
/// What every prompt-learning method must satisfy on <see cref="ToyPromptModel"/>: the adapter changes the output,
/// disabling gives the base output exactly, save → load reproduces the output exactly, delete and unload leave the base
/// model, backward reaches only the active adapter, merging and per-row adapters are refused by name. The adapters start
/// from N(0, 1) tables (and fresh networks), far from any identity, so none of these checks passes vacuously. Exact
/// equality is expected where the same float32 operations run in the same order.
/// </summary>
public abstract class PromptLearningContractTests
{
    /// <summary>The configuration under test.</summary>
    protected abstract PromptLearningConfig Config { get; }

    /// <summary>Extra virtual positions in the output (N for input embeddings, 0 for a prefix).</summary>
    protected abstract bool PrependsPositions { get; }

    private static readonly PeftModelOptions Options = new() { Seed = 3 };

    protected PeftModel Make(ToyPromptModel? model = null, bool second = false)
    {
        var m = PeftModel.Create(model ?? new ToyPromptModel(), Config, "default", Options);
        if (second)
        {
            m.AddAdapter("other", Config);
        }
        m.Eval();
        return m;
    }

    private static float[] Run(ToyPromptModel m, Tensor ids)
    {
        using var _ = GradMode.NoGrad();
        return m.Forward(ids).ToArray();
    }

    private static float[] BaseOutput(Tensor ids) => Run(new ToyPromptModel(), ids);

    /// <summary>The last <paramref name="t"/> positions of (B, N + T, V) logits.</summary>
    private float[] RealPositions(float[] logits, int batch, int t)
    {
        int v = ToyPromptModel.Vocab, n = PrependsPositions ? Config.NumVirtualTokens : 0;
        var r = new float[batch * t * v];
        for (int b = 0; b < batch; b++)
        {
            Array.Copy(logits, (b * (n + t) + n) * v, r, b * t * v, t * v);
        }
        return r;
    }

    [Fact]
    public void Adapter_ChangesTheOutput()
    {
        var model = new ToyPromptModel();
        Make(model);
        var ids = ToyPromptModel.Ids();
        var logits = Run(model, ids);
        int n = PrependsPositions ? Config.NumVirtualTokens : 0;
        Assert.Equal(2 * (n + 5) * ToyPromptModel.Vocab, logits.Length);
        var diff = RealPositions(logits, 2, 5).Zip(BaseOutput(ids), (a, b) => MathF.Abs(a - b)).Max();
        Assert.True(diff > 1e-3f, $"the adapter changed the real positions' logits by only {diff}");
    }

    [Fact]
    public void Disable_GivesTheBaseOutputExactly()
    {
        var model = new ToyPromptModel();
        var peft = Make(model);
        var ids = ToyPromptModel.Ids();
        using (peft.DisableAdapters())
        {
            Assert.Equal(BaseOutput(ids), Run(model, ids));
        }
        Assert.NotEqual(BaseOutput(ids), RealPositions(Run(model, ids), 2, 5));
    }

    [Fact]
    public void SaveThenLoadForInference_ReproducesTheOutputExactly()
    {
        var model = new ToyPromptModel();
        var peft = Make(model);
        var ids = ToyPromptModel.Ids();
        var before = Run(model, ids);
        var dir = TestSupport.TempDir();
        peft.SavePretrained(dir);
        var json = TestSupport.ReadJson(Path.Combine(dir, AdapterConfig.FileName)).AsObject();
        Assert.Equal(Config.PeftType, json["peft_type"]!.GetValue<string>());
        Assert.False(json.ContainsKey("target_modules"), "prompt-learning configs have no target_modules");
        var saved = TensorFile.Load(Path.Combine(dir, AdapterFiles.WeightsFileName));
        Assert.Equal([PeftModel.PromptEmbeddingsKey], saved.Keys.ToArray());

        var fresh = new ToyPromptModel();
        var loaded = PeftModel.FromPretrained(fresh, dir);
        loaded.Eval();
        Assert.Empty(loaded.NamedTrainableParameters());
        Assert.False(loaded.PromptEncoderOf("default").HasNetwork);
        Assert.Equal(before, Run(fresh, ids));
    }

    [Fact]
    public void Config_RoundTripsThroughItsJson()
    {
        var peft = Make();
        var config = peft.Configs["default"];
        var again = AdapterConfig.Parse(config.ToJsonString());
        Assert.True(JsonNode.DeepEquals(config.ToJson(), again.ToJson()), again.ToJsonString());
        Assert.IsType(config.GetType(), again);
    }

    [Fact]
    public void Delete_LeavesNothingBehind()
    {
        var model = new ToyPromptModel();
        var peft = Make(model, second: true);
        var ids = ToyPromptModel.Ids();
        peft.SetAdapter("other");
        var otherOut = Run(model, ids);
        peft.DeleteAdapter("default");
        Assert.DoesNotContain(peft.NamedParameters(), p => p.Name.Contains(".default.", StringComparison.Ordinal));
        Assert.Equal(otherOut, Run(model, ids));
        peft.DeleteAdapter("other");
        Assert.DoesNotContain(peft.NamedParameters(), p => p.Name.StartsWith(PeftModel.PromptEncoderName, StringComparison.Ordinal));
        Assert.Null(model.PromptSource);
        Assert.Equal(BaseOutput(ids), Run(model, ids));
    }

    [Fact]
    public void Backward_ReachesOnlyTheActiveAdapter()
    {
        var model = new ToyPromptModel();
        var peft = Make(model, second: true);
        peft.SetAdapter("other");
        var y = peft.Forward(ToyPromptModel.Ids());
        y.Mul(y).Mean().Backward();
        var trainable = peft.NamedTrainableParameters().Select(p => p.Name).ToArray();
        Assert.NotEmpty(trainable);
        Assert.All(trainable, n => Assert.StartsWith(PeftModel.PromptEncoderName + ".other.", n, StringComparison.Ordinal));
        foreach (var (name, p) in peft.NamedParameters())
        {
            if (name.StartsWith(PeftModel.PromptEncoderName + ".other.", StringComparison.Ordinal))
            {
                Assert.True(p.Grad is not null && p.Grad.ToArray().Any(g => g != 0), $"{name} got no gradient");
            }
            else
            {
                Assert.True(p.Grad is null, $"{name} is not trainable but got a gradient");
            }
        }
    }

    [Fact]
    public void Merge_IsRefusedNamingTheMethod()
    {
        var peft = Make();
        var ex = Assert.Throws<NotSupportedException>(() => peft.Merge());
        Assert.Contains(Config.PeftType, ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<NotSupportedException>(() => peft.MergeAndUnload());
        Assert.Contains(Config.PeftType, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unload_ReturnsTheBaseModel()
    {
        var model = new ToyPromptModel();
        var peft = Make(model);
        var plain = (ToyPromptModel)peft.Unload();
        Assert.Same(model, plain);
        Assert.Null(plain.PromptSource);
        Assert.Equal(BaseOutput(ToyPromptModel.Ids()), Run(plain, ToyPromptModel.Ids()));
    }

    [Fact]
    public void PerRowAdapters_AreRefusedNamingTheMethod()
    {
        var model = new ToyPromptModel();
        var peft = Make(model, second: true);
        peft.RowAdapterNames = ["default", "other"];
        var ex = Assert.Throws<NotSupportedException>(() => Run(model, ToyPromptModel.Ids()));
        Assert.Contains(Config.PeftType, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelWithoutVirtualTokens_IsRefusedNamingTheMethod()
    {
        var ex = Assert.Throws<NotSupportedException>(() => PeftModel.Create(new ToyModel(), Config));
        Assert.Contains(Config.PeftType, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadingATableOfTheWrongShape_NamesBothShapes()
    {
        var dir = TestSupport.TempDir();
        Make().SavePretrained(dir);
        var file = Path.Combine(dir, AdapterFiles.WeightsFileName);
        var t = TensorFile.Load(file)[PeftModel.PromptEmbeddingsKey];
        TensorFile.Save(file, [new(PeftModel.PromptEmbeddingsKey, Tensor.Zeros(t.Dim(0) + 1, t.Dim(1)))], TensorFile.PyTorchMetadata);
        var ex = Assert.Throws<AdapterLoadException>(() => PeftModel.FromPretrained(new ToyPromptModel(), dir));
        Assert.Contains(PeftModel.PromptEmbeddingsKey, ex.Message, StringComparison.Ordinal);
        Assert.Contains(Shapes.Format([t.Dim(0) + 1, t.Dim(1)]), ex.Message, StringComparison.Ordinal);
    }
}
