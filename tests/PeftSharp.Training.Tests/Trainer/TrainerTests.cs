using System.Xml.Linq;
using PeftSharp.Tensors;
using PeftSharp.Training.Checkpoints;
using PeftSharp.Training.Metrics;

namespace PeftSharp.Training.Tests.Trainer;

public class TrainerTests
{
    [Fact]
    public void Training_ReducesValidationLoss_AndWritesMetricsPlotAndCheckpoint()
    {
        using var dir = new TempDir();
        var setup = ToySetup.Create(initSeed: 1, scheduleSteps: 60);
        double initial = setup.Task.Evaluate!(default).Loss;
        var events = new List<TrainingEvent>();
        var result = setup.Trainer(new TrainerOptions { MaxSteps = 60, EvalEvery = 20, OutputDirectory = dir.Path }, new SyncProgress(events.Add)).Run();

        Assert.Equal(StopReason.Completed, result.StopReason);
        Assert.Equal(60, result.Steps);
        Assert.True(result.FinalEvaluation!.Loss < 0.25 * initial, $"validation loss {initial} → {result.FinalEvaluation.Loss}");
        Assert.Equal(60, events.OfType<StepCompleted>().Count());
        Assert.Equal(3, events.OfType<EvaluationCompleted>().Count());
        var steps = events.OfType<StepCompleted>().ToArray();
        Assert.Equal(0.0, steps[0].LearningRate); // cosine warmup starts at 0
        Assert.Equal(8 * 60, steps[^1].Tokens);
        Assert.Equal(TimeSpan.Zero, steps[^1].Eta);

        var records = JsonlMetricsWriter.Read(result.MetricsPath!);
        Assert.Equal(60, records.Count(r => r.Type == MetricRecord.Train));
        Assert.Equal(3, records.Count(r => r.Type == MetricRecord.Eval));
        var svg = XDocument.Load(result.PlotPath!);
        Assert.Equal(2, svg.Descendants().Count(e => e.Name.LocalName == "polyline"));
        Assert.Equal(Path.Combine(dir.Path, "checkpoint-60"), result.LastCheckpoint);
        Assert.Contains(result.SummaryRows(), r => r.Label == "Steps" && r.Value == "60 / 60");
    }

