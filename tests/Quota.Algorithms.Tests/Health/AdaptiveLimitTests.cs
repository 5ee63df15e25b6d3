using Quota.Algorithms.Health;

namespace Quota.Algorithms.Tests.Health;

public sealed class AdaptiveLimitTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A429HalvesTheLimitWhichRecoversAStepEveryIntervalUpToTheCeiling()
    {
        var limit = new AdaptiveLimit(new AdaptiveLimitOptions());
        Assert.Equal(1.0, limit.FactorAt(T0));

        Assert.True(limit.RateLimited(T0, null));
        Assert.Equal(0.5, limit.FactorAt(T0));
        Assert.Equal(0.5, limit.FactorAt(T0.AddSeconds(9.999)));
        Assert.Equal(0.55, limit.FactorAt(T0.AddSeconds(10)), 10);
        Assert.Equal(0.75, limit.FactorAt(T0.AddSeconds(59)), 10);
        Assert.Equal(1.0, limit.FactorAt(T0.AddSeconds(100)));
        Assert.Equal(1.0, limit.FactorAt(T0.AddHours(1)));
    }

    [Fact]
    public void RepeatedSignalsShrinkFromWhereTheLimitIsNowNotBelowTheMinimumAndABurstCountsOnce()
    {
        var limit = new AdaptiveLimit(new AdaptiveLimitOptions());
        limit.RateLimited(T0, null);

        // Requests already in flight answer 429 too: within the cooldown they are the same signal.
        Assert.False(limit.RateLimited(T0.AddMilliseconds(500), null));
        Assert.Equal(0.5, limit.FactorAt(T0.AddMilliseconds(500)));

        // 20 s later the limit had recovered to 0.6; a new 429 halves that.
        limit.RateLimited(T0.AddSeconds(20), null);
        Assert.Equal(0.3, limit.FactorAt(T0.AddSeconds(20)), 10);
        for (var i = 1; i <= 5; i++)
        {
            limit.RateLimited(T0.AddSeconds(20 + (2 * i)), null);
        }

        Assert.Equal(0.1, limit.FactorAt(T0.AddSeconds(30)), 10);
        Assert.Equal(7, limit.Decreases);
    }

    [Fact]
    public void RetryAfterPausesUntilThenAndALaterShorterOneDoesNotShortenIt()
    {
        var limit = new AdaptiveLimit(new AdaptiveLimitOptions());
        limit.RateLimited(T0, TimeSpan.FromSeconds(30));
        Assert.Equal(TimeSpan.FromSeconds(30), limit.PausedFor(T0));
        limit.RateLimited(T0.AddSeconds(5), TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromSeconds(25), limit.PausedFor(T0.AddSeconds(5)));
        Assert.Equal(TimeSpan.Zero, limit.PausedFor(T0.AddSeconds(30)));

        // Time never runs backwards here.
        Assert.Equal(TimeSpan.Zero, limit.PausedFor(T0));
    }

    [Fact]
    public void NextChangeIsThePausesEndThenEachRecoveryStepAndNoneOnceRecovered()
    {
        var limit = new AdaptiveLimit(new AdaptiveLimitOptions());
        Assert.Null(limit.NextChangeAt(T0));

        limit.RateLimited(T0, TimeSpan.FromSeconds(25));
        Assert.Equal(T0.AddSeconds(25), limit.NextChangeAt(T0));
        Assert.Equal(T0.AddSeconds(30), limit.NextChangeAt(T0.AddSeconds(25)));
        Assert.Equal(T0.AddSeconds(40), limit.NextChangeAt(T0.AddSeconds(30)));
        Assert.Equal(T0.AddSeconds(100), limit.NextChangeAt(T0.AddSeconds(99.5)));
        Assert.Null(limit.NextChangeAt(T0.AddSeconds(100)));
    }

    [Fact]
    public void InvalidOptionsAreRejectedWithEveryProblem()
    {
        var problems = new AdaptiveLimitOptions { DecreaseFactor = 1, MinimumFactor = 0, RecoveryStep = 2, RecoveryInterval = TimeSpan.Zero, DecreaseCooldown = TimeSpan.FromSeconds(-1) }.Validate();
        Assert.Equal(5, problems.Count);
        Assert.StartsWith("DecreaseFactor", problems[0], StringComparison.Ordinal);
        var error = Assert.Throws<ArgumentException>(() => new AdaptiveLimit(new AdaptiveLimitOptions { RecoveryStep = 0 }));
        Assert.Contains("RecoveryStep must be more than 0", error.Message, StringComparison.Ordinal);
    }
}
