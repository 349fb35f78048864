using PeftSharp.Models;
using PeftSharp.Models.Llama;
using PeftSharp.Tensors;
using PeftSharp.Training.Optimizers;
using PeftSharp.Training.Schedules;
using PeftSharp.Training.Checkpoints;
using Xunit.Abstractions;

namespace PeftSharp.Training.Tests;

public class ScratchCopy(ITestOutputHelper output)
{
    private sealed class Src : IBatchSource<Tensor[]>
    {
        private readonly Rng _rng = new(11);
        public DataPosition Position { get; set; }
        public Tensor[] Next()
        {
            const int vocab = 24, half = 8, batch = 16;
            var ids = new int[batch * (2 * half + 1)];
            var labels = new int[ids.Length];
            for (int b = 0; b < batch; b++)
            {
                int o = b * (2 * half + 1);
                for (int i = 0; i < half; i++) ids[o + i] = ids[o + half + 1 + i] = _rng.NextInt(vocab);
                ids[o + half] = vocab;
                for (int i = 0; i < 2 * half + 1; i++) labels[o + i] = i > half + 1 ? ids[o + i] : -100;
            }
            Position = new DataPosition(0, Position.Batch + 1);
            return [Tensor.FromInts(ids, batch, 17), Tensor.FromInts(labels, batch, 17)];
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void QuickstartModel(int variant)
    {
        var o = new PeftSharp.Training.Quickstart.PretrainOptions();
        var model = PeftSharp.Training.Quickstart.Pretraining.NewModel(o);
        var named = model.NamedParameters().Where(p => p.Name != "lm_head.weight").ToArray();
        IOptimizer opt = variant switch
        {
            0 => new AdamW(named, 3e-3, 0.9, 0.999, weightDecay: 0),
            1 => new AdamW(ParameterGroups.SplitWeightDecay(named, 0.1), 3e-3, 0.9, 0.95),
            _ => new AdamW(named, 1e-3, 0.9, 0.999, weightDecay: 0),
        };
        var src = new Src();
        var t = new Trainer<Tensor[]>(new TrainingTask<Tensor[]> { ComputeLoss = b => model.Forward(new ModelInput { InputIds = b[0], Labels = b[1] }).Loss! },
            src, opt, null, new TrainerOptions { MaxSteps = 300, MaxGradNorm = 1.0 }, model);
        var r = t.Run();
        output.WriteLine($"variant {variant}: final loss {r.FinalTrainLoss:F3}");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Copy(bool tied, bool trainer)
    {
        var config = HfConfig.Parse($$"""
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 25, "hidden_size": 64,
             "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "tie_word_embeddings": {{(tied ? "true" : "false")}}}
            """);
        var model = new LlamaForCausalLM(config, new Rng(3));
        var named = model.NamedParameters().Where(p => p.Name != "lm_head.weight" || !tied).ToArray();
        var opt = new AdamW(named, 3e-3, 0.9, 0.999, weightDecay: 0);
        var src = new Src();
        double last = 0;
        if (trainer)
        {
            var t = new Trainer<Tensor[]>(new TrainingTask<Tensor[]> { ComputeLoss = b => model.Forward(new ModelInput { InputIds = b[0], Labels = b[1] }).Loss! },
                src, opt, null, new TrainerOptions { MaxSteps = 250, MaxGradNorm = 1.0 }, model);
            var r = t.Run();
            last = r.FinalTrainLoss ?? double.NaN;
        }
        else
        {
            for (int s = 0; s < 250; s++)
            {
                using var scope = TensorScope.Begin();
                var b = src.Next();
                var loss = model.Forward(new ModelInput { InputIds = b[0], Labels = b[1] }).Loss!;
                loss.Backward();
                last = loss.Item();
                opt.Step();
                opt.ZeroGrad();
            }
        }
        output.WriteLine($"tied {tied} trainer {trainer}: final loss {last:F3}");
        Assert.True(last < 1.0, $"final {last}");
    }
}
