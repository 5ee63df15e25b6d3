using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Configuration;
using Orleans.TestingHost;
using Quota.Abstractions;
using Quota.Client;
using Quota.Grains.Storage;

namespace Quota.Grains.Tests.Tenancy;

/// <summary>
/// The pool keeps its leases in memory. When it is deactivated or its silo is killed, the next activation must not
/// lend what its predecessor already lent: at every step, what the tenants actually hold stays within what the pool
/// may lend. A three-silo cluster of its own, so a silo can be killed.
/// </summary>
public sealed class PoolFailoverTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 4, 6, 0, 0, 0, TimeSpan.Zero));
    private readonly SharedStorage _storage = new();
    private InProcessTestCluster _cluster = null!;
    private IQuotaClient _quota = null!;

    public async ValueTask InitializeAsync()
    {
        _cluster = await new QuotaTestCluster
        {
            Silos = 3,
            Time = _time,
            Storage = _storage,
            Settings = new Dictionary<string, string?>
            {
                ["Quota:Secrets:Pepper"] = "failover-tests-pepper-0123456789",
                ["Quota:Scheduler:Enabled"] = "false",
                ["Quota:Tenancy:LeaseRefresh"] = "00:00:05",
                ["Quota:Tenancy:LeaseTtl"] = "00:00:15",
            },
            Silo = silo =>
            {
                // A killed silo is declared dead in a few seconds, and no call waits longer than that for an answer.
                silo.Configure<ClusterMembershipOptions>(options =>
                {
                    options.ProbeTimeout = TimeSpan.FromSeconds(1);
                    options.NumMissedProbesLimit = 2;
                    options.NumVotesForDeathDeclaration = 1;
                });
                silo.Configure<SiloMessagingOptions>(options => options.ResponseTimeout = TimeSpan.FromSeconds(10));
                silo.Services.AddSingleton(SecretProtector.ForDevelopment());
            },
            Client = client => client.Configure<ClientMessagingOptions>(options => options.ResponseTimeout = TimeSpan.FromSeconds(10)),
        }.StartAsync();
        _quota = new QuotaClient(_cluster.Client);
    }

    public ValueTask DisposeAsync() => QuotaTestCluster.StopAsync(_cluster);

    [Fact]
    public async Task DeactivatingOrKillingThePoolsSiloNeverLeadsToOverAllocation()
    {
        const string upstream = "failover";
        string[] tenants = ["a", "b", "c", "d"];
        var outcome = await _cluster.Client.GetGrain<ITenancyGrain>(0).ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100) with
        {
            Tenants = tenants.ToDictionary(t => t, TenantSpec? (_) => new TenantSpec { Upstream = upstream }),
        }, dryRun: false);
        Assert.Empty(outcome.Problems);

        // a and b saturate and hold 95 each.
        var active = new List<string> { "a", "b" };
        var steps = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            await StepAsync(active, steps, $"warm-up {i}");
        }

        var two = await LeasesAsync(["a", "b"]);
        Assert.Equal([95L, 95L], two);

        // The pool is deactivated. c arrives hungry while the new activation relearns: it may not be lent what a and b
        // still hold, so it gets nothing until their old leases are known or expired.
        var pool = _cluster.Client.GetGrain<IPoolGrain>(upstream);
        await _cluster.DeactivateAsync(pool);
        active.Add("c");
        for (var i = 0; i < 5; i++)
        {
            await StepAsync(active, steps, $"after deactivation {i}");
        }

        var report = (await pool.GetAllocationAsync())!;
        Assert.False(report.Learning);
        var three = await LeasesAsync(["a", "b", "c"]);
        Assert.Equal(190, three.Sum());
        Assert.All(three, l => Assert.InRange(l, 63, 64));

        // The silo the pool lives on is killed, whichever it is. d arrives.
        var silo = (await pool.GetAllocationAsync())!.Silo;
        var host = _cluster.Silos.Single(s => s.SiloAddress.ToString() == silo);
        var killed = host.SiloAddress;
        await _cluster.KillSiloAsync(host);
        await DeclaredDeadAsync(killed);
        active.Add("d");
        for (var i = 0; i < 6; i++)
        {
            await StepAsync(active, steps, $"after kill {i}");
        }

        // Settled again: four equal claims on 190.
        var four = await LeasesAsync(tenants);
        Assert.Equal(190, four.Sum());
        Assert.All(four, l => Assert.InRange(l, 47, 48));
        Assert.True(steps.Count > 40, "every refresh was checked");
    }

    [Fact]
    public async Task APoolThatRestartsWithLessToLendRenewsNobodyBeyondIt()
    {
        const string upstream = "shrink";
        var outcome = await _cluster.Client.GetGrain<ITenancyGrain>(0).ChangeAsync(TenancyFixture.Upstream(upstream, 4, 100) with
        {
            Tenants = new() { ["x"] = new TenantSpec { Upstream = upstream }, ["y"] = new TenantSpec { Upstream = upstream } },
        }, dryRun: false);
        Assert.Empty(outcome.Problems);
        var steps = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            await StepAsync(["x", "y"], steps, $"warm-up {i}", upstream, 380);
        }

        var before = await LeasesAsync(["x", "y"]);
        Assert.Equal([190L, 190L], before);

        // The pool goes away; while it is gone two tokens are removed: 190 to lend, and x and y still hold 190 each.
        var pool = _cluster.Client.GetGrain<IPoolGrain>(upstream);
        await _cluster.DeactivateAsync(pool);
        outcome = await _cluster.Client.GetGrain<ITenancyGrain>(0).ChangeAsync(new TenancyChange
        {
            Tokens = [new TokenChange(upstream, "t3", null), new TokenChange(upstream, "t4", null)],
        }, dryRun: false);
        Assert.Empty(outcome.Problems);

        // y, still hungry, is heard from first, before x's next refresh is due: what x may hold must be left for x.
        for (var i = 0; i < 40; i++)
        {
            await _quota.AcquireAsync(new AcquireRequest { Tenant = "y" });
        }

        _time.Advance(TimeSpan.FromSeconds(2));
        var y = await _cluster.Client.GetGrain<ITenantGrain>("y").RefreshLeaseAsync();
        Assert.True((await pool.GetAllocationAsync())!.Learning);
        Assert.Equal(0, y.Lease);
        await CheckAsync(["x", "y"], steps, "y first after the shrink", upstream, 190);
        for (var i = 0; i < 5; i++)
        {
            await StepAsync(["y", "x"], steps, $"after the shrink {i}", upstream, 190);
        }

        var settled = await LeasesAsync(["x", "y"]);
        Assert.Equal(190, settled.Sum());
    }

    /// <summary>
    /// Every active tenant asks 40 permits, five seconds pass, each refreshes; then what the tenants hold (their own
    /// count, the truth) and what the pool counts are checked against what it may lend.
    /// </summary>
    private Task StepAsync(List<string> active, List<string> log, string label) => StepAsync(active, log, label, "failover", 190);

    private async Task StepAsync(List<string> active, List<string> log, string label, string upstream, long lendable)
    {
        foreach (var tenant in active)
        {
            for (var i = 0; i < 40; i++)
            {
                await _quota.AcquireAsync(new AcquireRequest { Tenant = tenant });
            }
        }

        _time.Advance(TimeSpan.FromSeconds(5));
        foreach (var tenant in active)
        {
            await _cluster.Client.GetGrain<ITenantGrain>(tenant).RefreshLeaseAsync();
            await CheckAsync(active, log, $"{label}, {tenant} refreshed", upstream, lendable);
        }
    }

    private async Task CheckAsync(List<string> active, List<string> log, string label, string upstream, long lendable)
    {
        var held = (await LeasesAsync([.. active])).Sum();
        var counted = (await _cluster.Client.GetGrain<IPoolGrain>(upstream).GetAllocationAsync())!.Leased;
        Assert.True(held <= lendable, $"{label}: tenants hold {held}, over the {lendable} the pool may lend");
        Assert.True(counted <= lendable, $"{label}: the pool counts {counted} lent, over {lendable}");
        log.Add($"{label}: held {held}, counted {counted}");
    }

    /// <summary>
    /// Waits (bounded) until the cluster has declared the killed silo dead: until then calls to grains that lived
    /// there have nowhere to go, and the point of the test is what the pool lends once it lives again.
    /// </summary>
    private async Task DeclaredDeadAsync(SiloAddress silo)
    {
        var management = _cluster.Client.GetGrain<IManagementGrain>(0);
        for (var attempt = 0; attempt < 600; attempt++)
        {
            var hosts = await management.GetHosts(onlyActive: true);
            if (!hosts.ContainsKey(silo))
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"silo {silo} was not declared dead within a minute");
    }

    private async Task<long[]> LeasesAsync(string[] tenants) =>
        await Task.WhenAll(tenants.Select(async t => (await _cluster.Client.GetGrain<ITenantGrain>(t).GetLeaseStateAsync()).Lease));
}
