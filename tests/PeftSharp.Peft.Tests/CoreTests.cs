using System.Text.Json.Nodes;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Formats;
using PeftSharp.Peft.Math;
using PeftSharp.Peft.Merging;
using PeftSharp.Peft.Methods.Lora;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Peft.Tests;

public class ConfigTests
{
    private const string Json = """
        {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "lora_dropout": 0.0,
         "megatron_core": "megatron.core", "some_future_field": {"x": [1, 2]}, "rank_pattern": {"b": 2, "a": 3}}
        """;

    [Fact]
    public void Parse_KeepsUnknownFieldsAndPatternOrderOnRoundTrip()
    {
        var c = (LoraConfig)AdapterConfig.Parse(Json);
        Assert.Equal(["b", "a"], c.RankPattern.Select(kv => kv.Key));
        var back = JsonNode.Parse(c.ToJsonString())!.AsObject();
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"x": [1, 2]}"""), back["some_future_field"]));
        Assert.Equal("megatron.core", (string)back["megatron_core"]!);
        Assert.Equal(["b", "a"], back["rank_pattern"]!.AsObject().Select(kv => kv.Key));
        Assert.Equal("0.0", back["lora_dropout"]!.ToJsonString());
        Assert.Equal(back.Select(kv => kv.Key).Order(StringComparer.Ordinal), back.Select(kv => kv.Key));
        Assert.True(JsonNode.DeepEquals(back, JsonNode.Parse(AdapterConfig.Parse(back.ToJsonString()).ToJsonString())));
    }

    [Theory]
    [InlineData("""{"peft_type": "LORA", "r": -1, "target_modules": ["q"]}""", "r")]
    [InlineData("""{"peft_type": "LORA", "r": 2.5, "target_modules": ["q"]}""", "r")]
    [InlineData("""{"peft_type": "LORA", "r": 2, "bias": "some", "target_modules": ["q"]}""", "bias")]
    [InlineData("""{"peft_type": "LORA", "lora_dropout": 1.5, "target_modules": ["q"]}""", "lora_dropout")]
    [InlineData("""{"peft_type": "LORA", "target_modules": 3}""", "target_modules")]
    [InlineData("""{"peft_type": "LORA", "target_modules": ".*q", "layers_to_transform": [0]}""", "layers_to_transform")]
    [InlineData("""{"peft_type": "LORA", "target_modules": ["q"], "init_lora_weights": "loftq"}""", "init_lora_weights")]
    [InlineData("""{"peft_type": "NOPE", "target_modules": ["q"]}""", "peft_type")]
    [InlineData("""{"target_modules": ["q"]}""", "peft_type")]
    [InlineData("""{"peft_type": "IA3", "target_modules": ["q"], "feedforward_modules": ["k"]}""", "feedforward_modules")]
    [InlineData("""[1, 2]""", "(root)")]
    public void Parse_RejectsInvalidValuesNamingTheField(string json, string field)
    {
        var e = Assert.Throws<AdapterConfigException>(() => AdapterConfig.Parse(json));
        Assert.Equal(field, e.Field);
        Assert.Contains(field, e.Message);
    }
}

public class TargetingTests
{
    [Theory]
    [InlineData("model.layers.1.self_attn.q_proj", 1)]
    [InlineData("model.layers.12.mlp.down_proj", 12)]
    [InlineData("lm_head", null)]
    public void LayerIndex_IsFoundAsPeftFindsIt(string path, int? expected) =>
        Assert.Equal(expected, TargetSelector.LayerIndex(path, ["layers"]));

    [Fact]
    public void ListTargets_MatchWholeComponentsOnly()
    {
        var sel = ModuleSelector.List("proj");
        Assert.True(sel.Matches("a.proj"));
        Assert.True(sel.Matches("proj"));
        Assert.False(sel.Matches("a.q_proj"));
        Assert.True(ModuleSelector.Regex(".*q_proj").Matches("a.q_proj"));
        Assert.False(ModuleSelector.Regex("q_proj").Matches("a.q_proj"));
    }

    [Fact]
    public void PatternValue_FirstMatchingKeyInFileOrderWins()
    {
        KeyValuePair<string, double>[] pattern = [new("proj", 2), new("q_proj", 5)];
        Assert.Equal(5, TargetSelector.PatternValue(pattern, "m.q_proj"));
        Assert.Equal(2, TargetSelector.PatternValue(pattern, "m.proj"));
        Assert.Null(TargetSelector.PatternValue(pattern, "m.k"));
    }

    [Fact]
    public void NoMatch_IsAnErrorListingWhatCouldHaveMatched()
    {
        var e = Assert.Throws<AdapterConfigException>(() => PeftModel.Create(new ToyModel(), new LoraConfig { TargetModules = ModuleSelector.List("q_proj") }));
        Assert.Equal("target_modules", e.Field);
        Assert.Contains("fc1", e.Message);
        Assert.Contains("embed", e.Message);
    }

    [Fact]
    public void Exclude_AndAllLinear_LeaveOutTheRightModules()
    {
        var m = PeftModel.Create(new ToyModel(), new LoraConfig { TargetModules = ModuleSelector.Regex("all-linear"), ExcludeModules = ModuleSelector.List("fc2") }, options: new() { OutputHeadNames = ["head"] });
        Assert.Equal(["fc1"], m.AdapterLayers().Select(l => l.Path));
    }
}

public class AdapterLifecycleTests
{
    [Fact]
    public void TrainableNames_FollowHuggingFace()
    {
        var m = PeftModel.Create(new ToyModel(), new LoraConfig { TargetModules = ModuleSelector.List("fc1", "embed"), R = 2, Bias = "all" });
        var names = m.NamedTrainableParameters().Select(p => p.Name).ToArray();
        Assert.Equal([
            "base_model.model.embed.lora_embedding_A.default", "base_model.model.embed.lora_embedding_B.default",
            "base_model.model.fc1.base_layer.bias", "base_model.model.fc1.lora_A.default.weight", "base_model.model.fc1.lora_B.default.weight",
            "base_model.model.fc2.bias"], names.Order(StringComparer.Ordinal));
        Assert.Contains("trainable params", m.GetTrainableReport().ToString());
        Assert.Contains("base_model.model.fc2.bias", m.AdapterStateDict("default").Keys);
    }

    [Fact]
    public void LoadingAWrongShape_NamesModuleAndBothShapes()
    {
        var config = new LoraConfig { TargetModules = ModuleSelector.List("fc1"), R = 2 };
        var dir = TestSupport.TempDir();
        PeftModel.Create(new ToyModel(), config).SavePretrained(dir);
        var path = Path.Combine(dir, AdapterFiles.WeightsFileName);
        TensorFile.Save(path, [new("base_model.model.fc1.lora_A.weight", Tensor.Zeros(3, 6)), new("base_model.model.fc1.lora_B.weight", Tensor.Zeros(8, 2))], TensorFile.PyTorchMetadata);
        var e = Assert.Throws<AdapterLoadException>(() => PeftModel.FromPretrained(new ToyModel(), dir));
        Assert.Contains("fc1", e.Message);
        Assert.Contains("(3, 6)", e.Message.Replace("[", "(").Replace("]", ")"));
        Assert.Contains("(2, 6)", e.Message.Replace("[", "(").Replace("]", ")"));
        TensorFile.Save(path, [new("base_model.model.nothing.lora_A.weight", Tensor.Zeros(2, 6))], TensorFile.PyTorchMetadata);
        var e2 = Assert.Throws<AdapterLoadException>(() => PeftModel.FromPretrained(new ToyModel(), dir));
        Assert.Contains("no module \"nothing\"", e2.Message);
        TensorFile.Save(path, [new("base_model.model.fc1.lora_A.weight", Tensor.Zeros(2, 6))], TensorFile.PyTorchMetadata);
        var e3 = Assert.Throws<AdapterLoadException>(() => PeftModel.FromPretrained(new ToyModel(), dir));
        Assert.Contains("fc1.lora_B.weight", e3.Message);
    }

    [Fact]
    public void DefaultInit_IsKaimingUniformAAndZeroB_EmbeddingTheReverse()
    {
        var m = PeftModel.Create(new ToyModel(), new LoraConfig { TargetModules = ModuleSelector.List("fc1", "embed"), R = 64 });
        var fc1 = ((LoraLayer)m.Model.Get("fc1")).Adapter("default");
        float bound = 1f / MathF.Sqrt(6);
        var a = fc1.A.ToArray();
        Assert.All(a, v => Assert.InRange(v, -bound, bound));
        Assert.True(a.Max() > 0.8f * bound && a.Min() < -0.8f * bound, "A does not fill U(-1/sqrt(in), 1/sqrt(in))");
        Assert.All(fc1.B.ToArray(), v => Assert.Equal(0f, v));
        var emb = ((LoraLayer)m.Model.Get("embed")).Adapter("default");
        Assert.All(emb.A.ToArray(), v => Assert.Equal(0f, v));
        var b = emb.B.ToArray();
        double var = b.Select(v => (double)v * v).Average();
        Assert.InRange(var, 0.8, 1.2); // 384 draws of N(0, 1): the sample variance is within ±0.2 with overwhelming probability.
    }

    [Fact]
    public void GaussianInit_HasStdOneOverR()
    {
        var m = PeftModel.Create(new ToyModel(), new LoraConfig { TargetModules = ModuleSelector.List("fc1"), R = 50, Init = LoraInit.Gaussian });
        var a = ((LoraLayer)m.Model.Get("fc1")).Adapter("default").A.ToArray();
        double std = System.Math.Sqrt(a.Select(v => (double)v * v).Average());
        Assert.InRange(std * 50, 0.85, 1.15); // 300 draws: relative error of the sample std ≈ 1/sqrt(600) ≈ 4 %.
    }
}

public class LinalgTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 3)]
    [InlineData(3, 7)]
    [InlineData(16, 16)]
    [InlineData(33, 9)]
    public void Svd_ReconstructsWithOrthonormalFactors(int m, int n)
    {
        var rng = new Rng((ulong)(m * 100 + n));
        var a = Enumerable.Range(0, m * n).Select(_ => (double)rng.NextNormal()).ToArray();
        var (u, s, vt) = Linalg.Svd(a, m, n);
        int k = System.Math.Min(m, n);
        var us = new double[m * k];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < k; j++)
            {
                us[i * k + j] = u[i * k + j] * s[j];
            }
        }
        var back = Linalg.MatMul(us, vt, m, k, n);
        Assert.All(Enumerable.Range(0, a.Length), i => Assert.True(System.Math.Abs(back[i] - a[i]) < 1e-12, $"reconstruction off at {i}"));
        AssertOrthonormalColumns(u, m, k);
        AssertOrthonormalColumns(Linalg.Transpose(vt, k, n), n, k);
        Assert.True(s.Zip(s.Skip(1), (x, y) => x >= y).All(b => b));
    }

    [Fact]
    public void Svd_FindsKnownSingularValuesOfARankOneMatrix()
    {
        // a = 3·e0·(0.6, 0.8): singular values (3, 0).
        var (_, s, _) = Linalg.Svd([1.8, 2.4, 0, 0], 2, 2);
        Assert.Equal(3, s[0], 12);
        Assert.Equal(0, s[1], 12);
    }

    [Theory]
    [InlineData(5, 3)]
    [InlineData(3, 5)]
    [InlineData(8, 8)]
    public void Qr_ReconstructsWithUpperTriangularR(int m, int n)
    {
        var rng = new Rng(9);
        var a = Enumerable.Range(0, m * n).Select(_ => (double)rng.NextNormal()).ToArray();
        var (q, r) = Linalg.Qr(a, m, n);
        int k = System.Math.Min(m, n);
        var back = Linalg.MatMul(q, r, m, k, n);
        Assert.All(Enumerable.Range(0, a.Length), i => Assert.True(System.Math.Abs(back[i] - a[i]) < 1e-12));
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < i && j < n; j++)
            {
                Assert.Equal(0, r[i * n + j]);
            }
        }
        AssertOrthonormalColumns(q, m, k);
    }

    private static void AssertOrthonormalColumns(double[] a, int rows, int cols)
    {
        for (int p = 0; p < cols; p++)
        {
            for (int q = 0; q < cols; q++)
            {
                double dot = 0;
                for (int i = 0; i < rows; i++)
                {
                    dot += a[i * cols + p] * a[i * cols + q];
                }
                Assert.True(System.Math.Abs(dot - (p == q ? 1 : 0)) < 1e-12, $"columns {p},{q}: {dot}");
            }
        }
    }
}

public class TaskArithmeticTests
{
    [Fact]
    public void Ties_FollowsItsDefinitionOnAHandExample()
    {
        float[] t1 = [3, -1, 0.5f, -4];
        float[] t2 = [-2, -2, 1, 1];
        var p1 = TaskArithmetic.MagnitudePrune(t1, 0.5); // keeps 3, -4
        var p2 = TaskArithmetic.MagnitudePrune(t2, 0.5); // keeps -2, -2 (first two of equal magnitude)
        Assert.Equal([3, 0, 0, -4], p1);
        Assert.Equal([-2, -2, 0, 0], p2);
        var r = TaskArithmetic.DisjointMerge([p1, p2], [0.5f, 2f], MajoritySignMethod.Total);
        // sums 1, -2, 0, -4 → signs +, -, +, -; kept: [t1], [t2], none, [t1].
        Assert.Equal([1.5f, -4f, 0f, -2f], r);
    }

    [Fact]
    public void DarePruning_KeepsAboutDensityAndRescales_Deterministically()
    {
        var t = Enumerable.Range(1, 20000).Select(i => (float)i).ToArray();
        var a = TaskArithmetic.RandomPrune(t, 0.3, new Rng(4));
        Assert.Equal(a, TaskArithmetic.RandomPrune(t, 0.3, new Rng(4)));
        int kept = a.Count(v => v != 0);
        Assert.InRange(kept, 5700, 6300); // Binomial(20000, 0.3): mean 6000, sd ≈ 65.
        // Kept entries are t / density rounded to float32 once: within half an ulp (relative 6e-8) of the exact quotient.
        Assert.All(Enumerable.Range(0, t.Length).Where(i => a[i] != 0), i => Assert.True(System.Math.Abs(a[i] - t[i] / 0.3) <= 6e-8 * t[i] / 0.3, $"entry {i}: {a[i]}"));
    }

    [Fact]
    public void DareAndMagnitudeCombinations_RunThroughAddWeightedAdapter()
    {
        var m = PeftModel.Create(new ToyModel(), new LoraConfig { TargetModules = ModuleSelector.List("fc1"), R = 2, LoraAlpha = 2 });
        m.AddAdapter("b", new LoraConfig { TargetModules = ModuleSelector.List("fc1"), R = 2, LoraAlpha = 4 });
        TestSupport.Perturb(m, "default");
        TestSupport.Perturb(m, "b", seed: 5);
        var layer = (LoraLayer)m.Model.Get("fc1");
        var a0 = layer.Adapter("default");
        var a1 = layer.Adapter("b");
        m.AddWeightedAdapter(["default", "b"], [0.5, 1.0], "dl", CombinationType.DareLinear, density: 0.5, seed: 8);
        // Reference: the same seeded masks applied by hand, with factors √(w·s).
        var rng = new Rng(8);
        float c0 = MathF.Sqrt(0.5f * a0.Scaling), c1 = MathF.Sqrt(1f * a1.Scaling);
        var pa0 = TaskArithmetic.RandomPrune(a0.A.ToArray(), 0.5, rng);
        var pa1 = TaskArithmetic.RandomPrune(a1.A.ToArray(), 0.5, rng);
        var expectedA = pa0.Zip(pa1, (x, y) => (float)((double)c0 * x + (double)c1 * y)).ToArray();
        Assert.Equal(expectedA, layer.Adapter("dl").A.ToArray());
        m.AddWeightedAdapter(["default", "b"], [0.5, 1.0], "dts", CombinationType.DareTiesSvd, svdRank: 2, density: 0.7, seed: 8);
        Assert.Equal(2, layer.Adapter("dts").Rank);
        Assert.Throws<ArgumentException>(() => m.AddWeightedAdapter(["default", "b"], [1.0], "x", CombinationType.Linear));
    }
}
