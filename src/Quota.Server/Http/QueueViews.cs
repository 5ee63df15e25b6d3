using Quota.Abstractions;

namespace Quota.Server.Http;

/// <summary>
/// A queue's statistics as <c>GET /v1/queues/{name}</c> answers them, and each entry of <c>GET /v1/queues</c>: one shape,
/// so the OpenAPI document types both and a client reads both alike.
/// </summary>
/// <param name="Name">The queue's name.</param>
/// <param name="Depth">Items waiting for hand-out, by priority (critical, high, normal, low; each present).</param>
/// <param name="InFlight">Items leased and not yet acked or nacked.</param>
/// <param name="Retrying">Items waiting out a backoff.</param>
/// <param name="Dead">Dead-lettered items.</param>
/// <param name="OldestAgeMs">Milliseconds since the oldest item not yet done was enqueued; 0 when none.</param>
/// <param name="AdmittedPerMinute">Items handed out in the last minute.</param>
/// <param name="AllowedPerMinute">Items a minute the dispatch's limits allow at their steady rate; null when no windowed limit applies.</param>
/// <param name="DrainTimeMs">Milliseconds to drain what is left with the desired workers; null when unknown.</param>
/// <param name="Deadlines">Items with a deadline expected to be met and missed.</param>
/// <param name="DesiredWorkers">Workers worth running now (the gauge <c>quota_queue_desired_workers</c>).</param>
/// <param name="Expired">Leases that expired without an ack or nack since the queue activated.</param>
/// <param name="Acked">Items acknowledged since the queue activated.</param>
/// <param name="ProcessingTime">The processing time planned with: measured, else the definition's.</param>
internal sealed record QueueStatsView(
    string Name,
    Dictionary<string, int> Depth,
    int InFlight,
    int Retrying,
    int Dead,
    long OldestAgeMs,
    int AdmittedPerMinute,
    double? AllowedPerMinute,
    long? DrainTimeMs,
    DeadlinesView Deadlines,
    int DesiredWorkers,
    long Expired,
    long Acked,
    TimeSpan ProcessingTime)
{
    /// <summary>The view of <paramref name="stats"/> for the queue <paramref name="name"/>.</summary>
    public static QueueStatsView Of(string name, QueueStats stats) => new(
        name, stats.Depth, stats.InFlight, stats.Retrying, stats.Dead, stats.OldestAgeMs, stats.AdmittedPerMinute, stats.AllowedPerMinute,
        stats.DrainTimeMs, new DeadlinesView(stats.DeadlinesMet, stats.DeadlinesMissed), stats.DesiredWorkers, stats.Expired, stats.Acked,
        stats.ProcessingTime);
}

/// <summary>Queued items with a deadline, by whether it is expected to be met at the steady rate.</summary>
/// <param name="Met">Expected to finish by their deadline.</param>
/// <param name="Missed">Expected to miss it (or already did).</param>
internal sealed record DeadlinesView(int Met, int Missed);

/// <summary>One page of <c>GET /v1/queues</c>.</summary>
/// <param name="Queues">The defined queues of this page in ordinal order of name, each with its statistics.</param>
/// <param name="Next">The name to pass as <c>after</c> for the next page; null when this is the last.</param>
internal sealed record QueueListView(QueueStatsView[] Queues, string? Next);
