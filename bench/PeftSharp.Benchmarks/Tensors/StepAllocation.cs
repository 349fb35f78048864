using System.Diagnostics;
using PeftSharp.Models;
using PeftSharp.Models.Llama;
using PeftSharp.Tensors;

namespace PeftSharp.Benchmarks.Tensors;

/// <summary>
/// Managed bytes allocated per steady-state training step of one Llama decoder block (forward + backward,
/// every weight trainable), with and without a <see cref="TensorScope"/>. Run:
/// <c>dotnet run -c Release --project bench/PeftSharp.Benchmarks -- step [hidden] [tokens]</c>.
/// </summary>
public static class StepAllocation
{
    public static int Run(string[] args)
    {
        int hidden = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 256;
        int tokens = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 128;
        const int batch = 2;
        var config = HfConfig.Parse($$"""
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": {{hidden}}, "intermediate_size": {{hidden * 8 / 3}},
             "num_hidden_layers": 1, "num_attention_heads": {{hidden / 64}}, "num_key_value_heads": {{hidden / 64}},
             "vocab_size": 512, "max_position_embeddings": {{tokens}}, "rms_norm_eps": 1e-6}
            """);
        var model = new LlamaForCausalLM(config, new Rng(1));
        var rng = new Rng(2);
        var ids = Enumerable.Range(0, batch * tokens).Select(_ => rng.NextInt(512)).ToArray();
        var input = new ModelInput { InputIds = Tensor.FromInts(ids, batch, tokens), Labels = Tensor.FromInts(ids, batch, tokens) };

        Console.WriteLine($"One Llama block, hidden {hidden}, batch {batch} × {tokens} tokens, all weights trainable");
        foreach (bool scoped in new[] { false, true })
        {
            for (int i = 0; i < 3; i++)
            {
                Step(model, input, scoped);
            }
            const int steps = 5;
            long before = GC.GetTotalAllocatedBytes(precise: true);
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < steps; i++)
            {
                Step(model, input, scoped);
            }
            sw.Stop();
            long perStep = (GC.GetTotalAllocatedBytes(precise: true) - before) / steps;
            Console.WriteLine($"{(scoped ? "with TensorScope   " : "without TensorScope")}: {perStep / 1024.0,10:F1} KiB allocated per step, {sw.Elapsed.TotalMilliseconds / steps,8:F1} ms per step");
        }
        Console.WriteLine($"pool holds {TensorScope.PooledBytes / (1024.0 * 1024.0):F1} MiB of reusable activation buffers");
        return 0;
    }

    private static void Step(LlamaForCausalLM model, ModelInput input, bool scoped)
    {
        using var scope = scoped ? TensorScope.Begin() : null;
        var loss = model.Forward(input).Loss!;
        loss.Backward();
        model.ZeroGrad();
    }
}
