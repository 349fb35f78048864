using PeftSharp.Nn;
using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.AdaLora;
using PeftSharp.Tensors;
using PeftSharp.Tensors.Autograd;
using PeftSharp.Training.Optimizers;

namespace PeftSharp.Training.Tests.Trainer;

/// <summary>AdaLoRA trained by the trainer: the extra loss term, rank allocation after each step, and the saved result.</summary>
public class AdaLoraTrainingTests
{
    private sealed class Mlp : Module
    {
        public Mlp(ulong seed)
        {
            var rng = new Rng(seed);
            RegisterModule("fc1", new Linear(ToyData.Features, 16, rng: rng));
            RegisterModule("fc2", new Linear(16, 1, rng: rng));
        }

        public override Tensor Forward(Tensor input) => Child("fc2").Forward(Child("fc1").Forward(input).Tanh());
    }

    [Fact]
    public void Trainer_RunsRankAllocation_AndTheSavedAdapterReproducesTheModel()
    {
        // 2 modules × init_r 4 = 8 triplets, pruned to 2 × 2 = 4 by step total − tfinal = 6, then held for 2 steps.
        var config = new AdaLoraConfig { TargetModules = ModuleSelector.List("fc1", "fc2"), InitR = 4, TargetR = 2, LoraAlpha = 4, Tinit = 1, Tfinal = 2, TotalStep = 8, DeltaT = 1 };
        var peft = PeftModel.Create(new Mlp(3), config);
        peft.Train();
        var data = new ToyData(64, 8, dataSeed: 42, shuffleSeed: 7);
        var optimizer = new AdamW(peft.NamedTrainableParameters().ToArray(), learningRate: 2e-2);
        var steps = new List<long>();
        var task = new TrainingTask<(Tensor X, Tensor Y)>
        {
            ComputeLoss = b => peft.AddAuxiliaryLoss(ToySetup.MseLoss(peft, b)),
            AfterOptimizerStep = step =>
            {
                steps.Add(step);
                peft.AfterOptimizerStep(step);
            },
        };
        new Trainer<(Tensor X, Tensor Y)>(task, data, optimizer, null, new TrainerOptions { MaxSteps = 8, MaxGradNorm = null, EvaluateAtEnd = false }).Run();

        Assert.Equal([1L, 2, 3, 4, 5, 6, 7, 8], steps);
        var pattern = ((AdaLoraConfig)peft.Configs["default"]).RankPattern;
        Assert.NotNull(pattern);
        Assert.Equal(["fc1.lora_E", "fc2.lora_E"], pattern!.Keys.Order());
        int kept = pattern.Values.Sum(p => p.Count(k => k));
        Assert.InRange(kept, 1, 4);
        // Steps 7 and 8 moved E with AdamW; the fixed allocation was re-applied after each.
        foreach (var (path, layer) in peft.AdapterLayers())
        {
            var e = ((AdaLoraLayer)layer).Adapter("default").E.ToArray();
            var keep = pattern[path + ".lora_E"];
            Assert.All(Enumerable.Range(0, 4).Where(i => !keep[i]), i => Assert.Equal(0f, e[i]));
        }

        var dir = Path.Combine(Path.GetTempPath(), "peftsharp-tests", Guid.NewGuid().ToString("N"));
        peft.SavePretrained(dir);
        var loaded = PeftModel.FromPretrained(new Mlp(3), dir);
        foreach (var (path, layer) in loaded.AdapterLayers())
        {
            var a = ((AdaLoraLayer)layer).Adapter("default");
            Assert.Equal(pattern[path + ".lora_E"].Count(k => k), a.Rank);
            Assert.Equal(4f, a.RankNum);
        }
        peft.Eval();
        loaded.Eval();
        using var _ = GradMode.NoGrad();
        var x = data.All().X;
        var expected = peft.Forward(x).ToArray();
        var actual = loaded.Forward(x).ToArray();
        // Dropping triplets whose E is exactly 0 changes only the order of float32 sums: within 1e-6.
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6 + 1e-6 * Math.Abs(expected[i]), $"row {i}: {actual[i]} vs {expected[i]}");
        }
        Directory.Delete(dir, recursive: true);
    }
}
