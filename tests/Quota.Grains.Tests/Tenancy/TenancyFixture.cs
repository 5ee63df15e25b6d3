using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Storage;
using Orleans.TestingHost;
using Quota.Abstractions;
using Quota.Client;
using Quota.Grains.Storage;

namespace Quota.Grains.Tests.Tenancy;

/// <summary>
/// A two-silo cluster of its own for tenancy, on its own fake quota time: pools, tenants and tokens run timers on
/// that clock, so these tests advance it without disturbing the other collection. Tests use their own upstream and
/// tenant names.
/// </summary>
public class TenancyFixture : IAsyncLifetime
{
    public static readonly DateTimeOffset Start = new(2026, 3, 2, 0, 0, 0, TimeSpan.Zero);

    public static readonly TimeSpan Refresh = TimeSpan.FromSeconds(5);

    public static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(15);

    public FakeTimeProvider Time { get; } = new(Start);

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IQuotaClient Quota { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    public ITenancyGrain Tenancy => Grains.GetGrain<ITenancyGrain>(0);

    public async ValueTask InitializeAsync()
    {
        Cluster = await new QuotaTestCluster
        {
            Silos = 2,
            Time = Time,
            Storage = SharedStorage,
            Settings = new Dictionary<string, string?>
            {
                ["Quota:Secrets:Pepper"] = "tenancy-tests-pepper-0123456789",
                ["Quota:Scheduler:Enabled"] = "false",
                ["Quota:Decisions:MaxWait"] = "00:01:00",
                ["Quota:Tenancy:LeaseRefresh"] = "00:00:05",
                ["Quota:Tenancy:LeaseTtl"] = "00:00:15",
                ["Quota:Tenancy:FailureThreshold"] = "3",
                ["Quota:Tenancy:OpenDuration"] = "00:00:30",
                ["Quota:Tenancy:SuccessesToClose"] = "2",
            },
            Silo = silo => silo.Services.AddSingleton(SecretProtector.ForDevelopment()),
        }.StartAsync();
        Quota = new QuotaClient(Cluster.Client);
    }

    /// <summary>The grain storage of the cluster, shared by its silos; null: memory storage.</summary>
    protected virtual IGrainStorage? SharedStorage => null;

    public ValueTask DisposeAsync() => QuotaTestCluster.StopAsync(Cluster);

    /// <summary>Applies a change and fails with its problems if it was rejected.</summary>
    public async Task<TenancyOutcome> ChangeAsync(TenancyChange change)
    {
        var outcome = await Tenancy.ChangeAsync(change, dryRun: false);
        Assert.True(outcome.Problems.Length == 0, string.Join(Environment.NewLine, outcome.Problems.Select(p => $"{p.Field}: {p.Detail}")));
        return outcome;
    }

    /// <summary>A sliding-log policy (exact) of <paramref name="limit"/> per minute.</summary>
    public static PolicySpec PerMinute(long limit) => new() { Name = "per-minute", Algorithm = "sliding-log", Limit = limit, Window = TimeSpan.FromMinutes(1) };

    /// <summary>An upstream with <paramref name="tokens"/> pooled tokens of <paramref name="limit"/> per minute, buffer 5%.</summary>
    public static TenancyChange Upstream(string name, int tokens, long limit, double buffer = 5) => new()
    {
        Upstreams = new() { [name] = new UpstreamSpec { BufferPercent = buffer } },
        Tokens = [.. Enumerable.Range(1, tokens).Select(i => new TokenChange(name, $"t{i}", new TokenSpec { Policies = [PerMinute(limit)], Secret = $"secret-{name}-{i}" }))],
    };

    /// <summary>Moves quota time on and lets every tenant of <paramref name="tenants"/> refresh its lease, in order.</summary>
    public async Task<TenantLeaseState[]> StepAsync(TimeSpan by, params string[] tenants)
    {
        Time.Advance(by);
        var states = new TenantLeaseState[tenants.Length];
        for (var i = 0; i < tenants.Length; i++)
        {
            states[i] = await Grains.GetGrain<ITenantGrain>(tenants[i]).RefreshLeaseAsync();
        }

        return states;
    }

    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];
}

[CollectionDefinition(Name)]
public sealed class TenancyCollection : ICollectionFixture<TenancyFixture>
{
    public const string Name = "tenancy";
}
