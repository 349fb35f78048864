using PeftSharp.Peft.Core;
using PeftSharp.Peft.Formats;
using PeftSharp.Peft.Methods.PrefixTuning;
using PeftSharp.Peft.Methods.PromptLearning;
using PeftSharp.Peft.Methods.PromptTuning;
using PeftSharp.Peft.Methods.PTuning;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Peft.Tests.PromptLearning;

// One contract row per configuration, plus each method's own checks against independent references.

public sealed class PromptTuningContractTests : PromptLearningContractTests
{
    protected override PromptLearningConfig Config => new PromptTuningConfig { NumVirtualTokens = 3 };

    protected override bool PrependsPositions => true;

    [Fact]
    public void TrainableLoad_RestoresTheTableExactly()
    {
        var peft = Make();
        var table = peft.PromptEncoderOf("default").Embedding.Weight.ToArray();
        var dir = TestSupport.TempDir();
        peft.SavePretrained(dir);
        var loaded = PeftModel.FromPretrained(new ToyPromptModel(), dir, isTrainable: true);
        var (name, p) = Assert.Single(loaded.NamedTrainableParameters());
        Assert.Equal("prompt_encoder.default.embedding.weight", name);
        Assert.Equal(table, p.ToArray());
    }

    [Fact]
    public void TextInit_CopiesTheWordEmbeddingsOfTheIdsCutOrRepeated()
    {
        var model = new ToyPromptModel();
        var config = new PromptTuningConfig
        {
            NumVirtualTokens = 5, PromptTuningInit = PromptTuningConfig.TextInit, PromptTuningInitText = "a b", TokenizerNameOrPath = "tok", InitTokenIds = [4, 9],
        };
        var peft = PeftModel.Create(model, config);
        var table = peft.PromptEncoderOf("default").Embedding.Weight.ToArray();
        var words = model.WordEmbeddings.Weight.ToArray();
        int c = ToyPromptModel.Hidden;
        int[] expectedIds = [4, 9, 4, 9, 4];
        for (int i = 0; i < expectedIds.Length; i++)
        {
            Assert.Equal(words.AsSpan(expectedIds[i] * c, c).ToArray(), table.AsSpan(i * c, c).ToArray());
        }
    }

