using Quota.Abstractions;

namespace Quota.Client;

/// <summary>
/// One queue of the cluster, from a client: enqueue, lease, ack, nack and statistics (see docs/queues.md). Delivery is
/// at least once: an item leased and not acked within the queue's visibility timeout is handed out again. Like every
/// client call, a cluster that cannot answer now throws <see cref="QuotaUnavailableException"/>.
/// </summary>
public interface IQuotaQueue
{
    /// <summary>The queue's name.</summary>
    string Name { get; }

    /// <summary>
    /// Enqueues items, all or nothing (the answer's <see cref="EnqueueAnswer.Outcome"/> says why not). An id the queue
    /// already holds adds nothing: enqueueing is idempotent by id.
    /// </summary>
    Task<EnqueueAnswer> EnqueueAsync(IReadOnlyList<QueueItemInput> items, CancellationToken cancellationToken = default);

    /// <summary>
    /// Hands out up to <paramref name="max"/> (1 to <see cref="QueueRules.MaxLease"/>) items whose decisions admit them,
    /// waiting up to <paramref name="wait"/> (at most <see cref="QueueRules.MaxLeaseWaitMs"/>) for at least one.
    /// </summary>
    Task<LeaseAnswer> LeaseAsync(string worker, int max = 1, TimeSpan wait = default, CancellationToken cancellationToken = default);

    /// <summary>Acknowledges a hand-out: the item is done.</summary>
    Task<QueueOutcome> AckAsync(string leaseId, CancellationToken cancellationToken = default);

    /// <summary>Reports a hand-out failed: retried after the backoff (and the upstream's Retry-After), or dead-lettered.</summary>
    Task<NackAnswer> NackAsync(NackRequest request, CancellationToken cancellationToken = default);

    /// <summary>The queue's statistics now, including the workers worth running; null when it is not defined.</summary>
    Task<QueueStats?> GetStatsAsync(CancellationToken cancellationToken = default);
}

/// <summary>The <see cref="IQuotaQueue"/> over the queue's grain.</summary>
internal sealed class QuotaQueue(IGrainFactory grains, string name, TimeSpan? answerTimeout) : IQuotaQueue
{
    // Resolved on use, not here: a client resolves grain types from the cluster's manifest, which it has only once
    // connected, and a worker takes its queue while the host is built.
    private IQueueGrain? _resolved;

    private IQueueGrain Grain => _resolved ??= grains.GetGrain<IQueueGrain>(name);

    public string Name => name;

    /// <summary>How long a call may go unanswered: its own wait plus the client's answer timeout (none without one).</summary>
    private TimeSpan? Deadline(long waitMs = 0) => answerTimeout is { } timeout ? TimeSpan.FromMilliseconds(waitMs) + timeout : null;

    public Task<EnqueueAnswer> EnqueueAsync(IReadOnlyList<QueueItemInput> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentOutOfRangeException.ThrowIfZero(items.Count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(items.Count, QueueRules.MaxBatch);
        return QuotaClient.Guarded(() => Grain.EnqueueAsync([.. items]).WaitAsync(cancellationToken), Deadline(), cancellationToken);
    }

    public Task<LeaseAnswer> LeaseAsync(string worker, int max = 1, TimeSpan wait = default, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(worker);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(max, QueueRules.MaxLease);
        var waitMs = (long)wait.TotalMilliseconds;
        ArgumentOutOfRangeException.ThrowIfNegative(waitMs, nameof(wait));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(waitMs, QueueRules.MaxLeaseWaitMs, nameof(wait));

        // A refusal means the lease was not processed (Guarded retries only those), so nothing was handed out by it.
        return QuotaClient.Guarded(() => Grain.LeaseAsync(worker, max, waitMs).WaitAsync(cancellationToken), Deadline(waitMs), cancellationToken);
    }

    public Task<QueueOutcome> AckAsync(string leaseId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(leaseId);
        return QuotaClient.Guarded(() => Grain.AckAsync(leaseId).WaitAsync(cancellationToken), Deadline(), cancellationToken);
    }

    public Task<NackAnswer> NackAsync(NackRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return QuotaClient.Guarded(() => Grain.NackAsync(request).WaitAsync(cancellationToken), Deadline(), cancellationToken);
    }

    public Task<QueueStats?> GetStatsAsync(CancellationToken cancellationToken = default) =>
        QuotaClient.Guarded(() => Grain.GetStatsAsync().WaitAsync(cancellationToken), Deadline(), cancellationToken);
}