    [Fact]
    public void AccumulatingTwoHalfBatches_EqualsOneFullBatch()
    {
        // SGD keeps the update linear in the gradient, so float rounding differences stay at rounding size
        // (AdamW's normalisation would amplify them where a gradient is near 0).
        var full = ToySetup.Create(initSeed: 3, batch: 8, dropout: 0f, optimizer: "sgd");
        var half = ToySetup.Create(initSeed: 3, batch: 4, dropout: 0f, optimizer: "sgd");
        full.Trainer(new TrainerOptions { MaxSteps = 6, MaxGradNorm = null, EvaluateAtEnd = false }).Run();
        half.Trainer(new TrainerOptions { MaxSteps = 6, MaxGradNorm = null, GradientAccumulationSteps = 2, EvaluateAtEnd = false }).Run();
        // Mean over 8 rows vs two means over 4 rows scaled by ½: the gradients differ by a few float32 ulps per
        // step; parameters are O(1) and move by ~1e-2 per step, so 1e-5 is far above rounding and far below the
        // error of a missing or doubled scale (~1e-2).
        for (int k = 0; k < full.Parameters.Length; k++)
        {
            var a = full.Parameters[k].Parameter.ToArray();
            var b = half.Parameters[k].Parameter.ToArray();
            for (int i = 0; i < a.Length; i++)
            {
                Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5, $"{full.Parameters[k].Name}[{i}]: {a[i]} vs {b[i]}");
            }
        }
        Assert.Equal(new DataPosition(0, 6), full.Data.Position);
        Assert.Equal(new DataPosition(0, 12), half.Data.Position);
    }

    private sealed class SimulatedKill : Exception;

    [Fact]
    public void Resume_AfterKill_EqualsStraightRun_Bitwise()
    {
        var options = (string dir) => new TrainerOptions
        {
            MaxSteps = 20, GradientAccumulationSteps = 2, MaxGradNorm = 0.5, EvalEvery = 5, CheckpointEvery = 5,
            OutputDirectory = dir, ConfigHash = "toy-v1",
        };
        using var straightDir = new TempDir();
        var straight = ToySetup.Create(initSeed: 5);
        var straightResult = straight.Trainer(options(straightDir.Path)).Run();

        using var dir = new TempDir();
        var first = ToySetup.Create(initSeed: 5);
        // The process dies after step 12; the newest checkpoint is step 10.
        Assert.Throws<SimulatedKill>(() => first.Trainer(options(dir.Path), new SyncProgress(e =>
        {
            if (e is StepCompleted { Step: 12 })
            {
                throw new SimulatedKill();
            }
        })).Run());
        Assert.Equal(10, CheckpointManager.Load(dir.Path).State.Step);

        // New objects, even differently initialised: everything must come from the checkpoint.
        var resumed = ToySetup.Create(initSeed: 999);
        var events = new List<TrainingEvent>();
        var result = resumed.Trainer(options(dir.Path), new SyncProgress(events.Add)).Run(resumeFrom: dir.Path);

        Assert.Equal(10, events.OfType<Resumed>().Single().Step);
        Assert.Equal(20, result.Steps);
        Assert.Equal(straight.ParameterBits(), resumed.ParameterBits());
        Assert.Equal(straight.Dropout.Generator.State, resumed.Dropout.Generator.State);
        Assert.Equal(straight.Data.Position, resumed.Data.Position);
        Assert.Equal(straight.Optimizer.LearningRate, resumed.Optimizer.LearningRate);
        Assert.Equal(straightResult.BestValidationLoss, result.BestValidationLoss);
        Assert.Equal(straightResult.FinalTrainLoss, result.FinalTrainLoss);
        // The steps repeated after the kill are logged once.
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), JsonlMetricsWriter.Read(result.MetricsPath!).Where(r => r.Type == MetricRecord.Train).Select(r => r.Step));
    }

    [Fact]
    public void Resume_WithDifferentConfigHash_IsRefused()
    {
        using var dir = new TempDir();
        ToySetup.Create(1).Trainer(new TrainerOptions { MaxSteps = 2, OutputDirectory = dir.Path, ConfigHash = "a" }).Run();
        var e = Assert.Throws<CheckpointException>(() => ToySetup.Create(1).Trainer(new TrainerOptions { MaxSteps = 4, OutputDirectory = dir.Path, ConfigHash = "b" }).Run(dir.Path));
        Assert.Contains("configuration a", e.Message);
    }

    [Fact]
    public void Cancellation_FinishesTheStep_WritesALoadableCheckpoint_AndReturns()
    {
        using var dir = new TempDir();
        using var cts = new CancellationTokenSource();
        var setup = ToySetup.Create(initSeed: 2);
        var result = setup.Trainer(new TrainerOptions { MaxSteps = 20, OutputDirectory = dir.Path }, new SyncProgress(e =>
        {
            if (e is StepCompleted { Step: 3 })
            {
                cts.Cancel();
            }
        })).Run(cancellationToken: cts.Token);

        Assert.Equal(StopReason.Cancelled, result.StopReason);
        Assert.Equal(3, result.Steps);
        var checkpoint = CheckpointManager.Load(dir.Path);
        Assert.Equal(Path.Combine(dir.Path, "checkpoint-3"), checkpoint.Path);
        Assert.Equal(3, checkpoint.State.Step);
        Assert.Equal(new DataPosition(0, 3), checkpoint.State.DataPosition);
        foreach (var (name, p) in setup.Parameters)
        {
            Assert.Equal(p.ToArray(), checkpoint.Trainable[name].ToArray());
        }
        Assert.Contains(JsonlMetricsWriter.Read(result.MetricsPath!), r => r.Type == MetricRecord.Event && r.Message == "cancelled");
    }

    [Fact]
    public void NaNLoss_StopsWithClearMessage_LeavingTheLastCheckpointIntact()
    {
        using var dir = new TempDir();
        int calls = 0;
        var setup = ToySetup.Create(initSeed: 4, lossHook: (_, loss) => ++calls == 7 ? loss.Mul(float.NaN) : loss);
        float[][]? afterStep6 = null;
        var trainer = setup.Trainer(new TrainerOptions { MaxSteps = 20, CheckpointEvery = 5, OutputDirectory = dir.Path }, new SyncProgress(e =>
        {
            if (e is StepCompleted { Step: 6 })
            {
                afterStep6 = setup.Parameters.Select(p => p.Parameter.ToArray()).ToArray();
            }
        }));

        var ex = Assert.Throws<TrainingDivergedException>(() => trainer.Run());
        var checkpoint5 = Path.Combine(dir.Path, "checkpoint-5");
        Assert.Equal(7, ex.Step);
        Assert.Equal(checkpoint5, ex.LastCheckpoint);
        Assert.Contains("step 7: the loss is NaN (micro-batch 1 of 1, data at epoch 0, batch 6)", ex.Message);
        Assert.Contains(checkpoint5, ex.Message);

        Assert.Equal(afterStep6, setup.Parameters.Select(p => p.Parameter.ToArray()).ToArray());
        Assert.Equal(checkpoint5, new CheckpointManager(dir.Path).FindLatest());
        Assert.Equal(5, CheckpointManager.Load(dir.Path).State.Step);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "checkpoint-7")));
        Assert.Contains(JsonlMetricsWriter.Read(Path.Combine(dir.Path, TrainerOptions.MetricsFileName)), r => r.Type == MetricRecord.Event && r.Message!.Contains("diverged"));
    }

    [Fact]
    public void EarlyStopping_StopsAfterPatienceEvaluationsWithoutImprovement()
    {
        var losses = new Queue<double>([1.0, 0.8, 0.9, 0.85, 0.7]);
        var setup = ToySetup.Create(initSeed: 6);
        var task = new TrainingTask<(Tensor X, Tensor Y)>
        {
            ComputeLoss = b => ToySetup.MseLoss(setup.Model, b),
            Evaluate = _ => new EvaluationResult(losses.Dequeue()),
        };
        var events = new List<EvaluationCompleted>();
        var trainer = new Trainer<(Tensor X, Tensor Y)>(task, setup.Data, setup.Optimizer, setup.Scheduler,
            new TrainerOptions { MaxSteps = 100, EvalEvery = 2, EarlyStoppingPatience = 2, EarlyStoppingMinDelta = 0.01 }, setup.Model,
            progress: new SyncProgress(e => { if (e is EvaluationCompleted ec) events.Add(ec); }));
        var result = trainer.Run();

        Assert.Equal(StopReason.EarlyStopped, result.StopReason);
        Assert.Equal(8, result.Steps);
        Assert.Equal(0.8, result.BestValidationLoss);
        Assert.Equal(4, result.BestStep);
        Assert.Equal([true, true, false, false], events.Select(e => e.IsBest));
    }

    [Fact]
    public void BadOptions_AreRejectedWithTheirName()
    {
        var setup = ToySetup.Create(1);
        Assert.Contains("GradientAccumulationSteps", Assert.Throws<ArgumentOutOfRangeException>(() => setup.Trainer(new TrainerOptions { MaxSteps = 1, GradientAccumulationSteps = 0 })).Message);
        Assert.Contains("OutputDirectory", Assert.Throws<ArgumentException>(() => setup.Trainer(new TrainerOptions { MaxSteps = 1, CheckpointEvery = 5 })).Message);
        Assert.Contains("EvalEvery", Assert.Throws<ArgumentException>(() => setup.Trainer(new TrainerOptions { MaxSteps = 1, EarlyStoppingPatience = 2 })).Message);
    }
}

public class TrainingResultTests
{
    [Fact]
    public void SummaryRows_ShowTotalHours()
    {
        var r = new TrainingResult { StopReason = StopReason.Completed, Steps = 5, MaxSteps = 5, Elapsed = new TimeSpan(1, 2, 3, 4), FinalEvaluation = new EvaluationResult(Math.Log(4), 0.5) };
        var rows = r.SummaryRows().ToDictionary(x => x.Label, x => x.Value);
        Assert.Equal("26:03:04", rows["Time"]);
        Assert.Equal("4", rows["Validation perplexity"]);
        Assert.Equal("50.00 %", rows["Validation accuracy"]);
    }
}
