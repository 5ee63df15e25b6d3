using Quota.Abstractions;

namespace Quota.Client;

/// <summary>
/// Asks a Quota cluster for decisions. Denials are values (<see cref="AcquireResult.Allowed"/> false), never
/// exceptions; exceptions mean the cluster could not be reached or the call was cancelled.
/// </summary>
public interface IQuotaClient
{
    /// <summary>
    /// Decides a request across every subject it names, all or nothing. With <see cref="AcquireRequest.MaxWaitMs"/>
    /// the call waits for capacity; cancelling <paramref name="cancellationToken"/> gives up the place in the queue.
    /// </summary>
    Task<AcquireResult> AcquireAsync(AcquireRequest request, CancellationToken cancellationToken = default);

    /// <summary>Settles a reservation with its actual cost: refunds the difference or takes the top-up.</summary>
    Task<LeaseOutcome> SettleAsync(string leaseId, long actualCost, CancellationToken cancellationToken = default);

    /// <summary>Releases a concurrency lease (and ends a reservation keeping its estimate).</summary>
    Task<LeaseOutcome> ReleaseAsync(string leaseId, CancellationToken cancellationToken = default);

    /// <summary>A subject's usage now. For a key, <paramref name="id"/> is its key id, never the raw key.</summary>
    Task<UsageReport> GetUsageAsync(SubjectKind kind, string id, CancellationToken cancellationToken = default);
}

/// <summary>The <see cref="IQuotaClient"/> over any Orleans grain factory: a cluster client, or a silo's own.</summary>
public sealed class QuotaClient(IGrainFactory grains) : IQuotaClient
{
    /// <summary>
    /// How many decision grain keys calls are spread over. Each key is one stateless worker per silo (so that
    /// cancelling a call reaches it); several keys keep decisions running in parallel.
    /// </summary>
    public static int DecisionKeys { get; } = Math.Max(4, Environment.ProcessorCount);

    private IDecisionGrain Decisions => grains.GetGrain<IDecisionGrain>(Random.Shared.Next(DecisionKeys));

    /// <inheritdoc />
    public Task<AcquireResult> AcquireAsync(AcquireRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Decisions.AcquireAsync(request, cancellationToken);
    }

    /// <inheritdoc />
    public Task<LeaseOutcome> SettleAsync(string leaseId, long actualCost, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(leaseId);
        ArgumentOutOfRangeException.ThrowIfNegative(actualCost);
        return Decisions.SettleAsync(leaseId, actualCost).WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public Task<LeaseOutcome> ReleaseAsync(string leaseId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(leaseId);
        return Decisions.ReleaseAsync(leaseId).WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public Task<UsageReport> GetUsageAsync(SubjectKind kind, string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        return Decisions.GetUsageAsync(kind, id).WaitAsync(cancellationToken);
    }
}
