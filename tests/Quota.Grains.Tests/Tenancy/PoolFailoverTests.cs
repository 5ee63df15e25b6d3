using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
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
    private InProcessTestCluster _cluster = null!;
    private IQuotaClient _quota = null!;

    public async ValueTask InitializeAsync()
    {
        ThreadPool.SetMinThreads(32, 32);
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSiloHost((_, host) => host.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Quota:Secrets:Pepper"] = "failover-tests-pepper-0123456789",
            ["Quota:Tenancy:LeaseRefresh"] = "00:00:05",
            ["Quota:Tenancy:LeaseTtl"] = "00:00:15",
        }));
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton(new QuotaTime(_time));
            silo.Services.AddSingleton(SecretProtector.ForDevelopment());
            silo.AddMemoryGrainStorage("quota");
            silo.AddQuotaGrains();
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync();
        _quota = new QuotaClient(_cluster.Client);
    }

    public async ValueTask DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

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

        // The pool is moved to a silo that is then killed (not the first, which the test cluster needs). d arrives.
        var victim = _cluster.Silos.Skip(1).First();
        await _cluster.MigrateAsync(pool, victim.SiloAddress);
        await pool.GetAllocationAsync();
        await _cluster.KillSiloAsync(victim);
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

    /// <summary>
    /// Every active tenant asks 40 permits, five seconds pass, each refreshes; then what the tenants hold (their own
    /// count, the truth) and what the pool counts are checked against what it may lend.
    /// </summary>
    private async Task StepAsync(List<string> active, List<string> log, string label)
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
            await CheckAsync(active, log, $"{label}, {tenant} refreshed");
        }
    }

    private async Task CheckAsync(List<string> active, List<string> log, string label)
    {
        var held = (await LeasesAsync([.. active])).Sum();
        var counted = (await _cluster.Client.GetGrain<IPoolGrain>("failover").GetAllocationAsync())!.Leased;
        Assert.True(held <= 190, $"{label}: tenants hold {held}, over the 190 the pool may lend");
        Assert.True(counted <= 190, $"{label}: the pool counts {counted} lent, over 190");
        log.Add($"{label}: held {held}, counted {counted}");
    }

    private async Task<long[]> LeasesAsync(string[] tenants) =>
        await Task.WhenAll(tenants.Select(async t => (await _cluster.Client.GetGrain<ITenantGrain>(t).GetLeaseStateAsync()).Lease));
}
