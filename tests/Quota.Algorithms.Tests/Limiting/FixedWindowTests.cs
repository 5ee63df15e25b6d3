using Quota.Algorithms.Limiting;

namespace Quota.Algorithms.Tests.Limiting;

/// <summary>Hand-computed numbers for fixed windows aligned to the Unix epoch.</summary>
public sealed class FixedWindowTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);

    private static readonly TimeSpan OneTick = TimeSpan.FromTicks(1);

    private static FixedWindowLimiter Fixed(long limit, TimeSpan window) =>
        new(new PolicyDefinition { Name = "fixed", Algorithm = AlgorithmKind.FixedWindow, Limit = limit, Window = window });

    private static DateTimeOffset Sec(double seconds) => T0 + TimeSpan.FromSeconds(seconds);

    [Fact]
    public void RetryAfterIsExactlyTheEndOfTheWindow()
    {
        var limiter = Fixed(10, TimeSpan.FromMinutes(1));
        Assert.True(limiter.Acquire(10, Sec(37)).Allowed);

        var denied = limiter.Acquire(1, Sec(37));
        Assert.False(denied.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(23), denied.RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(23), denied.ResetAfter);

        var last = limiter.Acquire(1, Sec(60) - OneTick);
        Assert.False(last.Allowed);
        Assert.Equal(OneTick, last.RetryAfter);

        var next = limiter.Acquire(10, Sec(60));
        Assert.True(next.Allowed);
        Assert.Equal(0, next.Remaining);
        Assert.Equal(TimeSpan.FromSeconds(60), next.ResetAfter);
    }

    [Fact]
    public void AnUnusedWindowHasNothingToReset()
    {
        var limiter = Fixed(10, TimeSpan.FromMinutes(1));
        var usage = limiter.GetUsage(Sec(37));
        Assert.Equal(TimeSpan.Zero, usage.ResetAfter);
        Assert.Equal(10, usage.Remaining);
        Assert.Equal(0, usage.Used);
    }

    [Fact]
    public void WindowsAreAlignedToTheUnixEpoch()
    {
        // 2026-01-05T00:00Z is 29,459,520 minutes after the epoch, which is 6 (mod 7): its 7-minute window is
        // [2026-01-04T23:54Z, 2026-01-05T00:01Z).
        var limiter = Fixed(10, TimeSpan.FromMinutes(7));
        Assert.True(limiter.Acquire(10, T0).Allowed);
        Assert.Equal(new DateTimeOffset(2026, 1, 4, 23, 54, 0, TimeSpan.Zero).UtcTicks, limiter.PeriodStartTicks);
        Assert.Equal(new DateTimeOffset(2026, 1, 5, 0, 1, 0, TimeSpan.Zero).UtcTicks, limiter.PeriodEndTicks);
        Assert.Equal(TimeSpan.FromMinutes(1), limiter.Acquire(1, T0).RetryAfter);
    }

    [Fact]
    public void ADailyWindowIsAUtcDayWhateverTheOffsetOfTheCaller()
    {
        var limiter = Fixed(1, TimeSpan.FromDays(1));
        var warsawEvening = new DateTimeOffset(2026, 1, 5, 23, 30, 0, TimeSpan.FromHours(1));
        Assert.True(limiter.Acquire(1, warsawEvening).Allowed);
        Assert.Equal(T0.UtcTicks, limiter.PeriodStartTicks);
        Assert.Equal(TimeSpan.FromMinutes(90), limiter.Acquire(1, warsawEvening).RetryAfter);
    }

    [Fact]
    public void WindowsBeforeTheEpochAreAlignedToo()
    {
        var limiter = Fixed(1, TimeSpan.FromMinutes(1));
        var before = new DateTimeOffset(1969, 12, 31, 23, 59, 30, TimeSpan.Zero);
        Assert.True(limiter.Acquire(1, before).Allowed);
        Assert.Equal(before.UtcTicks - TimeSpan.TicksPerSecond * 30, limiter.PeriodStartTicks);
        Assert.Equal(DateTimeOffset.UnixEpoch.UtcTicks, limiter.PeriodEndTicks);
        Assert.Equal(TimeSpan.FromSeconds(30), limiter.Acquire(1, before).RetryAfter);
    }

    [Fact]
    public void AroundABoundaryTwiceTheLimitPassesAsDocumented()
    {
        var limiter = Fixed(10, TimeSpan.FromMinutes(1));
        Assert.True(limiter.Acquire(10, Sec(60) - OneTick).Allowed);
        Assert.True(limiter.Acquire(10, Sec(60)).Allowed);
        Assert.False(limiter.Acquire(1, Sec(60)).Allowed);
    }

    [Fact]
    public void ARefundOfAGrantFromAnEarlierWindowGivesNothingBack()
    {
        var limiter = Fixed(10, TimeSpan.FromMinutes(1));
        var old = limiter.Acquire(4, Sec(50));
        Assert.True(limiter.Acquire(10, Sec(70)).Allowed);
        limiter.Refund(old.Grant, Sec(70));
        Assert.Equal(0, limiter.GetUsage(Sec(70)).Remaining);
    }

    [Fact]
    public void ARefundLaterInTheSameWindowGivesTheGrantBack()
    {
        var limiter = Fixed(10, TimeSpan.FromMinutes(1));
        var grant = limiter.Acquire(4, Sec(10));
        Assert.True(limiter.Acquire(6, Sec(20)).Allowed);
        limiter.Refund(grant.Grant, Sec(59));
        Assert.Equal(4, limiter.GetUsage(Sec(59)).Remaining);
    }

    [Fact]
    public void ChangingTheWindowCarriesTheUsageIntoTheNewWindowAsIfTakenNow()
    {
        Limiter limiter = Fixed(10, TimeSpan.FromMinutes(1));
        Assert.True(limiter.Acquire(8, Sec(10)).Allowed);
        limiter = limiter.Reconfigure(limiter.Policy with { Window = TimeSpan.FromMinutes(2) }, Sec(10));

        var usage = limiter.GetUsage(Sec(10));
        Assert.Equal(8, usage.Used);
        Assert.Equal(2, usage.Remaining);
        Assert.Equal(TimeSpan.FromSeconds(110), usage.ResetAfter);
        Assert.False(limiter.Acquire(3, Sec(10)).Allowed);
        Assert.True(limiter.Acquire(10, Sec(120)).Allowed);
    }

    [Fact]
    public void ChangingTheAlgorithmCarriesTheUsage()
    {
        Limiter limiter = Fixed(10, TimeSpan.FromMinutes(1));
        Assert.True(limiter.Acquire(8, Sec(10)).Allowed);
        limiter = limiter.Reconfigure(limiter.Policy with { Algorithm = AlgorithmKind.SlidingLog }, Sec(10));
        Assert.IsType<SlidingLogLimiter>(limiter);
        Assert.Equal(2, limiter.GetUsage(Sec(10)).Remaining);
        Assert.Equal(10, limiter.GetUsage(Sec(70)).Remaining);
    }

    [Fact]
    public void ChangingTheAlgorithmToAFixedWindowCarriesTheUsageIntoTheCurrentWindow()
    {
        Limiter limiter = new PolicyDefinition
        {
            Name = "fixed",
            Algorithm = AlgorithmKind.TokenBucket,
            Limit = 10,
            Window = TimeSpan.FromMinutes(1),
        }.CreateLimiter();
        Assert.True(limiter.Acquire(8, Sec(10)).Allowed);
        limiter = limiter.Reconfigure(limiter.Policy with { Algorithm = AlgorithmKind.FixedWindow }, Sec(10));

        Assert.IsType<FixedWindowLimiter>(limiter);
        var usage = limiter.GetUsage(Sec(10));
        Assert.Equal(8, usage.Used);
        Assert.Equal(2, usage.Remaining);
        Assert.Equal(TimeSpan.FromSeconds(50), limiter.Acquire(3, Sec(10)).RetryAfter);
    }
}
