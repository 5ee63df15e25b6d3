using System.Collections.Concurrent;
using Quota.Abstractions;

namespace Quota.Grains.Tests.Tenancy;

/// <summary>
/// Each token is a hard ceiling: whatever tenants were lent, and whoever bypasses the tenants (a request naming only
/// the upstream), no token admits more than the upstream's limit for it in any window.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class TokenCeilingTests(TenancyFixture fixture)
{
    [Fact]
    public async Task NoTokenAdmitsMoreThanItsLimitInAnyWindowUnder256ConcurrentCallersAcrossTenTenants()
    {
        var upstream = TenancyFixture.Unique("ceil");
        var tenants = Enumerable.Range(0, 10).Select(i => TenancyFixture.Unique($"c{i}")).ToArray();
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 3, 100) with
        {
            Tenants = tenants.Select((t, i) => (t, i)).ToDictionary(x => x.t, TenantSpec? (x) => new TenantSpec
            {
                Upstream = upstream,
                Reserved = x.i < 4 ? 5 : 0,
                Weight = 1 + (x.i % 3),
            }),
        });

        // 256 callers, one request each per round, all at the same quota instant; a second passes between rounds and
        // the tenants' own timers refresh their leases as it does. Every 16th caller names only the upstream.
        // Tenants borrow from the pool as their allowances run out (issue 21): while the callers run, and after each
        // round, the pool never counts more lent than it may lend, nor do the tenants hold more.
        var admissions = new ConcurrentDictionary<string, ConcurrentBag<DateTimeOffset>>();
        var admitted = 0;
        var pool = fixture.Grains.GetGrain<IPoolGrain>(upstream);
        var mostLent = 0L;
        for (var round = 0; round < 150; round++)
        {
            var now = fixture.Time.GetUtcNow();
            var during = pool.GetAllocationAsync();
            var results = await Task.WhenAll(Enumerable.Range(0, 256).Select(caller => fixture.Quota.AcquireAsync(caller % 16 == 15
                ? new AcquireRequest { Upstream = upstream }
                : new AcquireRequest { Tenant = tenants[caller % tenants.Length] })));
            foreach (var allocation in new[] { await during, await pool.GetAllocationAsync() })
            {
                Assert.NotNull(allocation);
                Assert.True(allocation.Leased <= allocation.Lendable, $"round {round}: the pool counts {allocation.Leased} lent of {allocation.Lendable}");
                mostLent = Math.Max(mostLent, allocation.Leased);
            }

            var held = (await Task.WhenAll(tenants.Select(t => fixture.Grains.GetGrain<ITenantGrain>(t).GetLeaseStateAsync()))).Sum(s => s.Lease);
            Assert.True(held <= 285 - 20, $"round {round}: tenants hold {held} of the 265 the pool may lend");
            foreach (var result in results.Where(r => r.Allowed))
            {
                admissions.GetOrAdd(result.Token!.Id, _ => []).Add(now);
                admitted++;
            }

            fixture.Time.Advance(TimeSpan.FromSeconds(1));
        }

        // 150 seconds at 3 x 95 per minute is at most 3 x 95 x 3 windows' worth; far more was asked.
        Assert.True(admitted > 3 * 95, $"only {admitted} admitted: the test did not load the tokens");

        // Borrowing lent the whole pool at some point: 285 less four reserves of 5.
        Assert.Equal(265, mostLent);
        Assert.Equal(3, admissions.Count);
        foreach (var (token, times) in admissions)
        {
            var sorted = times.Order().ToArray();
            var busiest = 0;
            for (int start = 0, end = 0; end < sorted.Length; end++)
            {
                while (sorted[end] - sorted[start] >= TimeSpan.FromMinutes(1))
                {
                    start++;
                }

                busiest = Math.Max(busiest, end - start + 1);
            }

            // The upstream allows 100 per minute; Quota keeps the 5% buffer and admits 95.
            Assert.True(busiest <= 95, $"token {token} admitted {busiest} within one minute");
            Assert.Equal(95, busiest);
        }
    }

    [Fact]
    public async Task ACallerThatWaitsIsGrantedWhenTheTokenFreesCapacity()
    {
        var upstream = TenancyFixture.Unique("wait");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 1, 20));

        // 20 per minute less 5% is 19: a sliding log frees the first permit a minute after it was taken.
        for (var i = 0; i < 19; i++)
        {
            Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream })).Allowed);
            fixture.Time.Advance(TimeSpan.FromSeconds(1));
        }

        var denied = await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream });
        Assert.Equal($"token:{upstream}/t1/per-minute", denied.LimitedBy);
        Assert.Equal(41_000, denied.RetryAfterMs);

        var waiting = fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream, MaxWaitMs = 60_000 });
        await WaitForWaitersAsync($"{upstream}/t1", 1);
        fixture.Time.Advance(TimeSpan.FromSeconds(41));
        var granted = await waiting;
        Assert.True(granted.Allowed);
        Assert.Equal("t1", granted.Token!.Id);
    }

    [Fact]
    public async Task RenamingOrRemovingAndAddingBackATokensPolicyKeepsWhatItAdmitted()
    {
        var upstream = TenancyFixture.Unique("ren");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 1, 20));
        for (var i = 0; i < 19; i++)
        {
            Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream })).Allowed);
        }

        // Renamed: the count carries over, the upstream's limit still holds within the minute.
        var renamed = TenancyFixture.PerMinute(20) with { Name = "minute" };
        await fixture.ChangeAsync(new TenancyChange { Tokens = [new TokenChange(upstream, "t1", new TokenSpec { Policies = [renamed] })] });
        var denied = await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream });
        Assert.Equal($"token:{upstream}/t1/minute", denied.LimitedBy);

        // Removed and added back within the minute: still counted.
        await fixture.ChangeAsync(new TenancyChange { Tokens = [new TokenChange(upstream, "t1", null)] });
        await fixture.ChangeAsync(new TenancyChange { Tokens = [new TokenChange(upstream, "t1", new TokenSpec { Policies = [renamed] })] });
        Assert.Equal($"token:{upstream}/t1/minute", (await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream })).LimitedBy);
    }

    private async Task WaitForWaitersAsync(string token, int count)
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            if ((await fixture.Grains.GetGrain<IUpstreamTokenGrain>(token).GetUsageAsync()).Waiting == count)
            {
                return;
            }

            await Task.Delay(5);
        }

        Assert.Fail($"token {token}: {count} waiting callers expected");
    }
}
