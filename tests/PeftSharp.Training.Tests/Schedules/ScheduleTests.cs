using PeftSharp.Tensors;
using PeftSharp.Training.Optimizers;
using PeftSharp.Training.Schedules;

namespace PeftSharp.Training.Tests.Schedules;

public class ScheduleTests
{
    // Values worked out by hand from the transformers definitions (W = 10 warmup, N = 110 total, so N − W = 100).
    [Theory]
    [InlineData("constant", 0, 1.0)]
    [InlineData("constant", 500, 1.0)]
    [InlineData("constant_with_warmup", 0, 0.0)]
    [InlineData("constant_with_warmup", 4, 0.4)]
    [InlineData("constant_with_warmup", 10, 1.0)]
    [InlineData("constant_with_warmup", 1000, 1.0)]
    [InlineData("linear", 0, 0.0)]
    [InlineData("linear", 5, 0.5)]
    [InlineData("linear", 10, 1.0)]
    [InlineData("linear", 35, 0.75)]
    [InlineData("linear", 60, 0.5)]
    [InlineData("linear", 110, 0.0)]
    [InlineData("linear", 200, 0.0)]
    [InlineData("cosine", 3, 0.3)]
    [InlineData("cosine", 10, 1.0)]
    [InlineData("cosine", 35, 0.85355339059327373)] // ½(1 + cos(π/4)) = ½ + √2/4
    [InlineData("cosine", 60, 0.5)]                  // ½(1 + cos(π/2))
    [InlineData("cosine", 85, 0.14644660940672627)] // ½(1 + cos(3π/4)) = ½ − √2/4
    [InlineData("cosine", 110, 0.0)]
    [InlineData("cosine", 150, 0.34549150281252627)] // progress 1.4: ½(1 − cos(0.4π)), cos(0.4π) = (√5 − 1)/4
    public void Multiplier_MatchesClosedForm(string kind, long step, double expected)
    {
        var schedule = LearningRateSchedule.Create(kind, 10, 110);
        Assert.Equal(expected, schedule.Multiplier(step), 12);
    }

    [Fact]
    public void Cosine_PastTheEnd_RisesAgainOnlyWhereTransformersDoes()
    {
        // With c = 0.5, cos(π · progress) for progress in (1, 2] is ≥ −1 and rises: transformers' schedule does too
        // (it clamps only below 0). At progress 1.5, ½(1 + cos(1.5π)) = ½.
        var s = LearningRateSchedule.Cosine(0, 100);
        Assert.Equal(0.5, s.Multiplier(150), 12);
    }

    [Fact]
    public void ZeroWarmup_AndDegenerateLengths_DoNotDivideByZero()
    {
        Assert.Equal(1.0, LearningRateSchedule.Linear(0, 10).Multiplier(0));
        Assert.Equal(0.0, LearningRateSchedule.Linear(5, 5).Multiplier(5));
        Assert.Equal(1.0, LearningRateSchedule.Cosine(5, 5).Multiplier(5));
        Assert.Throws<ArgumentException>(() => LearningRateSchedule.Create("exponential", 0, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.Linear(-1, 10));
    }

    [Fact]
    public void Scheduler_SetsEachGroupFromItsInitialRate_AndRestoresState()
    {
        var a = Tensor.Zeros(2);
        var b = Tensor.Zeros(2);
        var opt = new Sgd([new ParameterGroup([("a", a)]), new ParameterGroup([("b", b)], learningRate: 0.5)], learningRate: 0.1);
        var sched = new LrScheduler(opt, LearningRateSchedule.Linear(2, 6));
        Assert.Equal(0.0, opt.Groups[0].LearningRate);
        sched.Step();
        Assert.Equal(0.1 * 0.5, opt.Groups[0].LearningRate, 15);
        Assert.Equal(0.5 * 0.5, opt.Groups[1].LearningRate, 15);
        sched.Step();
        sched.Step();
        Assert.Equal(0.1 * 0.75, opt.Groups[0].LearningRate, 15);

        var state = sched.GetState();
        var opt2 = new Sgd([new ParameterGroup([("a", a)]), new ParameterGroup([("b", b)], learningRate: 0.5)], learningRate: 0.1);
        var sched2 = new LrScheduler(opt2, LearningRateSchedule.Linear(2, 6));
        sched2.LoadState(state);
        Assert.Equal(3, sched2.StepCount);
        Assert.Equal(opt.Groups[1].LearningRate, opt2.Groups[1].LearningRate);

        var other = new LrScheduler(opt2, LearningRateSchedule.Cosine(2, 6));
        var e = Assert.Throws<InvalidDataException>(() => other.LoadState(state));
        Assert.Contains("linear", e.Message);
    }
}
