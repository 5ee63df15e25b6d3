using CsCheck;
using Quota.Algorithms.Planning;

namespace Quota.Algorithms.Tests.Planning;

/// <summary>The deadline planner's answers, exact, and its invariants over random batches.</summary>
public sealed class WorkPlanTests
{
    [Fact]
    public void AHundredAndEightEventsAtTwentyAMinuteCannotMeetThreeMinutesAndFourWorkersSuffice()
    {
        var plan = WorkPlan.Of(108, 20.0 / 60, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(3), maxWorkers: 10);

        Assert.False(plan.Feasible);
        Assert.Equal(TimeSpan.FromMinutes(5.4), plan.FinishTime);
        Assert.Equal(4, plan.Workers);
        Assert.Equal(4, plan.WorkersUsable);
        Assert.Equal(6, plan.WorkersForDeadline);
        Assert.Equal("rate", plan.LimitedBy);
    }

    [Fact]
    public void ALooseDeadlineRunsTheFewestWorkersThatMeetIt()
    {
        // 60 items, 10 s each, no rate limit, 5 minutes: 30 items per worker fit, so 2 workers finish in 300 s.
        var plan = WorkPlan.Of(60, null, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(5), maxWorkers: 10);

        Assert.True(plan.Feasible);
        Assert.Equal(2, plan.Workers);
        Assert.Equal(TimeSpan.FromSeconds(300), plan.FinishTime);
        Assert.Null(plan.WorkersUsable);
        Assert.Equal("workers", plan.LimitedBy);
    }

    [Fact]
    public void TheMaximumCapsTheWorkersAndTheFinishFollows()
    {
        // Needs 4 for the deadline (18 items each), the limits could use 100, only 3 may run: 20 items each, 200 s, past 180 s.
        var plan = WorkPlan.Of(60, 10, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(3), maxWorkers: 3);

        Assert.False(plan.Feasible);
        Assert.Equal(3, plan.Workers);
        Assert.Equal(4, plan.WorkersForDeadline);
        Assert.Equal(TimeSpan.FromSeconds(200), plan.FinishTime);
    }

    [Fact]
    public void ADeadlineShorterThanOneItemHasNoWorkerCountThatMeetsIt()
    {
        var plan = WorkPlan.Of(5, null, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5), maxWorkers: 10);

        Assert.False(plan.Feasible);
        Assert.Null(plan.WorkersForDeadline);
        Assert.Equal(5, plan.Workers);
        Assert.Equal(TimeSpan.FromSeconds(10), plan.FinishTime);
    }

    [Fact]
    public void NoItemsNeedNoWorkers()
    {
        var plan = WorkPlan.Of(0, 1, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), maxWorkers: 4);

        Assert.Equal(new WorkPlan(true, TimeSpan.Zero, 0, 0, 0, "none"), plan);
    }

    [Fact]
    public void AnExactProductOfRateAndTimeAsksForNoExtraWorker()
    {
        // 0.1 per second * 30 s is 3 in floating point only after rounding.
        Assert.Equal(3, WorkPlan.Of(100, 0.1, TimeSpan.FromSeconds(30), null, 10).WorkersUsable);
    }

    [Fact]
    public void WorkersStayWithinBoundsAndTheFinishIsNeverBeforeTheRateAllows()
    {
        Gen.Select(Gen.Long[1, 5000], Gen.Int[1, 600], Gen.Int[1, 120], Gen.Int[1, 3600], Gen.Int[1, 50])
            .Sample((items, perMinute, seconds, deadline, max) =>
            {
                var rate = perMinute / 60.0;
                var plan = WorkPlan.Of(items, rate, TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(deadline), max);
                return plan.Workers >= 1 && plan.Workers <= max && plan.Workers <= items
                    && plan.FinishTime.TotalSeconds >= Math.Round(items / rate, 6) - 1e-6
                    && plan.FinishTime >= TimeSpan.FromSeconds(seconds)
                    && plan.Feasible == (plan.FinishTime <= TimeSpan.FromSeconds(deadline));
            });
    }

    [Theory]
    [InlineData(1e-300, 1)]
    [InlineData(1e300, 86_400)]
    public void AFinishPastWhatATimeSpanHoldsIsItsMaximumNotAnOverflow(double perSecond, int processingSeconds)
    {
        // 2^31 - 1 items: at 1e-300 a second the limits never get there; at a day each on one worker, 5.9 million years.
        var plan = WorkPlan.Of(int.MaxValue, perSecond, TimeSpan.FromSeconds(processingSeconds), TimeSpan.FromMinutes(3), 1);

        Assert.Equal(TimeSpan.MaxValue, plan.FinishTime);
        Assert.False(plan.Feasible);
        Assert.Equal(1, plan.Workers);
    }
}
