using Quota.Abstractions;

namespace Quota.Grains.Tests.Tenancy;

/// <summary>
/// Fair share end to end on fake time: tenants take requests through the decision path, refresh their leases every
/// five seconds with what they measured, and the pool divides what its tokens allow. Leases are compared exactly;
/// what tenants were admitted is measured over the last minute.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class FairShareTests(TenancyFixture fixture, ITestOutputHelper output)
{
    private const int Steps = 36; // three minutes of five-second steps
    private const int Measured = 12; // the last minute

    [Fact]
    public async Task EqualWeightsAndEqualSaturatingDemandGetEqualSharesAndUseThePool()
    {
        var upstream = TenancyFixture.Unique("eq");
        var tenants = Enumerable.Range(1, 4).Select(i => TenancyFixture.Unique($"eq{i}")).ToArray();
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 4, 100) with
        {
            Tenants = tenants.ToDictionary(t => t, TenantSpec? (_) => new TenantSpec { Upstream = upstream }),
        });

        var (admitted, leases) = await RunAsync(tenants, _ => 40);

        // 4 tokens x 100 per minute less 5% = 380, four equal claims: 95 each, exactly.
        Assert.All(leases, l => Assert.Equal(95, l.Lease));
        var jain = Jain(admitted);
        var utilisation = admitted.Sum() / 380.0;
        output.WriteLine($"equal weights: admitted in the last minute {string.Join(", ", admitted)}; Jain {jain:F4}; utilisation {utilisation:P1}");
        // The documented figures exactly: 95, 95, 95, 95 in the last minute, so Jain's index 1 and the whole pool used.
        Assert.Equal([95L, 95L, 95L, 95L], admitted);
        Assert.Equal(1.0, jain);
        Assert.Equal(1.0, utilisation);
    }

    [Fact]
    public async Task WeightsTwoToOneToOneGetTwoToOneToOne()
    {
        var upstream = TenancyFixture.Unique("w");
        var tenants = new[] { TenancyFixture.Unique("heavy"), TenancyFixture.Unique("light1"), TenancyFixture.Unique("light2") };
        var weights = new[] { 2.0, 1.0, 1.0 };
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 4, 100) with
        {
            Tenants = tenants.Select((t, i) => (t, i)).ToDictionary(x => x.t, TenantSpec? (x) => new TenantSpec { Upstream = upstream, Weight = weights[x.i] }),
        });

        var (admitted, leases) = await RunAsync(tenants, _ => 60);

        Assert.Equal([190L, 95L, 95L], leases.Select(l => l.Lease));
        output.WriteLine($"weights 2:1:1: admitted in the last minute {string.Join(", ", admitted)}; ratios {admitted[0] / (double)admitted[1]:F3} : 1 : {admitted[2] / (double)admitted[1]:F3}");
        // The documented figures exactly: 190 : 95 : 95 in the last minute.
        Assert.Equal([190L, 95L, 95L], admitted);
    }

    [Fact]
    public async Task ATenantWithLowDemandGetsAllItAsksAndWhatItLeavesFlowsToTheOthersWithinOneRefresh()
    {
        var upstream = TenancyFixture.Unique("low");
        var small = TenancyFixture.Unique("small");
        var big = new[] { TenancyFixture.Unique("big1"), TenancyFixture.Unique("big2") };
        var all = new[] { small, big[0], big[1] };
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 4, 100) with
        {
            Tenants = all.ToDictionary(t => t, TenantSpec? (_) => new TenantSpec { Upstream = upstream }),
        });

        // The small tenant asks 2 every five seconds: 24 per minute, all of which it gets.
        var (admitted, leases) = await RunAsync(all, t => t == small ? 2 : 60);
        Assert.Equal(24, leases[0].Demand);
        Assert.Equal(24, leases[0].Lease);
        Assert.Equal([178L, 178L], leases.Skip(1).Select(l => l.Lease));

        // What each was admitted in the last minute, as documented: 24 (all it asked), 178, 178.
        Assert.Equal([24L, 178L, 178L], admitted);

        // It goes quiet: its next refresh reports no demand, and within one refresh interval the others hold
        // everything it left, (380 - 0) / 2 each.
        await IssueAsync(big, _ => 60);
        var after = await fixture.StepAsync(TenancyFixture.Refresh, small, big[0], big[1]);
        Assert.Equal(0, after[0].Lease);
        Assert.Equal([190L, 190L], after.Skip(1).Select(l => l.Lease));
        output.WriteLine($"low demand: small got {admitted[0]} of 24 asked; big leases 178 -> {after[1].Lease}, {after[2].Lease} one refresh after it went quiet");
    }

    [Fact]
    public async Task AHigherServiceClassIsServedFirstWhenThePoolIsShort()
    {
        var upstream = TenancyFixture.Unique("prio");
        var urgent = TenancyFixture.Unique("urgent");
        var others = new[] { TenancyFixture.Unique("other1"), TenancyFixture.Unique("other2") };
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100) with
        {
            Tenants = new()
            {
                [urgent] = new TenantSpec { Upstream = upstream, Priority = 5, Burst = 120 },
                [others[0]] = new TenantSpec { Upstream = upstream },
                [others[1]] = new TenantSpec { Upstream = upstream },
            },
        });

        var (_, leases) = await RunAsync([urgent, .. others], _ => 40);

        // 190 to lend; the urgent class takes its burst of 120 first, the rest is split evenly.
        Assert.Equal([120L, 35L, 35L], leases.Select(l => l.Lease));
    }

    /// <summary>
    /// Runs <see cref="Steps"/> five-second steps: each tenant asks <paramref name="perStep"/> permits one at a time,
    /// then time moves on and every tenant refreshes (in a rotating order, so nobody is always first). Answers what
    /// each tenant was admitted in the last <see cref="Measured"/> steps, and the lease states after the last step.
    /// </summary>
    private async Task<(long[] Admitted, TenantLeaseState[] Leases)> RunAsync(string[] tenants, Func<string, int> perStep)
    {
        var admitted = new long[tenants.Length];
        TenantLeaseState[] leases = [];
        for (var step = 0; step < Steps; step++)
        {
            var counts = await IssueAsync(tenants, perStep);
            if (step >= Steps - Measured)
            {
                for (var i = 0; i < tenants.Length; i++)
                {
                    admitted[i] += counts[i];
                }
            }

            var order = tenants.Skip(step % tenants.Length).Concat(tenants.Take(step % tenants.Length)).ToArray();
            var states = await fixture.StepAsync(TenancyFixture.Refresh, order);
            leases = [.. tenants.Select(t => states[Array.IndexOf(order, t)])];
        }

        return (admitted, leases);
    }

    /// <summary>Each tenant asks for its permits one at a time, the tenants side by side; answers what each was admitted.</summary>
    private async Task<long[]> IssueAsync(string[] tenants, Func<string, int> perStep) =>
        await Task.WhenAll(tenants.Select(async tenant =>
        {
            long granted = 0;
            for (var i = 0; i < perStep(tenant); i++)
            {
                var result = await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = tenant });
                if (result.Allowed)
                {
                    granted++;
                }
                else
                {
                    Assert.Equal(DecisionOutcome.Denied, result.Outcome);
                }
            }

            return granted;
        }));

    private static double Jain(long[] x) => x.Sum() * (double)x.Sum() / (x.Length * x.Sum(v => (double)v * v));
}
