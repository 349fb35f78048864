using PeftSharp.Models;
using PeftSharp.Models.Llama;
using PeftSharp.Tensors;

namespace PeftSharp.Training.Benchmarks;

/// <summary>
/// The Llama-architecture benchmark model shared by <c>peft bench train</c> and <c>peft bench infer</c>: hidden 768,
/// 12 layers, 12 heads, 12 KV heads, intermediate 2048, vocab 32000, tied embeddings (109.5M parameters).
/// </summary>
public static class BenchmarkModel
{
    private const string ConfigJson = """
        {
          "architectures": ["LlamaForCausalLM"], "model_type": "llama",
          "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "num_key_value_heads": 12,
          "intermediate_size": 2048, "vocab_size": 32000, "tie_word_embeddings": true,
          "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu",
          "bos_token_id": 1, "eos_token_id": 2
        }
        """;

    /// <summary>The benchmark config.</summary>
    public static HfConfig Config() => HfConfig.Parse(ConfigJson, "benchmark model config");

    /// <summary>
    /// Builds the model with seeded random weights, frozen; with BF16/F16 every matrix (the tied embedding/head
    /// included) is stored in 16 bits via <see cref="Tensor.ToHalfStorage"/>, norms stay float32.
    /// </summary>
    public static LlamaForCausalLM Build(DType weights, ulong seed = 1234)
    {
        var model = new LlamaForCausalLM(Config(), new Rng(seed));
        model.RequiresGrad(false);
        if (weights != DType.F32)
        {
            var tied = model.TiedWeights;
            foreach (var (name, p) in model.NamedParameters().ToList())
            {
                if (p.Rank == 2 && !tied.ContainsKey(name))
                {
                    int dot = name.LastIndexOf('.');
                    model.Get(name[..dot]).SetParameter(name[(dot + 1)..], p.ToHalfStorage(weights));
                }
            }
            model.TieWeights();
        }
        return model;
    }
}
