using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
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

/// <summary>A queue's definition as <c>GET|PUT /v1/admin/queues/{name}</c> answer it: the body's shape with every default filled in.</summary>
/// <param name="Name">The queue's name.</param>
/// <param name="Dispatch">The decision each item needs before it is handed out (strings may name item attributes in braces).</param>
/// <param name="MaxAttempts">Attempts before an item is dead-lettered.</param>
/// <param name="Backoff">The retry backoff's first and largest cap.</param>
/// <param name="VisibilityTimeout">How long a lease lasts without an ack or nack.</param>
/// <param name="MaxPayloadBytes">The largest payload an item may carry.</param>
/// <param name="MaxItems">The most items the queue holds.</param>
/// <param name="ProcessingTime">The declared time one item takes (until one is measured).</param>
/// <param name="MaxWorkers">The most workers worth running.</param>
public sealed record QueueDefinitionView(
    string Name, QueueDispatchView Dispatch, int MaxAttempts, BackoffView Backoff, TimeSpan VisibilityTimeout, int MaxPayloadBytes, int MaxItems,
    TimeSpan ProcessingTime, int MaxWorkers);

/// <summary>A queue's dispatch rule.</summary>
/// <param name="User">User id.</param>
/// <param name="Tenant">Tenant id.</param>
/// <param name="Upstream">Upstream name.</param>
/// <param name="Resources">Resource names.</param>
/// <param name="Cost">Permits per item.</param>
public sealed record QueueDispatchView(string? User, string? Tenant, string? Upstream, string[]? Resources, long Cost);

/// <summary>Exponential backoff with full jitter.</summary>
/// <param name="Base">The first cap.</param>
/// <param name="Max">The largest cap.</param>
public sealed record BackoffView(TimeSpan Base, TimeSpan Max);

/// <summary>The answer of <c>POST /v1/queues/{name}/items</c>.</summary>
/// <param name="Ids">The items' ids, in input order.</param>
/// <param name="Created">How many were new (the others repeated an id the queue already holds).</param>
internal sealed record EnqueuedView(string[] Ids, int Created);

/// <summary>The answer of <c>POST /v1/queues/{name}/lease</c>.</summary>
/// <param name="Items">The items handed out (none when nothing could be admitted in the wait).</param>
/// <param name="RetryAfterMs">When nothing was handed out because the dispatch's limits denied: when to ask again; else 0.</param>
internal sealed record LeasedView(LeasedItemView[] Items, long RetryAfterMs);

/// <summary>An item handed to a worker.</summary>
/// <param name="LeaseId">What the worker acks or nacks with.</param>
/// <param name="Id">The item's id.</param>
/// <param name="Payload">The item's payload, as enqueued.</param>
/// <param name="Attributes">The item's attributes.</param>
/// <param name="Priority">critical, high, normal or low.</param>
/// <param name="Attempt">This attempt's number, from 1.</param>
/// <param name="Token">The upstream token the dispatch chose (never its secret), when the rule names an upstream.</param>
/// <param name="VisibleForMs">How long the lease lasts without an ack or nack.</param>
/// <param name="Deadline">The item's deadline, if it has one.</param>
internal sealed record LeasedItemView(
    string LeaseId, string Id, JsonNode? Payload, Dictionary<string, string> Attributes, string Priority, int Attempt, LeasedTokenView? Token,
    long VisibleForMs, DateTimeOffset? Deadline)
{
    /// <summary>The view of <paramref name="item"/>.</summary>
    public static LeasedItemView Of(LeasedItem item) => new(
        item.LeaseId, item.Id, JsonNode.Parse(item.Payload), item.Attributes, PriorityName(item.Priority), item.Attempt,
        item.Token is { } t ? new LeasedTokenView(t.Id, t.Upstream) : null, item.VisibleForMs, item.Deadline);

    /// <summary>A priority as the API writes it.</summary>
    public static string PriorityName(Priority priority) => priority.ToString().ToLowerInvariant();
}

/// <summary>The upstream token an item's dispatch chose.</summary>
/// <param name="Id">The token's id.</param>
/// <param name="Upstream">Its upstream.</param>
internal sealed record LeasedTokenView(string Id, string Upstream);

/// <summary>The answer of <c>POST /v1/queues/{name}/ack</c>.</summary>
/// <param name="LeaseId">The lease acked.</param>
/// <param name="Acked">Always true: the item is gone.</param>
internal sealed record AckedView(string LeaseId, bool Acked);

/// <summary>The answer of <c>POST /v1/queues/{name}/nack</c>.</summary>
/// <param name="LeaseId">The lease nacked.</param>
/// <param name="Dead">Whether that was the last attempt and the item is dead-lettered.</param>
/// <param name="RetryAfterMs">When it is not dead: the backoff before its next attempt.</param>
internal sealed record NackedView(string LeaseId, bool Dead, long RetryAfterMs);

/// <summary>The answer of <c>GET /v1/queues/{name}/dead</c>: dead items, oldest first.</summary>
/// <param name="Items">The dead items.</param>
internal sealed record DeadListView(DeadItemView[] Items);

/// <summary>A dead-lettered item.</summary>
/// <param name="Id">The item's id.</param>
/// <param name="Payload">Its payload.</param>
/// <param name="Priority">critical, high, normal or low.</param>
/// <param name="Attempts">Attempts made.</param>
/// <param name="Error">The last nack's error, if any.</param>
/// <param name="UpstreamStatus">The last nack's upstream status, if any.</param>
/// <param name="DiedAt">When it was dead-lettered.</param>
internal sealed record DeadItemView(string Id, JsonNode? Payload, string Priority, int Attempts, string? Error, int? UpstreamStatus, DateTimeOffset DiedAt);

/// <summary>The answer of <c>POST /v1/queues/{name}/dead</c>: how many items were requeued, or purged (only that one is written).</summary>
/// <param name="Requeued">Items put back (a requeue).</param>
/// <param name="Purged">Items deleted (a purge).</param>
internal sealed record DeadActionView(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Requeued,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Purged);

/// <summary>The answer of <c>POST /v1/plan</c> (see <c>WorkPlan</c>).</summary>
/// <param name="Feasible">Whether the items finish by the deadline (true without one).</param>
/// <param name="FinishTime">When they finish at best.</param>
/// <param name="FinishMs">The same in milliseconds.</param>
/// <param name="Workers">Workers to run.</param>
/// <param name="WorkersForDeadline">Workers whose processing alone meets the deadline; null without a deadline or when no number can.</param>
/// <param name="WorkersUsable">Workers the limits can keep busy; null when no rate applies.</param>
/// <param name="LimitedBy"><c>rate</c> when the limits decide the finish, <c>workers</c> when processing does, <c>none</c> for no items.</param>
/// <param name="RatePerMinute">The rate planned with, items a minute; null when no windowed limit applies.</param>
internal sealed record PlanView(
    bool Feasible, TimeSpan FinishTime, long FinishMs, int Workers, int? WorkersForDeadline, int? WorkersUsable, string LimitedBy, double? RatePerMinute);
