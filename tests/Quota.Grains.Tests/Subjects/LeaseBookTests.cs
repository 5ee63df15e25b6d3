using Quota.Algorithms.Limiting;
using Quota.Grains.Subjects;

namespace Quota.Grains.Tests.Subjects;

/// <summary>The lease book: reservations settled, concurrency permits released, leases forgotten at their expiry.</summary>
public sealed class LeaseBookTests
{
    private static readonly DateTimeOffset Noon = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan ReservationTtl = TimeSpan.FromMinutes(5);

    private static SubjectLimits With(params PolicyDefinition[] definitions)
    {
        var limits = new SubjectLimits();
        limits.Apply(definitions, carryAcrossRenames: false, Noon);
        return limits;
    }

    private static PolicyDefinition Fixed(long limit) =>
        new() { Name = "minute", Algorithm = AlgorithmKind.FixedWindow, Limit = limit, Window = TimeSpan.FromMinutes(1) };

    private static PolicyDefinition Parallel(long limit, TimeSpan ttl) =>
        new() { Name = "parallel", Algorithm = AlgorithmKind.Concurrency, Limit = limit, LeaseTtl = ttl };

    [Fact]
    public void A_settled_reservation_refunds_the_difference_and_is_closed()
    {
        var limits = With(Fixed(10));
        var grants = limits.TryTake(5, Noon).Grants;
        var book = new LeaseBook();
        book.Open("n1", limits, grants, LeaseBook.ExpiryOf(limits, grants, reserve: true, ReservationTtl, Noon));

        Assert.True(book.Settle("n1", 2, limits, Noon.AddSeconds(1)));

        Assert.Equal(8, limits.Readings(Noon.AddSeconds(1))[0].Remaining);
        Assert.Equal(0, book.Count);
        Assert.False(book.Settle("n1", 2, limits, Noon.AddSeconds(1)));
    }

    [Fact]
    public void A_settlement_above_the_estimate_takes_the_top_up_beyond_the_limit()
    {
        var limits = With(Fixed(10));
        var grants = limits.TryTake(5, Noon).Grants;
        var book = new LeaseBook();
        book.Open("n1", limits, grants, Noon.AddMinutes(5));

        Assert.True(book.Settle("n1", 12, limits, Noon));

        Assert.Equal(0, limits.Readings(Noon)[0].Remaining);
        Assert.False(limits.TryTake(1, Noon).Allowed);
    }

    [Fact]
    public void Releasing_gives_concurrency_permits_back_and_leaves_window_counts()
    {
        var limits = With(Parallel(1, TimeSpan.FromMinutes(1)), Fixed(10));
        var grants = limits.TryTake(1, Noon).Grants;
        Assert.True(LeaseBook.HasConcurrencyPermits(grants));
        var book = new LeaseBook();
        book.Open("n1", limits, grants, LeaseBook.ExpiryOf(limits, grants, reserve: false, ReservationTtl, Noon));

        Assert.True(book.Release("n1", limits, Noon));

        var readings = limits.Readings(Noon);
        Assert.Equal(1, readings[0].Remaining);
        Assert.Equal(9, readings[1].Remaining);
        Assert.False(book.Release("n1", limits, Noon));
    }

    [Fact]
    public void A_lease_expires_at_the_later_of_the_reservation_ttl_and_the_concurrency_lease_ttl()
    {
        var limits = With(Parallel(5, TimeSpan.FromMinutes(10)), Fixed(10));
        var grants = limits.TryTake(1, Noon).Grants;

        Assert.Equal(Noon.AddMinutes(10), LeaseBook.ExpiryOf(limits, grants, reserve: true, ReservationTtl, Noon));
        Assert.Equal(Noon.AddMinutes(10), LeaseBook.ExpiryOf(limits, grants, reserve: false, ReservationTtl, Noon));

        var windowOnly = With(Fixed(10));
        var windowGrants = windowOnly.TryTake(1, Noon).Grants;
        Assert.False(LeaseBook.HasConcurrencyPermits(windowGrants));
        Assert.Equal(Noon.AddMinutes(5), LeaseBook.ExpiryOf(windowOnly, windowGrants, reserve: true, ReservationTtl, Noon));
    }

    [Fact]
    public void Expired_leases_are_forgotten_and_an_unsettled_reservation_keeps_its_estimate()
    {
        var limits = With(new PolicyDefinition { Name = "hour", Algorithm = AlgorithmKind.FixedWindow, Limit = 10, Window = TimeSpan.FromHours(1) });
        var book = new LeaseBook();
        book.Open("early", limits, limits.TryTake(3, Noon).Grants, Noon.AddMinutes(1));
        book.Open("late", limits, limits.TryTake(1, Noon).Grants, Noon.AddMinutes(2));

        book.Sweep(Noon.AddSeconds(59));
        Assert.Equal(2, book.Count);

        book.Sweep(Noon.AddMinutes(1));
        Assert.Equal(1, book.Count);
        Assert.False(book.Settle("early", 0, limits, Noon.AddMinutes(1)));
        Assert.Equal(6, limits.Readings(Noon.AddMinutes(1))[0].Remaining);

        book.Sweep(Noon.AddMinutes(2));
        Assert.Equal(0, book.Count);
    }

    [Fact]
    public void A_lease_made_by_a_limiter_rebuilt_since_does_not_release_the_new_ones_permits()
    {
        var limits = With(Parallel(1, TimeSpan.FromMinutes(1)));
        var book = new LeaseBook();
        book.Open("old", limits, limits.TryTake(1, Noon).Grants, Noon.AddMinutes(1));

        // The policy removed and added back: a fresh limiter, numbering its permits afresh.
        limits.Apply([], carryAcrossRenames: false, Noon);
        limits.Apply([Parallel(1, TimeSpan.FromMinutes(1))], carryAcrossRenames: false, Noon);
        Assert.True(limits.TryTake(1, Noon).Allowed);

        Assert.True(book.Release("old", limits, Noon));
        Assert.Equal(0, limits.Readings(Noon)[0].Remaining);
    }

    [Fact]
    public void Forgetting_a_lease_touches_no_counts()
    {
        var limits = With(Fixed(10));
        var book = new LeaseBook();
        book.Open("n1", limits, limits.TryTake(4, Noon).Grants, Noon.AddMinutes(5));

        book.Forget("n1");

        Assert.Equal(0, book.Count);
        Assert.Equal(6, limits.Readings(Noon)[0].Remaining);
    }
}
