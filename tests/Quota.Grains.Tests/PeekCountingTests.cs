using Microsoft.Extensions.DependencyInjection;
using Quota.Abstractions;
using Quota.Grains.Subjects;

namespace Quota.Grains.Tests;

/// <summary>
/// A peek (cost 0) takes nothing, so it is not traffic: it is counted in <c>quota.peeks</c>, never in the decisions the
/// metrics and the console's overview add up, nor in the recent denials. A queue peeks its dispatch's limits every five
/// seconds; before, each read showed as an allowed decision (the console's "allowed since start" rose with no caller).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PeekCountingTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Peeks_are_not_counted_as_decisions_or_denials()
    {
        var user = $"peeker-{Guid.NewGuid():N}";
        var resource = $"one-per-minute:{user}";
        var before = Totals();

        for (var i = 0; i < 3; i++)
        {
            Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { User = user, Resources = [resource], Cost = 0 })).Allowed);
        }

        Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { User = user, Resources = [resource] })).Allowed);
        var deniedPeek = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [resource], Cost = 0 });
        var after = Totals();

        // The peek after the one permit was taken answers denied, as docs/api.md says, and still is no denial.
        Assert.Equal(DecisionOutcome.Denied, deniedPeek.Outcome);
        Assert.Equal((2L, 0L), (after.Allowed - before.Allowed, after.Denied - before.Denied)); // the user and the resource, once
        Assert.DoesNotContain(fixture.Cluster.Silos.SelectMany(s => s.ServiceProvider.GetRequiredService<RecentDenials>().Since(DateTimeOffset.MinValue)), d => d.Id == resource);
    }

    private (long Allowed, long Denied) Totals()
    {
        long allowed = 0, denied = 0;
        foreach (var silo in fixture.Cluster.Silos)
        {
            var (a, d) = silo.ServiceProvider.GetRequiredService<QuotaInstruments>().DecisionTotals();
            allowed += a;
            denied += d;
        }

        return (allowed, denied);
    }
}
