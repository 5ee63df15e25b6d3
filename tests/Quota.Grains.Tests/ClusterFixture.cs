using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;
using Quota.Abstractions;
using Quota.Client;
using Quota.Grains;

namespace Quota.Grains.Tests;

/// <summary>
/// One two-silo in-process cluster for the collection, on fake quota time shared by both silos. Tests use their
/// own subject names so they never share windows. A fixture for another shape of cluster derives from it with its own
/// silo count and settings (<see cref="CeilingFixture"/>).
/// </summary>
public class ClusterFixture : IAsyncLifetime
{
    private readonly int _silos;
    private readonly IReadOnlyDictionary<string, string?> _settings;

    public ClusterFixture()
        : this(silos: 2, Settings)
    {
    }

    /// <summary>A cluster of <paramref name="silos"/> silos configured with <paramref name="settings"/>.</summary>
    protected ClusterFixture(int silos, IReadOnlyDictionary<string, string?> settings)
    {
        _silos = silos;
        _settings = settings;
    }

    public const string Pepper = "grain-tests-pepper-0123456789";

    public static readonly DateTimeOffset Start = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);

    public FakeTimeProvider Time { get; } = new(Start);

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IQuotaClient Quota { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    /// <summary>Policies the tests rely on, on top of the built-in defaults.</summary>
    public static Dictionary<string, string?> Settings { get; } = new()
    {
        ["Quota:Secrets:Pepper"] = Pepper,
        ["Quota:Scheduler:Enabled"] = "false",
        ["Quota:Decisions:MaxWait"] = "00:10:00",
        ["Quota:Decisions:ReservationTtl"] = "00:05:00",
        ["Quota:Policies:Resources:0:Name"] = "one-per-minute:*",
        ["Quota:Policies:Resources:0:Policies:0:Name"] = "per-minute",
        ["Quota:Policies:Resources:0:Policies:0:Algorithm"] = "fixed-window",
        ["Quota:Policies:Resources:0:Policies:0:Limit"] = "1",
        ["Quota:Policies:Resources:0:Policies:0:Window"] = "00:01:00",
        ["Quota:Policies:Resources:1:Name"] = "slot:*",
        ["Quota:Policies:Resources:1:Policies:0:Name"] = "in-flight",
        ["Quota:Policies:Resources:1:Policies:0:Algorithm"] = "concurrency",
        ["Quota:Policies:Resources:1:Policies:0:Limit"] = "1",
        ["Quota:Policies:Resources:1:Policies:0:LeaseTtl"] = "00:02:00",
        ["Quota:Policies:Resources:2:Name"] = "metered:*",
        ["Quota:Policies:Resources:2:Policies:0:Name"] = "tokens",
        ["Quota:Policies:Resources:2:Policies:0:Algorithm"] = "fixed-window",
        ["Quota:Policies:Resources:2:Policies:0:Limit"] = "100",
        ["Quota:Policies:Resources:2:Policies:0:Window"] = "01:00:00",
        ["Quota:Policies:Resources:3:Name"] = "daily:*",
        ["Quota:Policies:Resources:3:Policies:0:Name"] = "daily",
        ["Quota:Policies:Resources:3:Policies:0:Algorithm"] = "calendar",
        ["Quota:Policies:Resources:3:Policies:0:Limit"] = "1000",
        ["Quota:Policies:Resources:3:Policies:0:Period"] = "day",
        ["Quota:Policies:Resources:3:Policies:0:TimeZone"] = "UTC",
        ["Quota:Policies:Resources:3:Policies:1:Name"] = "per-minute",
        ["Quota:Policies:Resources:3:Policies:1:Algorithm"] = "fixed-window",
        ["Quota:Policies:Resources:3:Policies:1:Limit"] = "500",
        ["Quota:Policies:Resources:3:Policies:1:Window"] = "00:01:00",

        // Checkpoints as in the PostgreSQL mode, here to memory storage.
        ["Quota:Storage:CheckpointCounters"] = "true",
    };

    public async ValueTask InitializeAsync()
    {
        Cluster = await new QuotaTestCluster { Silos = _silos, Time = Time, Settings = _settings }.StartAsync();
        Quota = new QuotaClient(Cluster.Client);
    }

    public ValueTask DisposeAsync() => QuotaTestCluster.StopAsync(Cluster);

    /// <summary>Registers a raw key for a user and returns its key id.</summary>
    public async Task<string> RegisterKeyAsync(string rawKey, string user) =>
        (await Grains.GetGrain<IDecisionGrain>(0).RegisterKeyAsync(rawKey, user, null)).KeyId;

    /// <summary>
    /// Waits until a subject reports <paramref name="count"/> waiting callers: the point at which a test may free
    /// capacity knowing the waiters are queued. Bounded; fails loudly instead of hanging.
    /// </summary>
    public async Task WaitForWaitersAsync(SubjectKind kind, string id, int count)
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var usage = await Quota.GetUsageAsync(kind, id);
            if (usage.Waiting == count)
            {
                return;
            }

            await Task.Delay(5);
        }

        var last = await Quota.GetUsageAsync(kind, id);
        Assert.Fail($"{last.Subject}: expected {count} waiting callers, saw {last.Waiting}.");
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
