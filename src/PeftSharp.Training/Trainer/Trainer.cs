using System.Diagnostics;
using System.Globalization;
using PeftSharp.Nn;
using PeftSharp.Tensors;
using PeftSharp.Training.Checkpoints;
using PeftSharp.Training.Metrics;
using PeftSharp.Training.Optimizers;
using PeftSharp.Training.Schedules;

namespace PeftSharp.Training;

/// <summary>
/// The training loop, independent of models and data formats. Each optimizer step:
/// <list type="number">
/// <item>opens one <see cref="TensorScope"/> (all step tensors return to the pool when it ends);</item>
/// <item>for each of the <see cref="TrainerOptions.GradientAccumulationSteps"/> micro-batches: takes a batch,
/// computes the loss, stops with <see cref="TrainingDivergedException"/> if it is NaN/∞, and back-propagates
/// loss / accumulation steps;</item>
/// <item>clips the global gradient norm (stopping if it is not finite), steps the optimizer with the scheduled
/// learning rate, calls <see cref="TrainingTask{TBatch}.AfterOptimizerStep"/> (gradients still present),
/// zeroes gradients (keeping their buffers) and advances the scheduler.</item>
/// </list>
/// Between steps it evaluates, checks early stopping, writes checkpoints and metrics, reports progress, and
/// honours cancellation (finishing the current step, then writing a checkpoint). A run resumed from a checkpoint
/// continues bitwise as if it had never stopped, provided the task is deterministic given the restored
/// parameters, data position and the generators passed in <c>rngs</c>.
/// </summary>
public sealed class Trainer<TBatch>
{
    private readonly TrainingTask<TBatch> _task;
    private readonly IBatchSource<TBatch> _data;
    private readonly IOptimizer _optimizer;
    private readonly LrScheduler? _scheduler;
    private readonly TrainerOptions _options;
    private readonly Module? _model;
    private readonly IReadOnlyDictionary<string, Rng> _rngs;
    private readonly IProgress<TrainingEvent>? _progress;
    private readonly Tensor[] _parameters;

    /// <param name="task">Loss, evaluation and token counting.</param>
    /// <param name="data">The training batches.</param>
    /// <param name="optimizer">Its named parameters are what checkpoints save and restore.</param>
    /// <param name="scheduler">Drives the learning rate; null keeps the optimizer's rate.</param>
    /// <param name="options">Loop settings.</param>
    /// <param name="model">When given, switched to evaluation mode during evaluation and back to training mode after.</param>
    /// <param name="rngs">Generators whose states are checkpointed (e.g. dropout), by a stable name.</param>
    /// <param name="progress">Receives <see cref="TrainingEvent"/>s on the training thread.</param>
    public Trainer(TrainingTask<TBatch> task, IBatchSource<TBatch> data, IOptimizer optimizer, LrScheduler? scheduler, TrainerOptions options,
        Module? model = null, IReadOnlyDictionary<string, Rng>? rngs = null, IProgress<TrainingEvent>? progress = null)
    {
        _task = task ?? throw new ArgumentNullException(nameof(task));
        _data = data ?? throw new ArgumentNullException(nameof(data));
        _optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _options.Validate(task.Evaluate is not null);
        _scheduler = scheduler;
        _model = model;
        _rngs = rngs ?? new Dictionary<string, Rng>();
        _progress = progress;
        _parameters = optimizer.NamedParameters.Select(p => p.Parameter).ToArray();
    }

