using Quota.Algorithms.Limiting;

namespace Quota.Algorithms.Tests.Limiting;

/// <summary>Hand-computed numbers for the weighted two-bucket sliding window.</summary>
public sealed class SlidingWindowTests
{
    /// <summary>A Monday at UTC midnight: the start of an aligned one-minute bucket.</summary>
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);

    private static readonly TimeSpan OneTick = TimeSpan.FromTicks(1);

    private static SlidingWindowLimiter Window(long limit, TimeSpan window) =>
        new(new PolicyDefinition { Name = "sliding", Algorithm = AlgorithmKind.SlidingWindow, Limit = limit, Window = window });

    private static DateTimeOffset Sec(double seconds) => T0 + TimeSpan.FromSeconds(seconds);

    [Fact]
    public void FifteenSecondsIntoTheNextBucketThreeQuartersOfThePreviousOneStillCount()
    {
        var limiter = Window(10, TimeSpan.FromMinutes(1));
        Assert.True(limiter.Acquire(10, T0).Allowed);

        // 15 s into the next bucket the previous one weighs 45/60: 10 - 10 * 45 / 60 = 2.5, so 2 remain.
        var usage = limiter.GetUsage(Sec(75));
        Assert.Equal(2, usage.Remaining);
        Assert.Equal(8, usage.Used);

        Assert.True(limiter.Acquire(0, Sec(75)).Allowed);
        var three = limiter.Acquire(3, Sec(75));
        Assert.False(three.Allowed);

        // 3 fit once 10 * (60 - e) / 60 <= 7, i.e. e >= 18 s: 3 s from now.
        Assert.Equal(TimeSpan.FromSeconds(3), three.RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(45), three.ResetAfter);
        var early = limiter.Acquire(3, Sec(78) - OneTick);
        Assert.False(early.Allowed);
        Assert.Equal(OneTick, early.RetryAfter);

        var two = limiter.Acquire(2, Sec(75));
        Assert.True(two.Allowed);
        Assert.Equal(0, two.Remaining);
    }

    [Fact]
    public void AFullBucketIsRetriedInTheNextBucketOnceItsWeightHasDecayedEnough()
    {
        var limiter = Window(10, TimeSpan.FromMinutes(1));
        Assert.True(limiter.Acquire(10, T0).Allowed);

        // Nothing more fits in this bucket; in the next, 1 fits once 10 * (60 - e) / 60 <= 9: e = 6 s.
        var d = limiter.Acquire(1, Sec(59));
        Assert.False(d.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(7), d.RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(61), d.ResetAfter);

        var four = limiter.Acquire(4, Sec(59));
        Assert.Equal(TimeSpan.FromSeconds(25), four.RetryAfter);

        // Ten need the previous bucket fully gone: the start of the bucket after next.
        var all = limiter.Acquire(10, Sec(59));
        Assert.Equal(TimeSpan.FromSeconds(61), all.RetryAfter);

        Assert.False(limiter.Acquire(1, Sec(66) - OneTick).Allowed);
        var admitted = limiter.Acquire(1, Sec(66));
        Assert.True(admitted.Allowed);
        Assert.Equal(0, admitted.Remaining);
    }

    [Fact]
    public void TrafficAtTheEndOfABucketLetsATrueSlidingWindowSeeLimitPlusPreviousTimesElapsedOverWindow()
    {
        // The documented error: 10 at 59 s, then 1 more at 66 s, so (6 s, 66 s] holds 11 = 10 + 10 * 6 / 60.
        var limiter = Window(10, TimeSpan.FromMinutes(1));
        Assert.True(limiter.Acquire(10, Sec(59)).Allowed);
        Assert.False(limiter.Acquire(1, Sec(60)).Allowed);
        Assert.True(limiter.Acquire(1, Sec(66)).Allowed);
        Assert.False(limiter.Acquire(1, Sec(66)).Allowed);
    }

    [Fact]
    public void EveryAlignedBucketAdmitsAtMostTheLimitEvenUnderGreedyTraffic()
    {
        var limiter = Window(10, TimeSpan.FromMinutes(1));
        var perBucket = new long[30];
        for (var second = 0; second < 30 * 60; second++)
        {
            var at = Sec(second);
            while (limiter.Acquire(1, at).Allowed)
            {
                perBucket[second / 60]++;
            }
        }

        Assert.Equal(10, perBucket[0]);
        Assert.All(perBucket, count => Assert.InRange(count, 1, 10));
    }

    [Fact]
    public void ABucketWithNoTrafficForAWholeWindowForgetsThePreviousOne()
    {
        var limiter = Window(10, TimeSpan.FromMinutes(1));
        Assert.True(limiter.Acquire(10, Sec(30)).Allowed);
        Assert.Equal(5, limiter.GetUsage(Sec(90)).Remaining);
        Assert.Equal(10, limiter.GetUsage(Sec(120)).Remaining);
        Assert.Equal(TimeSpan.Zero, limiter.GetUsage(Sec(120)).ResetAfter);
    }

    [Fact]
    public void BucketsAreAlignedToTheUnixEpochNotToTheFirstRequest()
    {
        // 2026-01-05T00:00Z is 29,459,520 minutes after the epoch, which is 6 (mod 7): the 7-minute bucket
        // holding it started at 23:54 and ends at 00:01.
        var limiter = Window(10, TimeSpan.FromMinutes(7));
        Assert.True(limiter.Acquire(10, T0).Allowed);
        var d = limiter.Acquire(10, T0);
        Assert.Equal(TimeSpan.FromMinutes(8), d.ResetAfter);
        Assert.Equal(TimeSpan.FromMinutes(8), d.RetryAfter);

        // One permit fits once the 10 weigh 9: 7 min * 1/10 = 42 s into the next bucket.
        Assert.Equal(TimeSpan.FromSeconds(60 + 42), limiter.Acquire(1, T0).RetryAfter);
        Assert.Equal(9, limiter.GetUsage(T0 + TimeSpan.FromSeconds(60 + 42)).Used);
    }

    [Fact]
    public void ARefundOfAGrantFromThePreviousBucketReducesItsWeightedCount()
    {
        var limiter = Window(10, TimeSpan.FromMinutes(1));
        var grant = limiter.Acquire(6, Sec(10));
        Assert.True(limiter.Acquire(4, Sec(20)).Allowed);

        // At 90 s the previous bucket (10) weighs 1/2: 5 counted. Refunding 6 of it leaves 4 * 1/2 = 2.
        Assert.Equal(5, limiter.GetUsage(Sec(90)).Remaining);
        limiter.Refund(grant.Grant, Sec(90));
        Assert.Equal(8, limiter.GetUsage(Sec(90)).Remaining);
    }

    [Fact]
    public void ARefundOfAGrantOlderThanThePreviousBucketGivesNothingBack()
    {
        var limiter = Window(10, TimeSpan.FromMinutes(1));
        var old = limiter.Acquire(5, Sec(10));
        Assert.True(limiter.Acquire(10, Sec(130)).Allowed);
        limiter.Refund(old.Grant, Sec(130));
        Assert.Equal(0, limiter.GetUsage(Sec(130)).Remaining);
    }

    [Fact]
    public void ChangingTheWindowCarriesTheUsageIntoTheNewWindowAsIfTakenNow()
    {
        Limiter limiter = Window(10, TimeSpan.FromMinutes(1));
        Assert.True(limiter.Acquire(8, Sec(10)).Allowed);
        limiter = limiter.Reconfigure(limiter.Policy with { Window = TimeSpan.FromMinutes(2) }, Sec(10));

        var usage = limiter.GetUsage(Sec(10));
        Assert.Equal(8, usage.Used);
        Assert.Equal(2, usage.Remaining);
        Assert.True(limiter.Acquire(2, Sec(10)).Allowed);
        Assert.False(limiter.Acquire(1, Sec(10)).Allowed);
    }
}
