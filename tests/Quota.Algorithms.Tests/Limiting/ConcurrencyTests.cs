using Quota.Algorithms.Limiting;

namespace Quota.Algorithms.Tests.Limiting;

/// <summary>Hand-computed behaviour of concurrency leases: release, expiry, renewal and settlement.</summary>
public sealed class ConcurrencyTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);

    private static readonly TimeSpan OneTick = TimeSpan.FromTicks(1);

    private static ConcurrencyLimiter Leases(long limit, TimeSpan ttl) =>
        new(new PolicyDefinition { Name = "in-flight", Algorithm = AlgorithmKind.Concurrency, Limit = limit, LeaseTtl = ttl });

    private static DateTimeOffset Sec(double seconds) => T0 + TimeSpan.FromSeconds(seconds);

    [Fact]
    public void EveryGrantIsALeaseWithItsOwnId()
    {
        var limiter = Leases(3, TimeSpan.FromMinutes(1));
        var a = limiter.Acquire(1, T0);
        var b = limiter.Acquire(2, T0);
        Assert.NotEqual(0, a.Grant.LeaseNumber);
        Assert.NotEqual(0, b.Grant.LeaseNumber);
        Assert.NotEqual(a.Grant.LeaseNumber, b.Grant.LeaseNumber);
        Assert.Equal(2, limiter.LeaseCount);
        Assert.Equal(T0.UtcTicks + TimeSpan.TicksPerMinute, limiter.ExpiryOf(a.Grant.LeaseNumber));
    }

    [Fact]
    public void ReleasingALeaseFreesItsPermitsAtOnce()
    {
        var limiter = Leases(3, TimeSpan.FromMinutes(1));
        var a = limiter.Acquire(2, T0);
        Assert.True(limiter.Acquire(1, T0).Allowed);
        Assert.False(limiter.Acquire(1, T0).Allowed);

        Assert.True(limiter.Release(a.Grant.LeaseNumber, T0));
        Assert.Equal(1, limiter.LeaseCount);
        var d = limiter.Acquire(2, T0);
        Assert.True(d.Allowed);
        Assert.Equal(0, d.Remaining);
    }

    [Fact]
    public void ALeaseExpiresExactlyAtItsTtl()
    {
        var limiter = Leases(1, TimeSpan.FromSeconds(30));
        var lease = limiter.Acquire(1, T0);

        var held = limiter.Acquire(1, Sec(30) - OneTick);
        Assert.False(held.Allowed);
        Assert.Equal(OneTick, held.RetryAfter);
        Assert.Equal(OneTick, held.ResetAfter);
        Assert.Equal(Sec(30).UtcTicks, limiter.ExpiryOf(lease.Grant.LeaseNumber));

        Assert.True(limiter.Acquire(1, Sec(30)).Allowed);
        Assert.Null(limiter.ExpiryOf(lease.Grant.LeaseNumber));
    }

    [Fact]
    public void RetryAfterIsWhenEnoughOfTheEarliestLeasesExpire()
    {
        var limiter = Leases(5, TimeSpan.FromSeconds(30));
        Assert.True(limiter.Acquire(2, Sec(0)).Allowed);
        Assert.True(limiter.Acquire(1, Sec(10)).Allowed);
        Assert.True(limiter.Acquire(2, Sec(20)).Allowed);

        var one = limiter.Acquire(1, Sec(25));
        Assert.Equal(TimeSpan.FromSeconds(5), one.RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(25), one.ResetAfter);
        Assert.Equal(TimeSpan.FromSeconds(5), limiter.Acquire(2, Sec(25)).RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(15), limiter.Acquire(3, Sec(25)).RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(25), limiter.Acquire(5, Sec(25)).RetryAfter);
    }

    [Fact]
    public void RenewExtendsALeaseToOneTtlFromNow()
    {
        var limiter = Leases(1, TimeSpan.FromSeconds(30));
        var lease = limiter.Acquire(1, T0).Grant.LeaseNumber;

        Assert.True(limiter.Renew(lease, Sec(20)));
        Assert.Equal(Sec(50).UtcTicks, limiter.ExpiryOf(lease));

        // The original expiry passes without freeing the permit.
        var d = limiter.Acquire(1, Sec(30));
        Assert.False(d.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(20), d.RetryAfter);
        Assert.False(limiter.Acquire(1, Sec(50) - OneTick).Allowed);
        Assert.True(limiter.Acquire(1, Sec(50)).Allowed);
        Assert.False(limiter.Renew(lease, Sec(50)));
    }

    [Fact]
    public void ReleaseOrRenewOfAnUnknownReleasedOrExpiredLeaseReturnsFalse()
    {
        var limiter = Leases(3, TimeSpan.FromSeconds(30));
        var a = limiter.Acquire(1, T0).Grant.LeaseNumber;
        var b = limiter.Acquire(1, T0).Grant.LeaseNumber;

        Assert.False(limiter.Release(12345, T0));
        Assert.False(limiter.Renew(12345, T0));
        Assert.False(limiter.Release(0, T0));

        Assert.True(limiter.Release(a, Sec(1)));
        Assert.False(limiter.Release(a, Sec(1)));
        Assert.False(limiter.Renew(a, Sec(1)));

        Assert.False(limiter.Release(b, Sec(30)));
        Assert.False(limiter.Renew(b, Sec(30)));
        Assert.Equal(0, limiter.LeaseCount);
        Assert.Equal(3, limiter.GetUsage(Sec(30)).Remaining);
    }

    [Fact]
    public void ReleasingTwiceDoesNotFreeAnotherLeasesPermits()
    {
        var limiter = Leases(2, TimeSpan.FromSeconds(30));
        var a = limiter.Acquire(1, T0).Grant.LeaseNumber;
        Assert.True(limiter.Acquire(1, T0).Allowed);
        Assert.True(limiter.Release(a, T0));
        Assert.False(limiter.Release(a, T0));
        Assert.Equal(1, limiter.GetUsage(T0).Used);
    }

    [Fact]
    public void ASettleTopUpAttachesToTheLeaseAndLeavesWithIt()
    {
        var limiter = Leases(5, TimeSpan.FromSeconds(30));
        var reservation = limiter.Acquire(2, T0);
        var usage = limiter.Settle(reservation.Grant, 7, Sec(10));
        Assert.Equal(7, usage.Used);
        Assert.Equal(0, usage.Remaining);
        Assert.Equal(1, limiter.LeaseCount);

        // The top-up keeps the lease's expiry: everything is freed at 30 s, or at once on release.
        var d = limiter.Acquire(1, Sec(10));
        Assert.Equal(TimeSpan.FromSeconds(20), d.RetryAfter);
        Assert.True(limiter.Release(reservation.Grant.LeaseNumber, Sec(11)));
        Assert.Equal(5, limiter.GetUsage(Sec(11)).Remaining);
    }

    [Fact]
    public void ASettleBelowTheReservationShrinksTheLease()
    {
        var limiter = Leases(5, TimeSpan.FromSeconds(30));
        var reservation = limiter.Acquire(4, T0);
        var usage = limiter.Settle(reservation.Grant, 1, T0);
        Assert.Equal(1, usage.Used);
        Assert.Equal(4, usage.Remaining);
        Assert.Equal(T0.UtcTicks + TimeSpan.FromSeconds(30).Ticks, limiter.ExpiryOf(reservation.Grant.LeaseNumber));

        Assert.True(limiter.Release(reservation.Grant.LeaseNumber, T0));
        Assert.Equal(5, limiter.GetUsage(T0).Remaining);
    }

    [Fact]
    public void ASettleOfAnExpiredLeaseOpensAFreshLeaseForTheTopUp()
    {
        var limiter = Leases(5, TimeSpan.FromSeconds(30));
        var reservation = limiter.Acquire(2, T0);
        var usage = limiter.Settle(reservation.Grant, 5, Sec(40));
        Assert.Equal(3, usage.Used);
        Assert.Equal(1, limiter.LeaseCount);
        Assert.Equal(TimeSpan.FromSeconds(30), usage.ResetAfter);
        Assert.Equal(5, limiter.GetUsage(Sec(70)).Remaining);
    }

    [Fact]
    public void ARefundWithTheGrantEndsTheLease()
    {
        var limiter = Leases(3, TimeSpan.FromSeconds(30));
        var grant = limiter.Acquire(3, T0);
        limiter.Refund(grant.Grant, Sec(5));
        Assert.Equal(0, limiter.LeaseCount);
        Assert.Equal(3, limiter.GetUsage(Sec(5)).Remaining);
        Assert.False(limiter.Release(grant.Grant.LeaseNumber, Sec(5)));
    }

    [Fact]
    public void ALoweredLimitKeepsTheLeasesAndTheNewTtlAppliesToNewLeasesOnly()
    {
        Limiter limiter = Leases(5, TimeSpan.FromSeconds(30));
        var old = limiter.Acquire(3, T0);
        limiter = limiter.Reconfigure(limiter.Policy with { Limit = 2, LeaseTtl = TimeSpan.FromSeconds(10) }, Sec(1));
        var leases = Assert.IsType<ConcurrencyLimiter>(limiter);
        Assert.Equal(Sec(30).UtcTicks, leases.ExpiryOf(old.Grant.LeaseNumber));

        var denied = limiter.Acquire(1, Sec(1));
        Assert.Equal(TimeSpan.FromSeconds(29), denied.RetryAfter);

        var fresh = limiter.Acquire(2, Sec(30));
        Assert.True(fresh.Allowed);
        Assert.Equal(Sec(40).UtcTicks, leases.ExpiryOf(fresh.Grant.LeaseNumber));
    }

    [Fact]
    public void ManyReleasedLeasesDoNotKeepTheLimiterFromExpiringTheLiveOnes()
    {
        var limiter = Leases(2, TimeSpan.FromSeconds(30));
        var keeper = limiter.Acquire(1, T0).Grant.LeaseNumber;
        for (var i = 0; i < 1_000; i++)
        {
            var lease = limiter.Acquire(1, T0 + TimeSpan.FromTicks(i)).Grant.LeaseNumber;
            Assert.True(limiter.Release(lease, T0 + TimeSpan.FromTicks(i)));
        }

        Assert.Equal(1, limiter.LeaseCount);
        Assert.Equal(Sec(30).UtcTicks, limiter.ExpiryOf(keeper));
        Assert.Equal(2, limiter.GetUsage(Sec(30)).Remaining);
    }

    [Fact]
    public void AHugeTopUpStillCountsAfterAnotherHugeLeaseEnds()
    {
        var limiter = Leases(5, TimeSpan.FromSeconds(30));
        var first = limiter.Acquire(1, Sec(0));
        limiter.Settle(first.Grant, long.MaxValue, Sec(0));
        limiter.Consume(long.MaxValue, Sec(10));

        // The first lease expires at 30 s; the one holding the second top-up lives until 40 s.
        var d = limiter.Acquire(1, Sec(30));
        Assert.False(d.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(10), d.RetryAfter);
        var usage = limiter.GetUsage(Sec(30));
        Assert.Equal(long.MaxValue, usage.Used);
        Assert.Equal(0, usage.Remaining);
        Assert.Equal(5, limiter.GetUsage(Sec(40)).Remaining);
    }

    [Fact]
    public void ReleasingAHugeLeaseNeverLeavesMoreThanTheLimitRemaining()
    {
        var limiter = Leases(5, TimeSpan.FromSeconds(30));
        var first = limiter.Acquire(2, Sec(0));
        limiter.Settle(first.Grant, long.MaxValue, Sec(0));
        var second = limiter.Acquire(1, Sec(0));
        Assert.False(second.Allowed);
        limiter.Consume(3, Sec(0));

        Assert.True(limiter.Release(first.Grant.LeaseNumber, Sec(1)));
        var usage = limiter.GetUsage(Sec(1));
        Assert.Equal(3, usage.Used);
        Assert.Equal(2, usage.Remaining);
    }
}
