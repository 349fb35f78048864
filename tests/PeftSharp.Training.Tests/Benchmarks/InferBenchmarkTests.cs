using PeftSharp.Models;
using PeftSharp.Models.Llama;
using PeftSharp.Tensors;
using PeftSharp.Training.Benchmarks;

namespace PeftSharp.Training.Tests.Benchmarks;

public class InferBenchmarkTests
{
    private static LlamaForCausalLM Tiny(bool tied)
    {
        var config = HfConfig.Parse($$"""
            {
              "architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "intermediate_size": 48, "vocab_size": 100, "tie_word_embeddings": {{(tied ? "true" : "false")}},
              "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu"
            }
            """, "tiny");
        var model = new LlamaForCausalLM(config, new Rng(3));
        model.RequiresGrad(false);
        return model;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Breakdown_CountsEachWeightMatrixOnce_AndTimesEveryPart(bool tied)
    {
        var b = InferBenchmark.MeasureBreakdown(Tiny(tied), repeats: 1);

        // Per layer: q (32×32), k and v (16×32 with 2 of 4 heads × 8), o (32×32), gate and up (48×32), down (32×48);
        // then the embedding (100×32), and a separate head (100×32) only when untied. Float32: 4 bytes each.
        long perLayer = 32 * 32 + 2 * 16 * 32 + 32 * 32 + 3 * 48 * 32;
        long values = 2 * perLayer + 100 * 32 + (tied ? 0 : 100 * 32);
        Assert.Equal(values * 4, b.WeightBytes);
        Assert.True(b.PrefillMs > 0 && b.PrefillGemmMs > 0 && b.DecodeStepMs > 0 && b.WeightGemvMs > 0 && b.FirstCallMs > 0);
        Assert.True(double.IsFinite(b.GemvGigabytesPerSecond) && b.GemvGigabytesPerSecond > 0);
    }
}
