using PeftSharp.Nn;
using PeftSharp.Tensors;
using PeftSharp.Training.Checkpoints;
using PeftSharp.Training.Optimizers;
using PeftSharp.Training.Schedules;

namespace PeftSharp.Training.Tests.Trainer;

/// <summary>A small regression problem: y = sin(x·a) + 0.5·x₂ over 4 features, fitted by a 4-16-1 MLP.</summary>
internal sealed class ToyData : IBatchSource<(Tensor X, Tensor Y)>
{
    public const int Features = 4;
    private readonly float[][] _x;
    private readonly float[] _y;
    private readonly int _batch;
    private readonly ulong _shuffleSeed;
    private int[] _order = [];
    private long _orderEpoch = -1;

    public ToyData(int rows, int batch, ulong dataSeed, ulong shuffleSeed)
    {
        var rng = new Rng(dataSeed);
        _x = Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, Features).Select(_ => rng.NextNormal()).ToArray()).ToArray();
        _y = _x.Select(r => MathF.Sin(r[0] * 0.8f + r[1] * 0.5f) + 0.5f * r[2] - 0.2f * r[3]).ToArray();
        _batch = batch;
        _shuffleSeed = shuffleSeed;
    }

    public long BatchesPerEpoch => _x.Length / _batch;

    public DataPosition Position { get; set; }

    public (Tensor X, Tensor Y) Next()
    {
        if (Position.Batch >= BatchesPerEpoch)
        {
            Position = new DataPosition(Position.Epoch + 1, 0);
        }
        var order = Order(Position.Epoch);
        var x = new float[_batch * Features];
        var y = new float[_batch];
        for (int i = 0; i < _batch; i++)
        {
            int row = order[(int)Position.Batch * _batch + i];
            _x[row].CopyTo(x, i * Features);
            y[i] = _y[row];
        }
        Position = Position with { Batch = Position.Batch + 1 };
        return (Tensor.FromArray(x, _batch, Features), Tensor.FromArray(y, _batch, 1));
    }

    /// <summary>All rows as one batch (validation).</summary>
    public (Tensor X, Tensor Y) All() =>
        (Tensor.FromArray(_x.SelectMany(r => r).ToArray(), _x.Length, Features), Tensor.FromArray(_y, _y.Length, 1));

    private int[] Order(long epoch)
    {
        // The permutation is a function of (seed, epoch) only, so a position alone restores the stream.
        if (epoch != _orderEpoch)
        {
            var rng = new Rng(_shuffleSeed ^ (ulong)epoch * 0x9E3779B97F4A7C15UL);
            _order = Enumerable.Range(0, _x.Length).ToArray();
            for (int i = _order.Length - 1; i > 0; i--)
            {
                int j = rng.NextInt(i + 1);
                (_order[i], _order[j]) = (_order[j], _order[i]);
            }
            _orderEpoch = epoch;
        }
        return _order;
    }
}

internal sealed class ToySetup
{
    public required Sequential Model { get; init; }
    public required Dropout Dropout { get; init; }
    public required ToyData Data { get; init; }
    public required ToyData Validation { get; init; }
    public required IOptimizer Optimizer { get; init; }
    public required LrScheduler? Scheduler { get; init; }
    public required TrainingTask<(Tensor X, Tensor Y)> Task { get; init; }

    public (string Name, Tensor Parameter)[] Parameters => Optimizer.NamedParameters.ToArray();

    public static Tensor MseLoss(Module model, (Tensor X, Tensor Y) batch)
    {
        var diff = model.Forward(batch.X).Sub(batch.Y);
        return diff.Mul(diff).Mean();
    }

    /// <summary>Builds everything from scratch, as a new process would.</summary>
    public static ToySetup Create(ulong initSeed, int batch = 8, float dropout = 0.1f, string optimizer = "adamw", long scheduleSteps = 20,
        Func<(Tensor X, Tensor Y), Tensor, Tensor>? lossHook = null)
    {
        var rng = new Rng(initSeed);
        var drop = new Dropout(dropout, new Rng(1234));
        var model = new Sequential(new Linear(ToyData.Features, 16, rng: rng), drop, Activation.Tanh(), new Linear(16, 1, rng: rng));
        var named = model.NamedParameters().Where(p => p.Parameter.RequiresGrad).ToArray();
        IOptimizer opt = optimizer == "adamw"
            ? new AdamW(ParameterGroups.SplitWeightDecay(named, 0.01), learningRate: 2e-2)
            : new Sgd(named, learningRate: 0.05, momentum: 0.9);
        var scheduler = optimizer == "adamw" ? new LrScheduler(opt, LearningRateSchedule.Cosine(3, scheduleSteps)) : null;
        var data = new ToyData(64, batch, dataSeed: 42, shuffleSeed: 7);
        var validation = new ToyData(32, 32, dataSeed: 43, shuffleSeed: 0);
        var task = new TrainingTask<(Tensor X, Tensor Y)>
        {
            ComputeLoss = b => lossHook is null ? MseLoss(model, b) : lossHook(b, MseLoss(model, b)),
            CountTokens = b => b.X.Dim(0),
            Evaluate = _ => new EvaluationResult(MseLoss(model, validation.All()).Item()),
        };
        return new ToySetup { Model = model, Dropout = drop, Data = data, Validation = validation, Optimizer = opt, Scheduler = scheduler, Task = task };
    }

    public Trainer<(Tensor X, Tensor Y)> Trainer(TrainerOptions options, IProgress<TrainingEvent>? progress = null) =>
        new(Task, Data, Optimizer, Scheduler, options, Model, new Dictionary<string, Rng> { ["dropout"] = Dropout.Generator }, progress);

    public int[][] ParameterBits() => Parameters.Select(p => p.Parameter.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray()).ToArray();
}

/// <summary>Reports events synchronously (System.Progress would post them to the thread pool).</summary>
internal sealed class SyncProgress(Action<TrainingEvent> onEvent) : IProgress<TrainingEvent>
{
    public void Report(TrainingEvent value) => onEvent(value);
}
