using Microsoft.Extensions.Time.Testing;
using Quota.Algorithms.Limiting;

namespace Quota.Algorithms.Tests.Limiting;

/// <summary>
/// The behaviour every algorithm promises (see the NOTE in Limiter.cs), on fake time with exact assertions.
/// Each algorithm's suite derives from this and supplies a policy with the given limit over one minute.
/// </summary>
public abstract class LimiterContract
{
    /// <summary>A Monday at UTC midnight, aligned to every window used here.</summary>
    protected static readonly DateTimeOffset Start = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);

    protected static readonly TimeSpan OneTick = TimeSpan.FromTicks(1);

    protected FakeTimeProvider Time { get; } = new(Start);

    protected DateTimeOffset Now => Time.GetUtcNow();

    /// <summary>A valid policy of this algorithm whose capacity is <paramref name="limit"/>.</summary>
    protected abstract PolicyDefinition Define(long limit);

    protected Limiter Create(long limit = 10) => Define(limit).CreateLimiter();

    protected static PolicyDefinition WithLimit(PolicyDefinition policy, long limit) =>
        policy.Algorithm == AlgorithmKind.TokenBucket ? policy with { Limit = limit, Burst = limit } : policy with { Limit = limit };

    [Fact]
    public void AFreshLimiterAdmitsExactlyItsCapacityAtOnce()
    {
        var limiter = Create(10);
        for (var i = 0; i < 10; i++)
        {
            var d = limiter.Acquire(1, Now);
            Assert.True(d.Allowed, $"request {i + 1} of 10 should be admitted");
            Assert.Equal(9 - i, d.Remaining);
            Assert.Equal(10, d.Limit);
        }

        var denied = limiter.Acquire(1, Now);
        Assert.False(denied.Allowed);
        Assert.Equal(DenialReason.LimitExhausted, denied.Reason);
        Assert.Equal(0, denied.Remaining);
        Assert.True(denied.RetryAfter > TimeSpan.Zero);
        Assert.Equal(default, denied.Grant);
    }

    [Fact]
    public void RejectedRequestsDoNotConsumeQuota()
    {
        var limiter = Create(10);
        Assert.True(limiter.Acquire(7, Now).Allowed);
        var before = limiter.GetUsage(Now);
        for (var i = 0; i < 50; i++)
        {
            Assert.False(limiter.Acquire(4, Now).Allowed);
        }

        Assert.Equal(before, limiter.GetUsage(Now));
        Assert.True(limiter.Acquire(3, Now).Allowed);
        Assert.False(limiter.Acquire(1, Now).Allowed);
    }

    [Fact]
    public void CostZeroPeeksWithoutConsuming()
    {
        var limiter = Create(10);
        for (var i = 0; i < 100; i++)
        {
            var peek = limiter.Acquire(0, Now);
            Assert.True(peek.Allowed);
            Assert.Equal(10, peek.Remaining);
            Assert.Equal(default, peek.Grant);
        }

        Assert.True(limiter.Acquire(10, Now).Allowed);
        var exhausted = limiter.Acquire(0, Now);
        Assert.False(exhausted.Allowed);
        Assert.Equal(limiter.Acquire(1, Now).RetryAfter, exhausted.RetryAfter);
    }

    [Fact]
    public void ACostAboveTheCapacityIsRejectedWithItsOwnReasonAndConsumesNothing()
    {
        var limiter = Create(10);
        var d = limiter.Acquire(11, Now);
        Assert.False(d.Allowed);
        Assert.Equal(DenialReason.CostExceedsLimit, d.Reason);
        Assert.Equal(Decision.Never, d.RetryAfter);
        Assert.Equal(10, limiter.GetUsage(Now).Remaining);

        var huge = limiter.Acquire(long.MaxValue, Now);
        Assert.Equal(DenialReason.CostExceedsLimit, huge.Reason);
        Assert.Equal(10, limiter.GetUsage(Now).Remaining);
    }

    [Fact]
    public void RetryAfterIsExactAdmittedAtItAndDeniedOneTickBefore()
    {
        var limiter = Create(10);
        for (var i = 0; i < 10; i++)
        {
            Assert.True(limiter.Acquire(1, Now).Allowed);
            Time.Advance(TimeSpan.FromSeconds(1));
        }

        Time.Advance(TimeSpan.FromSeconds(7));
        var denied = limiter.Acquire(5, Now);
        Assert.False(denied.Allowed);
        Assert.True(denied.RetryAfter > TimeSpan.Zero && denied.RetryAfter < Decision.Never);

        Time.Advance(denied.RetryAfter - OneTick);
        var early = limiter.Acquire(5, Now);
        Assert.False(early.Allowed, "one tick before retry-after the same request must still be denied");
        Assert.Equal(OneTick, early.RetryAfter);

        Time.Advance(OneTick);
        Assert.True(limiter.Acquire(5, Now).Allowed, "at retry-after the same request must be admitted");
    }

    [Fact]
    public void ARefundAtTheTimeOfTheGrantRestoresTheStateExactly()
    {
        var limiter = Create(10);
        Assert.True(limiter.Acquire(3, Now).Allowed);
        Time.Advance(TimeSpan.FromSeconds(5));
        var before = limiter.GetUsage(Now);
        var grant = limiter.Acquire(4, Now);
        Assert.True(grant.Allowed);
        limiter.Refund(grant.Grant, Now);
        Assert.Equal(before, limiter.GetUsage(Now));
    }

    [Fact]
    public void SettleRefundsTheDifferenceOrTakesTheTopUp()
    {
        var limiter = Create(10);
        var reservation = limiter.Acquire(5, Now);
        Assert.Equal(5, reservation.Remaining);

        var refunded = limiter.Settle(reservation.Grant, 2, Now);
        Assert.Equal(8, refunded.Remaining);
        Assert.Equal(2, refunded.Used);

        var second = limiter.Acquire(4, Now);
        var toppedUp = limiter.Settle(second.Grant, 15, Now);
        Assert.Equal(17, toppedUp.Used);
        Assert.Equal(0, toppedUp.Remaining);
        Assert.False(limiter.Acquire(1, Now).Allowed);
    }

    [Fact]
    public void AClockThatGoesBackwardsGrantsNothingExtra()
    {
        var limiter = Create(10);
        Time.Advance(TimeSpan.FromMinutes(3));
        Assert.True(limiter.Acquire(10, Now).Allowed);
        var atNow = limiter.Acquire(1, Now);

        var past = Now - TimeSpan.FromHours(5);
        var inThePast = limiter.Acquire(1, past);
        Assert.False(inThePast.Allowed);
        Assert.Equal(atNow.RetryAfter, inThePast.RetryAfter);
        Assert.Equal(limiter.GetUsage(Now), limiter.GetUsage(past));
    }

    [Fact]
    public void ANegativeCostIsACallerBug()
    {
        var limiter = Create(10);
        Assert.Throws<ArgumentOutOfRangeException>(() => limiter.Acquire(-1, Now));
        Assert.Throws<ArgumentOutOfRangeException>(() => limiter.Consume(-1, Now));
        Assert.Throws<ArgumentOutOfRangeException>(() => limiter.Settle(default, -1, Now));
    }

    [Fact]
    public void ARaisedLimitAdmitsMoreAtOnceKeepingUsage()
    {
        var limiter = Create(10);
        Assert.True(limiter.Acquire(10, Now).Allowed);
        limiter = limiter.Reconfigure(WithLimit(Define(10), 15), Now);
        Assert.Equal(5, limiter.GetUsage(Now).Remaining);
        Assert.True(limiter.Acquire(5, Now).Allowed);
        Assert.False(limiter.Acquire(1, Now).Allowed);
    }

    [Fact]
    public void ALoweredLimitDeniesUntilUsageFallsBelowIt()
    {
        var limiter = Create(10);
        Assert.True(limiter.Acquire(8, Now).Allowed);
        limiter = limiter.Reconfigure(WithLimit(Define(10), 5), Now);
        var usage = limiter.GetUsage(Now);
        Assert.Equal(8, usage.Used);
        Assert.Equal(0, usage.Remaining);
        var denied = limiter.Acquire(1, Now);
        Assert.False(denied.Allowed);

        Time.Advance(denied.RetryAfter);
        Assert.True(limiter.Acquire(1, Now).Allowed);
    }

    [Fact]
    public void AnInvalidReconfigurationChangesNothing()
    {
        var limiter = Create(10);
        Assert.True(limiter.Acquire(4, Now).Allowed);
        var error = Assert.Throws<InvalidPolicyException>(() => limiter.Reconfigure(WithLimit(Define(10), 0), Now));
        Assert.Contains("limit", error.Message, StringComparison.Ordinal);
        Assert.Equal(6, limiter.GetUsage(Now).Remaining);
        Assert.Equal(10, limiter.Policy.Limit);
    }

    [Fact]
    public void AZeroOrNegativeLimitFailsAtConstructionSayingWhatToSet()
    {
        foreach (var limit in new[] { 0L, -1L, long.MinValue })
        {
            var error = Assert.Throws<InvalidPolicyException>(() => WithLimit(Define(10), limit).CreateLimiter());
            Assert.Contains("limit: must be at least 1", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void HugeTopUpsSaturateInsteadOfWrapping()
    {
        var limiter = Create(10);
        limiter.Consume(long.MaxValue, Now);
        limiter.Consume(long.MaxValue, Now);
        var usage = limiter.GetUsage(Now);
        Assert.Equal(0, usage.Remaining);
        Assert.True(usage.Used > 0);
        var d = limiter.Acquire(1, Now);
        Assert.False(d.Allowed);
        Assert.True(d.RetryAfter > TimeSpan.Zero);
    }

    [Fact]
    public void AHugeTimeJumpForgetsOldUsageWithoutOverflow()
    {
        var limiter = Create(10);
        Assert.True(limiter.Acquire(10, Now).Allowed);
        var far = DateTimeOffset.MaxValue - TimeSpan.FromDays(800);
        var d = limiter.Acquire(10, far);
        Assert.True(d.Allowed);
        Assert.Equal(0, d.Remaining);
    }
}

public sealed class TokenBucketContract : LimiterContract
{
    protected override PolicyDefinition Define(long limit) =>
        new() { Name = "per-minute", Algorithm = AlgorithmKind.TokenBucket, Limit = limit, Window = TimeSpan.FromMinutes(1) };
}

public sealed class SlidingWindowContract : LimiterContract
{
    protected override PolicyDefinition Define(long limit) =>
        new() { Name = "per-minute", Algorithm = AlgorithmKind.SlidingWindow, Limit = limit, Window = TimeSpan.FromMinutes(1) };
}

public sealed class SlidingLogContract : LimiterContract
{
    protected override PolicyDefinition Define(long limit) =>
        new() { Name = "per-minute", Algorithm = AlgorithmKind.SlidingLog, Limit = limit, Window = TimeSpan.FromMinutes(1) };
}

public sealed class FixedWindowContract : LimiterContract
{
    protected override PolicyDefinition Define(long limit) =>
        new() { Name = "per-minute", Algorithm = AlgorithmKind.FixedWindow, Limit = limit, Window = TimeSpan.FromMinutes(1) };
}

public sealed class ConcurrencyContract : LimiterContract
{
    protected override PolicyDefinition Define(long limit) =>
        new() { Name = "in-flight", Algorithm = AlgorithmKind.Concurrency, Limit = limit, LeaseTtl = TimeSpan.FromMinutes(1) };
}

public sealed class CalendarContract : LimiterContract
{
    protected override PolicyDefinition Define(long limit) =>
        new() { Name = "daily", Algorithm = AlgorithmKind.Calendar, Limit = limit, Period = CalendarPeriod.Day, TimeZone = "Europe/Warsaw" };
}
