using PeftSharp.Training.Optimizers;

namespace PeftSharp.Training.Schedules;

/// <summary>
/// Drives an optimizer's learning rates from a schedule, like torch's <c>LambdaLR</c>: on creation every
/// group's rate becomes <c>InitialLearningRate · λ(0)</c>; each <see cref="Step"/> (called after the optimizer
/// step) advances the count and sets <c>InitialLearningRate · λ(count)</c>.
/// </summary>
public sealed class LrScheduler
{
    private readonly IOptimizer _optimizer;

    public LrScheduler(IOptimizer optimizer, LearningRateSchedule schedule)
    {
        _optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        Schedule = schedule ?? throw new ArgumentNullException(nameof(schedule));
        Apply();
    }

    public LearningRateSchedule Schedule { get; }

    /// <summary>Scheduler steps taken so far (torch's <c>last_epoch</c>); the next optimizer step uses λ(StepCount).</summary>
    public long StepCount { get; private set; }

    /// <summary>The first group's current learning rate.</summary>
    public double LearningRate => _optimizer.Groups[0].LearningRate;

    /// <summary>Advances one step and updates the learning rates.</summary>
    public void Step()
    {
        StepCount++;
        Apply();
    }

    /// <summary>The scheduler's state, for checkpoints.</summary>
    public SchedulerState GetState() => new(Schedule.Kind, Schedule.WarmupSteps, Schedule.TrainingSteps, StepCount);

    /// <summary>Restores a state saved by <see cref="GetState"/> and sets the learning rates for it.</summary>
    /// <exception cref="InvalidDataException">The state was saved for a different schedule (kind, warmup or length), or its step is negative.</exception>
    public void LoadState(SchedulerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Kind != Schedule.Kind || state.WarmupSteps != Schedule.WarmupSteps || state.TrainingSteps != Schedule.TrainingSteps)
        {
            throw new InvalidDataException($"The checkpoint's schedule is {state.Kind}(warmup={state.WarmupSteps}, steps={state.TrainingSteps}) but this run uses {Schedule}; resuming would change the learning rates.");
        }
        if (state.Step < 0)
        {
            throw new InvalidDataException($"The checkpoint's scheduler step is negative ({state.Step}).");
        }
        StepCount = state.Step;
        Apply();
    }

    private void Apply()
    {
        double m = Schedule.Multiplier(StepCount);
        foreach (var g in _optimizer.Groups)
        {
            g.LearningRate = g.InitialLearningRate * m;
        }
    }
}

/// <summary>A scheduler's saved state.</summary>
public sealed record SchedulerState(string Kind, long WarmupSteps, long TrainingSteps, long Step);