    [Fact]
    public void TextInit_WithoutTokenIds_NamesTheField()
    {
        var config = new PromptTuningConfig { NumVirtualTokens = 2, PromptTuningInit = PromptTuningConfig.TextInit, PromptTuningInitText = "a", TokenizerNameOrPath = "tok" };
        var ex = Assert.Throws<AdapterConfigException>(() => PeftModel.Create(new ToyPromptModel(), config));
        Assert.Contains("prompt_tuning_init_text", ex.Message, StringComparison.Ordinal);
        var outOfVocab = config with { InitTokenIds = [ToyPromptModel.Vocab] };
        ex = Assert.Throws<AdapterConfigException>(() => PeftModel.Create(new ToyPromptModel(), outOfVocab));
        Assert.Contains(ToyPromptModel.Vocab.ToString(System.Globalization.CultureInfo.InvariantCulture), ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, null, "num_virtual_tokens")]
    [InlineData(3, 7, "token_dim")]
    [InlineData(1 << 26, null, "num_virtual_tokens")]
    public void BadConfig_NamesTheField(int tokens, int? tokenDim, string field)
    {
        var ex = Assert.Throws<AdapterConfigException>(() => PeftModel.Create(new ToyPromptModel(), new PromptTuningConfig { NumVirtualTokens = tokens, TokenDim = tokenDim }));
        Assert.Contains(field, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OtherTaskTypes_AreRefused()
    {
        var ex = Assert.Throws<AdapterConfigException>(() => AdapterConfig.Parse("""{"peft_type": "PROMPT_TUNING", "task_type": "SEQ_2_SEQ_LM", "num_virtual_tokens": 4}"""));
        Assert.Contains("task_type", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class PrefixTuningContractTests : PromptLearningContractTests
{
    protected override PromptLearningConfig Config => new PrefixTuningConfig { NumVirtualTokens = 3 };

    protected override bool PrependsPositions => false;

    [Fact]
    public void Config_TakesKeyValueHeadsFromTheModel()
    {
        var c = (PrefixTuningConfig)Make().Configs["default"];
        // Grouped-query attention: 2 heads × 4 → 1 key/value head × 4.
        Assert.Equal(ToyPromptModel.KvHeads, c.NumAttentionHeads);
        Assert.Equal(ToyPromptModel.KvHeads * ToyPromptModel.HeadDim, c.TokenDim);
        Assert.Equal(ToyPromptModel.Layers, c.NumLayers);
        Assert.Equal(c.TokenDim, c.EncoderHiddenSize);
        Assert.Equal([3, ToyPromptModel.Layers * 2 * ToyPromptModel.KvHeads * ToyPromptModel.HeadDim], Make().PromptEncoderOf("default").Embedding.Weight.Shape.ToArray());
    }

    [Fact]
    public void Prompt_LaysOutKeysAndValuesAsPeftViewsTheTable()
    {
        var encoder = Make().PromptEncoderOf("default");
        var table = encoder.Embedding.Weight.ToArray();
        var prompt = encoder.Prompt(2);
        int n = 3, layers = ToyPromptModel.Layers, hkv = ToyPromptModel.KvHeads, d = ToyPromptModel.HeadDim, width = layers * 2 * hkv * d;
        Assert.Equal(n, prompt.Length);
        Assert.Equal(layers, prompt.PrefixKeyValues!.Count);
        for (int l = 0; l < layers; l++)
        {
            for (int s = 0; s < 2; s++)
            {
                var t = s == 0 ? prompt.PrefixKeyValues[l].Keys : prompt.PrefixKeyValues[l].Values;
                Assert.Equal([2, hkv, n, d], t.Shape.ToArray());
                var values = t.Contiguous().ToArray();
                for (int b = 0; b < 2; b++)
                {
                    for (int h = 0; h < hkv; h++)
                    {
                        for (int i = 0; i < n; i++)
                        {
                            for (int j = 0; j < d; j++)
                            {
                                float expected = table[i * width + ((l * 2 + s) * hkv + h) * d + j];
                                Assert.Equal(expected, values[((b * hkv + h) * n + i) * d + j]);
                            }
                        }
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData(3, null, "num_layers")]
    [InlineData(null, 2, "token_dim")] // 12 wide over 2 heads is 6 per head; the model's heads are 4 wide
    public void ConfigNotFittingTheModel_NamesTheField(int? layers, int? heads, string field)
    {
        var ex = Assert.Throws<AdapterConfigException>(() => PeftModel.Create(new ToyPromptModel(), new PrefixTuningConfig { NumVirtualTokens = 2, NumLayers = layers, NumAttentionHeads = heads, TokenDim = heads is null ? null : 12 }));
        Assert.Contains(field, ex.Message, StringComparison.Ordinal);
    }
}

public sealed class PrefixTuningProjectionContractTests : PromptLearningContractTests
{
    protected override PromptLearningConfig Config => new PrefixTuningConfig { NumVirtualTokens = 2, PrefixProjection = true, EncoderHiddenSize = 6 };

    protected override bool PrependsPositions => false;

    [Fact]
    public void Output_IsTheTanhMlpOfTheTable_Float64Reference()
    {
        var encoder = Make().PromptEncoderOf("default");
        Assert.True(encoder.HasNetwork);
        var p = encoder.NamedParameters().ToDictionary(x => x.Name, x => x.Parameter);
        var x = p["embedding.weight"];
        var h = Reference.Linear(x, p["transform.0.weight"], p["transform.0.bias"], System.Math.Tanh);
        var y = Reference.Linear(h, p["transform.2.weight"], p["transform.2.bias"], v => v);
        using var _ = GradMode.NoGrad();
        Reference.AssertClose(y, encoder.Output(), "prefix projection");
    }

    [Fact]
    public void TrainableLoadOfTheProjectedOutput_IsRefusedAsPeftDoes()
    {
        var dir = TestSupport.TempDir();
        Make().SavePretrained(dir);
        var ex = Assert.Throws<AdapterLoadException>(() => PeftModel.FromPretrained(new ToyPromptModel(), dir, isTrainable: true));
        Assert.Contains("PREFIX_TUNING", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class PTuningContractTests : PromptLearningContractTests
{
    protected override PromptLearningConfig Config => new PTuningConfig { NumVirtualTokens = 3, EncoderHiddenSize = 5 };

    protected override bool PrependsPositions => true;

    [Fact]
    public void Parameters_HavePeftsNames()
    {
        var names = Make().NamedTrainableParameters().Select(p => p.Name).ToArray();
        Assert.Equal(
            ["prompt_encoder.default.embedding.weight",
             "prompt_encoder.default.mlp_head.0.weight", "prompt_encoder.default.mlp_head.0.bias",
             "prompt_encoder.default.mlp_head.2.weight", "prompt_encoder.default.mlp_head.2.bias",
             "prompt_encoder.default.mlp_head.4.weight", "prompt_encoder.default.mlp_head.4.bias"],
            names);
    }

    [Fact]
    public void Output_IsTheReluMlpOfTheTable_Float64Reference()
    {
        var encoder = Make().PromptEncoderOf("default");
        var p = encoder.NamedParameters().ToDictionary(x => x.Name, x => x.Parameter);
        var relu = (Func<double, double>)(v => System.Math.Max(v, 0));
        var h1 = Reference.Linear(p["embedding.weight"], p["mlp_head.0.weight"], p["mlp_head.0.bias"], relu);
        var h2 = Reference.Linear(h1, p["mlp_head.2.weight"], p["mlp_head.2.bias"], relu);
        var y = Reference.Linear(h2, p["mlp_head.4.weight"], p["mlp_head.4.bias"], v => v);
        using var _ = GradMode.NoGrad();
        Reference.AssertClose(y, encoder.Output(), "p-tuning MLP");
    }

    [Fact]
    public void TrainableLoad_PutsTheSavedOutputIntoTheTableAsPeftDoes()
    {
        var peft = Make();
        var dir = TestSupport.TempDir();
        peft.SavePretrained(dir);
        var saved = peft.AdapterStateDict("default")[PeftModel.PromptEmbeddingsKey].ToArray();
        var loaded = PeftModel.FromPretrained(new ToyPromptModel(), dir, isTrainable: true);
        var encoder = loaded.PromptEncoderOf("default");
        Assert.True(encoder.HasNetwork);
        Assert.Equal(saved, encoder.Embedding.Weight.ToArray());
    }

    [Fact]
    public void Lstm_IsRefusedNamingTheField()
    {
        var ex = Assert.Throws<AdapterConfigException>(() => AdapterConfig.Parse("""{"peft_type": "P_TUNING", "num_virtual_tokens": 4, "encoder_reparameterization_type": "LSTM"}"""));
        Assert.Contains("encoder_reparameterization_type", ex.Message, StringComparison.Ordinal);
    }
}

/// <summary>Float64 scalar twins of the encoders' layers.</summary>
internal static class Reference
{
    /// <summary>act(x·Wᵀ + b) in float64 with x (n, in), W (out, in).</summary>
    public static double[,] Linear(object x, Tensor w, Tensor b, Func<double, double> act)
    {
        double[,] input = x switch
        {
            Tensor t => ToMatrix(t),
            double[,] m => m,
            _ => throw new ArgumentException("x"),
        };
        var wv = w.ToArray();
        var bv = b.ToArray();
        int n = input.GetLength(0), inF = input.GetLength(1), outF = w.Dim(0);
        var y = new double[n, outF];
        for (int i = 0; i < n; i++)
        {
            for (int o = 0; o < outF; o++)
            {
                double s = bv[o];
                for (int k = 0; k < inF; k++)
                {
                    s += input[i, k] * wv[o * inF + k];
                }
                y[i, o] = act(s);
            }
        }
        return y;
    }

    private static double[,] ToMatrix(Tensor t)
    {
        var v = t.ToArray();
        var m = new double[t.Dim(0), t.Dim(1)];
        for (int i = 0; i < t.Dim(0); i++)
        {
            for (int j = 0; j < t.Dim(1); j++)
            {
                m[i, j] = v[i * t.Dim(1) + j];
            }
        }
        return m;
    }

    /// <summary>Widths ≤ 8 with O(1) values: float32 accumulation differs from float64 by a few ulps, hence rtol 1e-5, atol 1e-6.</summary>
    public static void AssertClose(double[,] expected, Tensor actual, string what)
    {
        var a = actual.Contiguous().ToArray();
        Assert.Equal(expected.Length, a.Length);
        int cols = expected.GetLength(1);
        for (int i = 0; i < a.Length; i++)
        {
            double e = expected[i / cols, i % cols];
            Assert.True(System.Math.Abs(a[i] - e) <= 1e-6 + 1e-5 * System.Math.Abs(e), $"{what}: element {i} = {a[i]:G9}, float64 reference {e:G9}");
        }
    }
}
