using PeftSharp.Models;
using PeftSharp.Models.Llama;
using PeftSharp.Tensors;
using Xunit.Abstractions;

namespace PeftSharp.Models.Tests.Learning;

/// <summary>
/// End-to-end learning check of the whole stack (embedding, RoPE, grouped-query attention, MLP, loss, autograd):
/// a small Llama trained from scratch must learn to copy a random sequence, which it can only do by attending to
/// the right earlier position. A broken attention or position path leaves the copy loss at chance (ln V).
/// </summary>
public class CopyTaskTests(ITestOutputHelper output)
{
    [Fact]
    public void SmallLlama_LearnsToCopyThroughAttention()
    {
        const int vocab = 24, batch = 16;
        const int half = 8;
        var config = HfConfig.Parse($$"""
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": {{vocab + 1}}, "hidden_size": 64,
             "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "tie_word_embeddings": false}
            """);
        var model = new LlamaForCausalLM(config, new Rng(3));
        var parameters = model.NamedParameters().Select(p => p.Parameter).ToArray();
        var m = parameters.Select(p => new float[p.Numel]).ToArray();
        var v = parameters.Select(p => new float[p.Numel]).ToArray();
        var rng = new Rng(11);
        double chance = Math.Log(vocab), last = double.NaN;
        for (int step = 1; step <= 250; step++)
        {
            var ids = new int[batch * (2 * half + 1)];
            var labels = new int[ids.Length];
            for (int b = 0; b < batch; b++)
            {
                int o = b * (2 * half + 1);
                for (int i = 0; i < half; i++)
                {
                    ids[o + i] = ids[o + half + 1 + i] = rng.NextInt(vocab);
                }
                ids[o + half] = vocab; // separator
                for (int i = 0; i < ids.Length / batch; i++)
                {
                    labels[o + i] = i > half + 1 ? ids[o + i] : -100; // loss only where copying is possible
                }
            }
            using var scope = TensorScope.Begin();
            var loss = model.Forward(new ModelInput { InputIds = Tensor.FromInts(ids, batch, 2 * half + 1), Labels = Tensor.FromInts(labels, batch, 2 * half + 1) }).Loss!;
            loss.Backward();
            last = loss.Item();
            // Plain Adam (lr 3e-3): this test checks the model stack, not the optimizer library.
            for (int k = 0; k < parameters.Length; k++)
            {
                var p = parameters[k].Span;
                var g = parameters[k].Grad!.Span;
                for (int i = 0; i < p.Length; i++)
                {
                    m[k][i] = 0.9f * m[k][i] + 0.1f * g[i];
                    v[k][i] = 0.999f * v[k][i] + 0.001f * g[i] * g[i];
                    float mh = m[k][i] / (1 - MathF.Pow(0.9f, step)), vh = v[k][i] / (1 - MathF.Pow(0.999f, step));
                    p[i] -= 3e-3f * mh / (MathF.Sqrt(vh) + 1e-8f);
                }
                parameters[k].Grad!.Span.Clear();
            }
            if (step % 50 == 0)
            {
                output.WriteLine($"step {step}: copy loss {last:F3} (chance {chance:F3})");
            }
        }
        Assert.True(last < 0.3 * chance, $"copy loss {last:F3} did not fall well below chance {chance:F3}: attention is not learning");
    }
}
