using Quota.Algorithms.Limiting;

namespace Quota.Algorithms.Tests.Limiting;

/// <summary>Counters brought back from a checkpoint count in their own period only, and never lower what is counted.</summary>
public sealed class RestoreTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static CalendarQuotaLimiter Daily(long limit) => new(new PolicyDefinition
    {
        Name = "daily",
        Algorithm = AlgorithmKind.Calendar,
        Limit = limit,
        Period = CalendarPeriod.Day,
        TimeZone = "UTC",
    });

    [Fact]
    public void A_checkpoint_of_the_current_period_is_counted_and_the_rest_of_the_quota_admitted()
    {
        var saved = Daily(10);
        Assert.True(saved.Acquire(7, Noon).Allowed);

        var restored = Daily(10);
        Assert.True(restored.Restore(saved.PeriodStartTicks, 7, Noon.AddHours(1)));

        Assert.True(restored.Acquire(3, Noon.AddHours(1)).Allowed);
        var denied = restored.Acquire(1, Noon.AddHours(1));
        Assert.False(denied.Allowed);
        Assert.Equal(TimeSpan.FromHours(11), denied.RetryAfter);
    }

    [Fact]
    public void A_checkpoint_of_an_earlier_period_is_ignored()
    {
        var saved = Daily(10);
        saved.Acquire(10, Noon);

        var restored = Daily(10);
        Assert.False(restored.Restore(saved.PeriodStartTicks, 10, Noon.AddDays(1)));

        Assert.Equal(10, restored.GetUsage(Noon.AddDays(1)).Remaining);
    }

    [Fact]
    public void Restoring_never_lowers_what_is_already_counted()
    {
        var limiter = Daily(10);
        limiter.Acquire(6, Noon);

        Assert.True(limiter.Restore(limiter.PeriodStartTicks, 4, Noon));

        Assert.Equal(6, limiter.GetUsage(Noon).Used);
    }

    [Fact]
    public void A_fixed_window_restores_in_the_same_window_only()
    {
        var policy = new PolicyDefinition { Name = "hourly", Algorithm = AlgorithmKind.FixedWindow, Limit = 100, Window = TimeSpan.FromHours(1) };
        var saved = new FixedWindowLimiter(policy);
        saved.Acquire(40, Noon.AddMinutes(10));

        var same = new FixedWindowLimiter(policy);
        Assert.True(same.Restore(saved.PeriodStartTicks, 40, Noon.AddMinutes(50)));
        Assert.Equal(60, same.GetUsage(Noon.AddMinutes(50)).Remaining);

        var next = new FixedWindowLimiter(policy);
        Assert.False(next.Restore(saved.PeriodStartTicks, 40, Noon.AddMinutes(70)));
        Assert.Equal(100, next.GetUsage(Noon.AddMinutes(70)).Remaining);
    }

    [Fact]
    public void A_negative_count_is_a_caller_bug()
    {
        var limiter = Daily(10);
        Assert.Throws<ArgumentOutOfRangeException>(() => limiter.Restore(0, -1, Noon));
    }
}
