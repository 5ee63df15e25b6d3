namespace Quota.Grains.Storage;

/// <summary>
/// How durable counters and usage history are written (<c>Quota:Storage</c>, read alongside the provider choice).
/// </summary>
public sealed class DurabilityOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Storage";

    /// <summary>The storage provider (<c>memory</c> or <c>postgres</c>); see the silo's storage options. Default: memory.</summary>
    public string Provider { get; set; } = "memory";

    /// <summary>
    /// Whether calendar quotas and fixed windows of an hour or more are checkpointed. Default: yes with PostgreSQL,
    /// no in the embedded default (its storage is memory, which a restart loses anyway).
    /// </summary>
    public bool? CheckpointCounters { get; set; }

    /// <summary>Whether counters are checkpointed, after defaults.</summary>
    public bool Checkpoints => CheckpointCounters ?? string.Equals(Provider, "postgres", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The longest a changed calendar quota or long fixed window waits before its counter is checkpointed
    /// (write-behind, off the decision path). It bounds what a crash can lose: see the README's crash bound.
    /// Default: 1 second.
    /// </summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the per-minute usage history is written to the database, in batches. Default: 5 seconds.</summary>
    public TimeSpan UsageFlushInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The most usage-history rows (subject × minute) held for writing while the database is slow or down; beyond it
    /// the oldest minutes are dropped and counted in the <c>quota.storage.usage_rows_dropped</c> metric. Default: 100,000.
    /// </summary>
    public int BufferCapacity { get; set; } = 100_000;
}
