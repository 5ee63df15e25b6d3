using Microsoft.Extensions.Options;
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
    StorageHealth health)
{
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
}