    /// <summary>
    /// Trains until <see cref="TrainerOptions.MaxSteps"/>, early stopping or cancellation. With
    /// <paramref name="resumeFrom"/> (a checkpoint folder or an output folder, whose newest complete checkpoint is
    /// used) the parameters, optimizer, scheduler, generators, data position and early-stopping state are restored
    /// first.
    /// </summary>
    /// <exception cref="TrainingDivergedException">The loss or gradient norm became NaN or infinite; nothing was written for that step.</exception>
    /// <exception cref="CheckpointException">The checkpoint to resume from is missing, incomplete or belongs to a different configuration.</exception>
    public TrainingResult Run(string? resumeFrom = null, CancellationToken cancellationToken = default)
    {
        var state = new TrainerState { ConfigHash = _options.ConfigHash };
        CheckpointManager? checkpoints = _options.OutputDirectory is { } dir ? new CheckpointManager(dir, _options.KeepCheckpoints) : null;
        string? metricsPath = _options.OutputDirectory is { } d1 ? Path.Combine(Path.GetFullPath(d1), TrainerOptions.MetricsFileName) : null;
        string? plotPath = _options.OutputDirectory is { } d2 ? Path.Combine(Path.GetFullPath(d2), TrainerOptions.PlotFileName) : null;
        string? lastCheckpoint = null;
        long lastSavedStep = -1;

        if (resumeFrom is not null)
        {
            var checkpoint = CheckpointManager.Load(resumeFrom);
            state = Restore(checkpoint);
            lastCheckpoint = checkpoint.Path;
            lastSavedStep = state.Step;
            if (metricsPath is not null)
            {
                JsonlMetricsWriter.TruncateAfter(metricsPath, state.Step);
            }
            _progress?.Report(new Resumed(state.Step, checkpoint.Path));
        }

        var trainCurve = new List<(long, double)>();
        var evalCurve = new List<(long, double)>();
        if (metricsPath is not null && resumeFrom is not null)
        {
            foreach (var r in JsonlMetricsWriter.Read(metricsPath))
            {
                if (r.Get("loss") is { } loss)
                {
                    (r.Type == MetricRecord.Eval ? evalCurve : r.Type == MetricRecord.Train ? trainCurve : null)?.Add((r.Step, loss));
                }
            }
        }
        using var metrics = metricsPath is not null ? new JsonlMetricsWriter(metricsPath, append: resumeFrom is not null) : null;

        var clock = Stopwatch.StartNew();
        long stepsThisRun = 0, tokensThisRun = 0;
        var reason = StopReason.Completed;
        EvaluationResult? lastEvaluation = null;
        long lastEvalStep = -1;
        _model?.Train();
        _optimizer.ZeroGrad();

        string Save()
        {
            state.RngStates = _rngs.ToDictionary(p => p.Key, p => p.Value.State, StringComparer.Ordinal);
            var path = checkpoints!.Save(state, _optimizer.NamedParameters.Select(p => KeyValuePair.Create(p.Name, p.Parameter)), _optimizer.StateDict(), _options.WriteCheckpointExtras);
            lastCheckpoint = path;
            lastSavedStep = state.Step;
            LossCurvePlot.Write(plotPath!, trainCurve, evalCurve);
            _progress?.Report(new CheckpointSaved(state.Step, path));
            return path;
        }

        bool Evaluate()
        {
            EvaluationResult result;
            _model?.Eval();
            try
            {
                using var noGrad = PeftSharp.Tensors.Autograd.GradMode.NoGrad();
                using var scope = TensorScope.Begin();
                result = _task.Evaluate!(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return false;
            }
            finally
            {
                _model?.Train();
            }
            lastEvaluation = result;
            lastEvalStep = state.Step;
            bool improved = double.IsFinite(result.Loss) && (state.BestMetric is not { } best || result.Loss < best - _options.EarlyStoppingMinDelta);
            if (improved)
            {
                state.BestMetric = result.Loss;
                state.BestStep = state.Step;
                state.EvaluationsWithoutImprovement = 0;
            }
            else
            {
                state.EvaluationsWithoutImprovement++;
            }
            evalCurve.Add((state.Step, result.Loss));
            var values = new Dictionary<string, double> { ["loss"] = result.Loss, ["perplexity"] = result.Perplexity };
            if (result.Accuracy is { } acc)
            {
                values["accuracy"] = acc;
            }
            metrics?.Write(new MetricRecord(MetricRecord.Eval, state.Step, values));
            _progress?.Report(new EvaluationCompleted(state.Step, result, improved, state.EvaluationsWithoutImprovement));
            return _options.EarlyStoppingPatience is { } patience && state.EvaluationsWithoutImprovement >= patience;
        }

        while (state.Step < _options.MaxSteps)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                reason = StopReason.Cancelled;
                break;
            }
            double learningRate = _optimizer.LearningRate;
            (double loss, float gradNorm, long tokens) = TrainStep(state, lastCheckpoint, metrics, trainCurve, evalCurve, plotPath);
            state.Step++;
            _scheduler?.Step();
            state.DataPosition = _data.Position;
            state.Epoch = state.DataPosition.Epoch;
            state.Tokens += tokens;
            state.LastLoss = loss;
            state.Scheduler = _scheduler?.GetState();
            stepsThisRun++;
            tokensThisRun += tokens;
            trainCurve.Add((state.Step, loss));

            var elapsed = clock.Elapsed;
            double tokensPerSecond = elapsed.TotalSeconds > 0 ? tokensThisRun / elapsed.TotalSeconds : 0;
            TimeSpan? eta = stepsThisRun > 0 ? TimeSpan.FromSeconds(elapsed.TotalSeconds / stepsThisRun * (_options.MaxSteps - state.Step)) : null;
            metrics?.Write(new MetricRecord(MetricRecord.Train, state.Step, new Dictionary<string, double>
            {
                ["loss"] = loss,
                ["lr"] = learningRate,
                ["grad_norm"] = gradNorm,
                ["epoch"] = state.Epoch,
                ["tokens"] = state.Tokens,
                ["tokens_per_second"] = tokensPerSecond,
            }));
            _progress?.Report(new StepCompleted(state.Step, _options.MaxSteps, state.Epoch, loss, learningRate, gradNorm, state.Tokens, tokensPerSecond, elapsed, eta));

            bool stop = false;
            if (_task.Evaluate is not null && _options.EvalEvery > 0 && state.Step % _options.EvalEvery == 0)
            {
                stop = Evaluate();
            }
            if (checkpoints is not null && _options.CheckpointEvery > 0 && state.Step % _options.CheckpointEvery == 0)
            {
                Save();
            }
            if (stop)
            {
                reason = StopReason.EarlyStopped;
                break;
            }
        }

