using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Storage;
using Quota.Grains.Configuration;
using Quota.Grains.Storage;

namespace Quota.Grains.Subjects;

/// <summary>The silo services every subject grain uses, in one piece so the grains' constructors stay short.</summary>
public sealed class SubjectServices(
    PolicyCatalog catalog,
    QuotaTime time,
    IOptions<DecisionOptions> decisions,
    IOptions<DurabilityOptions> durability,
    QuotaInstruments instruments,
    UsageRecorder usage,
    StorageHealth health,
    ActiveSubjects active,
    IOptions<LimitsOptions> limits,
    RecentDenials denials,
    SiloStopping stopping,
    IServiceProvider provider)
{
    private IGrainStorage? _storage;

    /// <summary>Default policies.</summary>
    public PolicyCatalog Catalog { get; } = catalog;

    /// <summary>The quota clock.</summary>
    public TimeProvider Time { get; } = time.Provider;

    /// <summary>Decision limits (waits, reservations).</summary>
    public DecisionOptions Decisions { get; } = decisions.Value;

    /// <summary>Checkpoint settings.</summary>
    public DurabilityOptions Durability { get; } = durability.Value;

    /// <summary>Metrics.</summary>
    public QuotaInstruments Instruments { get; } = instruments;

    /// <summary>The per-minute usage history.</summary>
    public UsageRecorder Usage { get; } = usage;

    /// <summary>Whether durable writes get through.</summary>
    public StorageHealth Health { get; } = health;

    /// <summary>This silo's count of active users, keys and resources, against its ceiling.</summary>
    public ActiveSubjects Active { get; } = active;

    /// <summary>The last denials on this silo, for the console.</summary>
    public RecentDenials Denials { get; } = denials;

    /// <summary>The silo's ceilings (the <c>Retry-After</c> of a shed request).</summary>
    public LimitsOptions Limits { get; } = limits.Value;

    /// <summary>Whether this silo has begun a graceful stop (then waiters are answered at once).</summary>
    public SiloStopping Stopping { get; } = stopping;

    /// <summary>
    /// This silo's grain storage provider <see cref="QuotaStorage.Name"/>, where subjects keep their configuration
    /// and checkpoints; resolved on first use (every silo registers it before grains activate).
    /// </summary>
    public IGrainStorage Storage => _storage ??= provider.GetRequiredKeyedService<IGrainStorage>(QuotaStorage.Name);
}
