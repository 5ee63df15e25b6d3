using Microsoft.Extensions.Options;

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
    /// How long a subject waits before it retries a checkpoint write that failed (the database is down or slow).
    /// Decisions continue from memory meanwhile. Default: 1 second.
    /// </summary>
    /// <remarks>
    /// Checkpoints are not written on a timer: a subject writes when a counter comes within half a claim of its
    /// written ceiling (see <c>DurableCounters</c>), so what a crash can cost is bounded in permits, not in time.
    /// A timer would cost one write per active subject per interval whatever the traffic.
    /// </remarks>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the per-minute usage history is written to the database, in batches. Default: 5 seconds.</summary>
    public TimeSpan UsageFlushInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The most usage-history rows (subject × minute) held for writing while the database is slow or down; beyond it
    /// the oldest minutes are dropped and counted in the <c>quota.storage.usage_rows_dropped</c> metric. Default: 100,000.
    /// </summary>
    public int BufferCapacity { get; set; } = 100_000;
}

/// <summary>Checks <see cref="DurabilityOptions"/> at start, naming every bad setting.</summary>
public sealed class DurabilityOptionsValidator : IValidateOptions<DurabilityOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, DurabilityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = DurabilityOptions.SectionName;
        var errors = new List<string>();
        if (options.CheckpointInterval < TimeSpan.FromMilliseconds(10) || options.CheckpointInterval > TimeSpan.FromHours(1))
        {
            errors.Add($"{S}:CheckpointInterval must be from 00:00:00.010 to 01:00:00 (got {options.CheckpointInterval}); the default is 00:00:01.");
        }

        if (options.UsageFlushInterval < TimeSpan.FromMilliseconds(100) || options.UsageFlushInterval > TimeSpan.FromHours(1))
        {
            errors.Add($"{S}:UsageFlushInterval must be from 00:00:00.100 to 01:00:00 (got {options.UsageFlushInterval}); the default is 00:00:05.");
        }

        if (options.BufferCapacity is < 1 or > 10_000_000)
        {
            errors.Add($"{S}:BufferCapacity must be from 1 to 10000000 rows (got {options.BufferCapacity}); the default is 100000.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
