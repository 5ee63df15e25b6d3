using Quota.Algorithms.Limiting;

namespace Quota.Algorithms.Tests.Limiting;

/// <summary>Hand-computed numbers for the exact sliding log.</summary>
public sealed class SlidingLogTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);

    private static readonly TimeSpan OneTick = TimeSpan.FromTicks(1);

    private static SlidingLogLimiter Log(long limit, TimeSpan window) =>
        new(new PolicyDefinition { Name = "log", Algorithm = AlgorithmKind.SlidingLog, Limit = limit, Window = window });

    private static DateTimeOffset Sec(double seconds) => T0 + TimeSpan.FromSeconds(seconds);

    [Fact]
    public void EachGrantExpiresExactlyOneWindowAfterIt()
    {
        var log = Log(3, TimeSpan.FromMinutes(1));
        Assert.True(log.Acquire(1, Sec(0)).Allowed);
        Assert.True(log.Acquire(1, Sec(10)).Allowed);
        Assert.True(log.Acquire(1, Sec(20)).Allowed);

        var denied = log.Acquire(1, Sec(30));
        Assert.False(denied.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(30), denied.RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(50), denied.ResetAfter);

        foreach (var (expires, remaining) in new[] { (60, 1), (70, 2), (80, 3) })
        {
            Assert.Equal(remaining - 1, log.GetUsage(Sec(expires) - OneTick).Remaining);
            Assert.Equal(remaining, log.GetUsage(Sec(expires)).Remaining);
        }
    }

    [Fact]
    public void RetryAfterForSeveralPermitsWaitsForEnoughOfTheOldestEntries()
    {
        var log = Log(3, TimeSpan.FromMinutes(1));
        Assert.True(log.Acquire(1, Sec(0)).Allowed);
        Assert.True(log.Acquire(1, Sec(10)).Allowed);
        Assert.True(log.Acquire(1, Sec(20)).Allowed);

        Assert.Equal(TimeSpan.FromSeconds(40), log.Acquire(2, Sec(30)).RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(50), log.Acquire(3, Sec(30)).RetryAfter);

        var early = log.Acquire(2, Sec(70) - OneTick);
        Assert.False(early.Allowed);
        Assert.Equal(OneTick, early.RetryAfter);
        Assert.True(log.Acquire(2, Sec(70)).Allowed);
    }

    [Fact]
    public void UnlikeBucketsTheLogNeverAdmitsMoreThanTheLimitInAnyWindow()
    {
        // The pattern that lets a fixed or weighted window pass 2x: all at the end, then at the start of the next.
        var log = Log(10, TimeSpan.FromMinutes(1));
        Assert.True(log.Acquire(10, Sec(59)).Allowed);
        var d = log.Acquire(1, Sec(60));
        Assert.False(d.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(59), d.RetryAfter);
        Assert.False(log.Acquire(1, Sec(119) - OneTick).Allowed);
        Assert.True(log.Acquire(10, Sec(119)).Allowed);
    }

    [Fact]
    public void GrantsInTheSameTickShareAnEntryAndRefundSeparately()
    {
        var log = Log(5, TimeSpan.FromMinutes(1));
        var a = log.Acquire(2, Sec(5));
        var b = log.Acquire(3, Sec(5));
        Assert.Equal(0, b.Remaining);

        log.Refund(a.Grant, Sec(20));
        Assert.Equal(2, log.GetUsage(Sec(20)).Remaining);
        log.Refund(b.Grant, Sec(20));
        var usage = log.GetUsage(Sec(20));
        Assert.Equal(5, usage.Remaining);
        Assert.Equal(TimeSpan.Zero, usage.ResetAfter);
    }

    [Fact]
    public void ARefundAfterTheGrantExpiredGivesNothingBack()
    {
        var log = Log(5, TimeSpan.FromMinutes(1));
        var old = log.Acquire(5, Sec(0));
        Assert.True(log.Acquire(5, Sec(60)).Allowed);
        log.Refund(old.Grant, Sec(60));
        Assert.Equal(0, log.GetUsage(Sec(60)).Remaining);
    }

    [Fact]
    public void ARefundOfAnOlderEntryKeepsResetAfterAtTheNewestOne()
    {
        var log = Log(5, TimeSpan.FromMinutes(1));
        Assert.True(log.Acquire(1, Sec(0)).Allowed);
        var middle = log.Acquire(2, Sec(10));
        Assert.True(log.Acquire(1, Sec(20)).Allowed);
        log.Refund(middle.Grant, Sec(30));
        var usage = log.GetUsage(Sec(30));
        Assert.Equal(3, usage.Remaining);
        Assert.Equal(TimeSpan.FromSeconds(50), usage.ResetAfter);
    }

    [Fact]
    public void ShorteningTheWindowAppliesToTheExactTimesOfTheGrants()
    {
        Limiter log = Log(3, TimeSpan.FromMinutes(1));
        Assert.True(log.Acquire(1, Sec(0)).Allowed);
        Assert.True(log.Acquire(1, Sec(10)).Allowed);
        Assert.True(log.Acquire(1, Sec(20)).Allowed);

        log = log.Reconfigure(log.Policy with { Window = TimeSpan.FromSeconds(15) }, Sec(25));
        var usage = log.GetUsage(Sec(25));
        Assert.Equal(2, usage.Remaining);
        Assert.Equal(TimeSpan.FromSeconds(10), usage.ResetAfter);
    }

    [Fact]
    public void ALogAtTheMaximumLimitHoldsOneEntryPerTick()
    {
        var log = Log(PolicyDefinition.MaxSlidingLogLimit, TimeSpan.FromSeconds(1));
        for (var i = 0; i < PolicyDefinition.MaxSlidingLogLimit; i++)
        {
            Assert.True(log.Acquire(1, T0 + TimeSpan.FromTicks(i)).Allowed);
        }

        var full = log.Acquire(1, T0 + TimeSpan.FromTicks(10_000));
        Assert.False(full.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(1) - TimeSpan.FromTicks(10_000), full.RetryAfter);
        Assert.Equal(1, log.GetUsage(T0 + TimeSpan.FromSeconds(1)).Remaining);
        Assert.Equal(PolicyDefinition.MaxSlidingLogLimit, log.GetUsage(T0 + TimeSpan.FromSeconds(2)).Remaining);
    }

    [Fact]
    public void AHugeTopUpStillCountsAfterAnEarlierHugeTopUpExpires()
    {
        var log = Log(5, TimeSpan.FromMinutes(1));
        log.Consume(long.MaxValue, Sec(0));
        log.Consume(long.MaxValue, Sec(30));

        var d = log.Acquire(1, Sec(60));
        Assert.False(d.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(30), d.RetryAfter);
        var usage = log.GetUsage(Sec(60));
        Assert.Equal(long.MaxValue, usage.Used);
        Assert.Equal(0, usage.Remaining);
        Assert.Equal(5, log.GetUsage(Sec(90)).Remaining);
    }

    [Fact]
    public void TopUpsInTheSameTickSaturateTogether()
    {
        var log = Log(5, TimeSpan.FromMinutes(1));
        log.Consume(long.MaxValue, Sec(0));
        log.Consume(long.MaxValue, Sec(0));
        Assert.Equal(long.MaxValue, log.GetUsage(Sec(0)).Used);
        Assert.Equal(5, log.GetUsage(Sec(60)).Remaining);
        Assert.True(log.Acquire(5, Sec(60)).Allowed);
    }
}