        if (reason == StopReason.Completed && _options.EvaluateAtEnd && _task.Evaluate is not null && lastEvalStep != state.Step && !cancellationToken.IsCancellationRequested)
        {
            Evaluate();
        }
        if (checkpoints is not null && lastSavedStep != state.Step)
        {
            Save();
        }
        else if (plotPath is not null)
        {
            LossCurvePlot.Write(plotPath, trainCurve, evalCurve);
        }
        if (reason == StopReason.Cancelled)
        {
            metrics?.Write(new MetricRecord(MetricRecord.Event, state.Step, new Dictionary<string, double>(), "cancelled"));
        }

        var total = clock.Elapsed;
        return new TrainingResult
        {
            StopReason = reason,
            Steps = state.Step,
            MaxSteps = _options.MaxSteps,
            FinalTrainLoss = state.LastLoss,
            FinalEvaluation = lastEvaluation,
            BestValidationLoss = state.BestMetric,
            BestStep = state.BestStep,
            Tokens = state.Tokens,
            Elapsed = total,
            TokensPerSecond = total.TotalSeconds > 0 ? tokensThisRun / total.TotalSeconds : 0,
            LastCheckpoint = lastCheckpoint,
            MetricsPath = metricsPath,
            PlotPath = plotPath,
        };
    }

    private (double Loss, float GradNorm, long Tokens) TrainStep(TrainerState state, string? lastCheckpoint, JsonlMetricsWriter? metrics,
        List<(long, double)> trainCurve, List<(long, double)> evalCurve, string? plotPath)
    {
        int accumulation = _options.GradientAccumulationSteps;
        long step = state.Step + 1;
        double lossSum = 0;
        long tokens = 0;
        using (TensorScope.Begin())
        {
            for (int micro = 0; micro < accumulation; micro++)
            {
                var position = _data.Position;
                var batch = _data.Next();
                tokens += _task.CountTokens?.Invoke(batch) ?? 0;
                var loss = _task.ComputeLoss(batch);
                if (loss.Numel != 1 || !loss.RequiresGrad)
                {
                    throw new InvalidOperationException($"ComputeLoss must return a scalar that requires grad; it returned {loss} at step {step}.");
                }
                float value = loss.Item();
                if (!float.IsFinite(value))
                {
                    Diverge(step, $"the loss is {Describe(value)} (micro-batch {micro + 1} of {accumulation}, data at {position})", lastCheckpoint, metrics, trainCurve, evalCurve, plotPath);
                }
                lossSum += value;
                (accumulation == 1 ? loss : loss / accumulation).Backward();
            }
            float norm = _options.MaxGradNorm is { } max ? GradientTools.ClipGradNorm(_parameters, max) : GradientTools.GlobalNorm(_parameters);
            if (!float.IsFinite(norm))
            {
                Diverge(step, $"the gradient norm is {Describe(norm)} although the loss ({lossSum / accumulation:g6}) is finite", lastCheckpoint, metrics, trainCurve, evalCurve, plotPath);
            }
            _optimizer.Step();
            _task.AfterOptimizerStep?.Invoke(step);
            _optimizer.ZeroGrad();
            return (lossSum / accumulation, norm, tokens);
        }
    }

    private void Diverge(long step, string what, string? lastCheckpoint, JsonlMetricsWriter? metrics, List<(long, double)> trainCurve, List<(long, double)> evalCurve, string? plotPath)
    {
        // Leave the parameters as they were: gradients of this step are discarded, nothing is saved.
        _optimizer.ZeroGrad(setToNone: true);
        string message = $"Training diverged at step {step}: {what}. The parameters were not updated by this step and no checkpoint was written for it. "
            + (lastCheckpoint is null
                ? "No checkpoint exists yet."
                : $"The last good checkpoint is {lastCheckpoint}; resume from it with a lower learning rate or gradient clipping.");
        metrics?.Write(new MetricRecord(MetricRecord.Event, step, new Dictionary<string, double>(), message));
        if (plotPath is not null)
        {
            LossCurvePlot.Write(plotPath, trainCurve, evalCurve);
        }
        throw new TrainingDivergedException(message, step, lastCheckpoint);
    }

    private static string Describe(float v) => float.IsNaN(v) ? "NaN" : v > 0 ? "+Infinity" : "-Infinity";

    private TrainerState Restore(Checkpoint checkpoint)
    {
        var s = checkpoint.State;
        if (_options.ConfigHash is not null && s.ConfigHash is not null && s.ConfigHash != _options.ConfigHash)
        {
            throw new CheckpointException($"Checkpoint {checkpoint.Path} was written with configuration {s.ConfigHash}, but this run's configuration is {_options.ConfigHash}. Resume with the original settings or start a new run.");
        }
        var missing = _rngs.Keys.Where(k => !s.RngStates.ContainsKey(k)).ToArray();
        var unknown = s.RngStates.Keys.Where(k => !_rngs.ContainsKey(k)).ToArray();
        if (missing.Length > 0 || unknown.Length > 0)
        {
            throw new CheckpointException($"Checkpoint {checkpoint.Path} has random-generator states [{string.Join(", ", s.RngStates.Keys)}] but this run has [{string.Join(", ", _rngs.Keys)}].");
        }
        if (_scheduler is not null && s.Scheduler is null)
        {
            throw new CheckpointException($"Checkpoint {checkpoint.Path} has no scheduler state, but this run uses a {_scheduler.Schedule.Kind} schedule.");
        }
        checkpoint.CopyTrainableInto(_optimizer.NamedParameters);
        try
        {
            _optimizer.LoadStateDict(checkpoint.Optimizer);
            if (_scheduler is not null)
            {
                _scheduler.LoadState(s.Scheduler!);
            }
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointException($"Checkpoint {checkpoint.Path}: {e.Message}", e);
        }
        foreach (var (name, rng) in _rngs)
        {
            rng.State = s.RngStates[name];
        }
        _data.Position = s.DataPosition;
        s.ConfigHash = _options.ConfigHash ?? s.ConfigHash;
        s.RngStates = _rngs.ToDictionary(p => p.Key, p => p.Value.State, StringComparer.Ordinal);
        return s;
    }
}
