using Quota.Algorithms.Limiting;

namespace Quota.Algorithms.Tests.Limiting;

/// <summary>Hand-computed numbers for the GCRA token bucket.</summary>
public sealed class TokenBucketTests
{
    /// <summary>A Monday at UTC midnight, aligned to every window used here.</summary>
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);

    private static readonly TimeSpan OneTick = TimeSpan.FromTicks(1);

    private static TokenBucketLimiter Bucket(long limit, TimeSpan window, long? burst = null) =>
        new(new PolicyDefinition
        {
            Name = "bucket",
            Algorithm = AlgorithmKind.TokenBucket,
            Limit = limit,
            Window = window,
            Burst = burst,
        });

    [Fact]
    public void SixtyPerMinuteWithBurstThreeAdmitsThreeAtOnceThenExactlyOnePerSecond()
    {
        var bucket = Bucket(60, TimeSpan.FromMinutes(1), burst: 3);
        for (var i = 0; i < 3; i++)
        {
            var d = bucket.Acquire(1, T0);
            Assert.True(d.Allowed);
            Assert.Equal(3, d.Limit);
            Assert.Equal(2 - i, d.Remaining);
        }

        var denied = bucket.Acquire(1, T0);
        Assert.False(denied.Allowed);
        Assert.Equal(DenialReason.LimitExhausted, denied.Reason);
        Assert.Equal(TimeSpan.FromSeconds(1), denied.RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(3), denied.ResetAfter);

        for (var second = 1; second <= 120; second++)
        {
            var at = T0 + TimeSpan.FromSeconds(second);
            var early = bucket.Acquire(1, at - OneTick);
            Assert.False(early.Allowed);
            Assert.Equal(OneTick, early.RetryAfter);

            var admitted = bucket.Acquire(1, at);
            Assert.True(admitted.Allowed, $"second {second} must admit one");
            Assert.Equal(0, admitted.Remaining);

            var next = bucket.Acquire(1, at);
            Assert.False(next.Allowed);
            Assert.Equal(TimeSpan.FromSeconds(1), next.RetryAfter);
        }
    }

    [Fact]
    public void RetryAfterForSeveralPermitsWaitsForEachOfThemToRefill()
    {
        var bucket = Bucket(60, TimeSpan.FromMinutes(1), burst: 3);
        Assert.True(bucket.Acquire(3, T0).Allowed);
        Assert.Equal(TimeSpan.FromSeconds(2), bucket.Acquire(2, T0).RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(3), bucket.Acquire(3, T0).RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(2.5), bucket.Acquire(3, T0 + TimeSpan.FromSeconds(0.5)).RetryAfter);
    }

    [Fact]
    public void RemainingCountsWholeRefilledPermitsAndStopsAtTheBurst()
    {
        var bucket = Bucket(60, TimeSpan.FromMinutes(1), burst: 10);
        Assert.True(bucket.Acquire(10, T0).Allowed);

        var afterFive = bucket.GetUsage(T0 + TimeSpan.FromSeconds(5));
        Assert.Equal(5, afterFive.Remaining);
        Assert.Equal(5, afterFive.Used);
        Assert.Equal(TimeSpan.FromSeconds(5), afterFive.ResetAfter);

        var justBeforeSix = bucket.GetUsage(T0 + TimeSpan.FromSeconds(6) - OneTick);
        Assert.Equal(5, justBeforeSix.Remaining);
        Assert.Equal(5, justBeforeSix.Used);
        Assert.Equal(TimeSpan.FromSeconds(4) + OneTick, justBeforeSix.ResetAfter);

        var full = bucket.GetUsage(T0 + TimeSpan.FromSeconds(10));
        Assert.Equal(10, full.Remaining);
        Assert.Equal(0, full.Used);
        Assert.Equal(TimeSpan.Zero, full.ResetAfter);

        // An idle hour banks nothing beyond the burst.
        var d = bucket.Acquire(10, T0 + TimeSpan.FromHours(1));
        Assert.True(d.Allowed);
        Assert.False(bucket.Acquire(1, T0 + TimeSpan.FromHours(1)).Allowed);
    }

    [Fact]
    public void ALimitThatDoesNotDivideTheWindowRefillsWithoutRoundingDriftOverAThousandWindows()
    {
        // 7 per 10 s: the emission interval is 100_000_000 / 7 ticks, not an integer. Permit n after the burst
        // becomes available at exactly ceil(n * 100_000_000 / 7) ticks, never a tick later.
        const long Window = 100_000_000;
        var bucket = Bucket(7, TimeSpan.FromTicks(Window));
        Assert.True(bucket.Acquire(7, T0).Allowed);

        var admitted = 7L;
        for (var n = 1L; n <= 7_000; n++)
        {
            var due = T0 + TimeSpan.FromTicks((n * Window + 6) / 7);
            var early = bucket.Acquire(1, due - OneTick);
            Assert.False(early.Allowed, $"permit {n} is not due yet");
            Assert.Equal(OneTick, early.RetryAfter);
            Assert.True(bucket.Acquire(1, due).Allowed, $"permit {n} is due");
            admitted++;
        }

        // 1000 windows later: exactly 7 + 7 * 1000 admitted and the bucket exactly empty, not a tick behind.
        var end = T0 + TimeSpan.FromTicks(1_000 * Window);
        Assert.Equal(7_007, admitted);
        var usage = bucket.GetUsage(end);
        Assert.Equal(0, usage.Remaining);
        Assert.Equal(TimeSpan.FromTicks(Window), usage.ResetAfter);
        Assert.Equal(7, bucket.GetUsage(end + TimeSpan.FromTicks(Window)).Remaining);
    }

    [Fact]
    public void AnIdleBucketWithANonDividingLimitRefillsExactlyOneWindowLater()
    {
        var bucket = Bucket(7, TimeSpan.FromSeconds(10));
        for (var window = 0; window < 500; window++)
        {
            var at = T0 + TimeSpan.FromSeconds(10 * window);
            var d = bucket.Acquire(7, at);
            Assert.True(d.Allowed, $"window {window}");
            Assert.Equal(0, d.Remaining);
            Assert.Equal(TimeSpan.FromSeconds(10), bucket.Acquire(7, at).RetryAfter);
        }
    }

    [Fact]
    public void ABurstAboveTheLimitIsTheCapacity()
    {
        var bucket = Bucket(1, TimeSpan.FromSeconds(1), burst: 5);
        Assert.Equal(5, bucket.Capacity);
        Assert.True(bucket.Acquire(5, T0).Allowed);
        var denied = bucket.Acquire(6, T0);
        Assert.Equal(DenialReason.CostExceedsLimit, denied.Reason);
        Assert.Equal(TimeSpan.FromSeconds(5), bucket.Acquire(5, T0).RetryAfter);
    }

    [Fact]
    public void ARefundOfAGrantWhosePermitsHaveAllRefilledGivesNothingBack()
    {
        // 3 taken at T0 have all refilled by T0 + 3 s; the 3 taken then are the only ones still counted.
        var bucket = Bucket(60, TimeSpan.FromMinutes(1), burst: 3);
        var first = bucket.Acquire(3, T0);
        var at = T0 + TimeSpan.FromSeconds(3);
        Assert.True(bucket.Acquire(3, at).Allowed);

        bucket.Refund(first.Grant, at);

        var d = bucket.Acquire(1, at);
        Assert.False(d.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(1), d.RetryAfter);
    }

    [Fact]
    public void ALateRefundGivesBackOnlyThePartOfTheGrantNotYetRefilled()
    {
        // 3 at T0, 2 more at T0 + 2 s: of the first grant only 1 permit is still counted then.
        var bucket = Bucket(60, TimeSpan.FromMinutes(1), burst: 3);
        var first = bucket.Acquire(3, T0);
        var at = T0 + TimeSpan.FromSeconds(2);
        Assert.True(bucket.Acquire(2, at).Allowed);
        Assert.Equal(0, bucket.GetUsage(at).Remaining);

        bucket.Refund(first.Grant, at);

        var usage = bucket.GetUsage(at);
        Assert.Equal(1, usage.Remaining);
        Assert.Equal(2, usage.Used);
    }

    [Fact]
    public void ARefundOneSecondLaterRefillsTheBucket()
    {
        var bucket = Bucket(60, TimeSpan.FromMinutes(1), burst: 3);
        var grant = bucket.Acquire(3, T0);
        bucket.Refund(grant.Grant, T0 + TimeSpan.FromSeconds(1));
        Assert.Equal(3, bucket.GetUsage(T0 + TimeSpan.FromSeconds(1)).Remaining);
    }

    [Fact]
    public void ATopUpMakesLaterRequestsWaitUntilTheDebtDrains()
    {
        var bucket = Bucket(60, TimeSpan.FromMinutes(1), burst: 3);
        var reservation = bucket.Acquire(1, T0);
        var usage = bucket.Settle(reservation.Grant, 10, T0);
        Assert.Equal(10, usage.Used);
        Assert.Equal(0, usage.Remaining);

        // Debt 10 permits, tolerance 3: a single permit is admitted once the debt is down to 2, at 8 s.
        var d = bucket.Acquire(1, T0);
        Assert.Equal(TimeSpan.FromSeconds(8), d.RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(10), d.ResetAfter);
    }

    [Fact]
    public void ALoweredLimitSlowsTheRefillAtOnce()
    {
        Limiter bucket = Bucket(60, TimeSpan.FromMinutes(1), burst: 3);
        Assert.True(bucket.Acquire(3, T0).Allowed);
        bucket = bucket.Reconfigure(bucket.Policy with { Limit = 6 }, T0);

        // Now one permit per 10 s.
        var d = bucket.Acquire(1, T0);
        Assert.Equal(TimeSpan.FromSeconds(10), d.RetryAfter);
    }

    [Fact]
    public void TheLargestBucketsAnswerRealDurationsNeverNever()
    {
        // Before the bounds a burst of int64.Max made the reset time overflow TimeSpan and read as "never" (-1 ms).
        foreach (var (limit, window, burst) in new[]
        {
            (PolicyDefinition.MaxLimit, PolicyDefinition.MaxWindow, PolicyDefinition.MaxLimit),
            (1L, PolicyDefinition.MaxWindow, 1L),
            (PolicyDefinition.MaxLimit, TimeSpan.FromTicks(1), PolicyDefinition.MaxLimit),
        })
        {
            var bucket = new PolicyDefinition { Name = "big", Algorithm = AlgorithmKind.TokenBucket, Limit = limit, Window = window, Burst = burst }.CreateLimiter();

            var drained = bucket.Acquire(burst, T0);
            var denied = bucket.Acquire(1, T0);

            Assert.True(drained.Allowed);
            Assert.Equal(window, drained.ResetAfter);
            Assert.False(denied.Allowed);
            Assert.Equal(window, denied.ResetAfter);
            Assert.Equal(TimeSpan.FromTicks((window.Ticks + limit - 1) / limit), denied.RetryAfter); // one permit's interval, rounded up
        }
    }

    [Fact]
    public void ATopUpOfAnyCostSaturatesAtTenYearsOfRefillNeverNever()
    {
        // A settle of 2^63 permits on a bucket of 10 a minute made every later answer "never" (-1 ms) for everyone.
        var bucket = new PolicyDefinition { Name = "small", Algorithm = AlgorithmKind.TokenBucket, Limit = 10, Window = TimeSpan.FromMinutes(1) }.CreateLimiter();
        var reservation = bucket.Acquire(1, T0);

        var settled = bucket.Settle(reservation.Grant, long.MaxValue, T0);
        var denied = bucket.Acquire(1, T0);

        Assert.Equal(PolicyDefinition.MaxWindow, settled.ResetAfter);
        Assert.False(denied.Allowed);
        Assert.Equal(PolicyDefinition.MaxWindow - TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(6), denied.RetryAfter);
        Assert.Equal(PolicyDefinition.MaxWindow, bucket.Acquire(0, T0 + TimeSpan.FromDays(1)).ResetAfter + TimeSpan.FromDays(1));
    }
}
