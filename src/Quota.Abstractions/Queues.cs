namespace Quota.Abstractions;

/// <summary>
/// The decision each item of a queue needs before it may run: an acquire body whose strings may name the item's
/// attributes in braces (<c>telegram:chat:{chat}</c>). Rendered per item with <see cref="QueueRules.Render"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("quota.QueueDispatch")]
public sealed record QueueDispatch
{
    /// <summary>User id (may name attributes).</summary>
    [Id(0)] public string? User { get; init; }

    /// <summary>Tenant id (may name attributes): its reserve and lease apply and a token is chosen.</summary>
    [Id(1)] public string? Tenant { get; init; }

    /// <summary>Upstream name (may name attributes): a token of it is chosen and handed out with the item.</summary>
    [Id(2)] public string? Upstream { get; init; }

    /// <summary>Resource names (each may name attributes).</summary>
    [Id(3)] public string[]? Resources { get; init; }

    /// <summary>Permits each item takes. Default: 1.</summary>
    [Id(4)] public long Cost { get; init; } = 1;
}

/// <summary>
/// A queue's definition. Bounds are in <see cref="QueueRules"/>; a definition that passed
/// <see cref="QueueRules.Validate(QueueDefinition)"/> is what the queue grain stores and trusts.
/// </summary>
[GenerateSerializer, Immutable, Alias("quota.QueueDefinition")]
public sealed record QueueDefinition
{
    /// <summary>The decision each item needs at hand-out.</summary>
    [Id(0)] public required QueueDispatch Dispatch { get; init; }

    /// <summary>Attempts before an item is dead-lettered. Default: 5.</summary>
    [Id(1)] public int MaxAttempts { get; init; } = 5;

    /// <summary>The first retry's backoff cap (full jitter: a retry waits a uniform time up to the cap). Default: 1 second.</summary>
    [Id(2)] public TimeSpan BackoffBase { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The largest backoff cap; the cap doubles per attempt up to it. Default: 1 minute.</summary>
    [Id(3)] public TimeSpan BackoffMax { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a lease stays valid without an ack or nack before the item returns. Default: 30 seconds.</summary>
    [Id(4)] public TimeSpan VisibilityTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The largest payload, in UTF-8 bytes of its JSON. Default: 65,536.</summary>
    [Id(5)] public int MaxPayloadBytes { get; init; } = 65_536;

    /// <summary>The most items the queue holds (queued, retrying, in flight and dead). Default: 10,000.</summary>
    [Id(6)] public int MaxItems { get; init; } = 10_000;

    /// <summary>The time one item takes to process when none has been measured yet, for planning. Default: 1 second.</summary>
    [Id(7)] public TimeSpan ProcessingTime { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The most workers the queue recommends running. Default: 10.</summary>
    [Id(8)] public int MaxWorkers { get; init; } = 10;
}

/// <summary>One item to enqueue; validated at the edge except for what only the queue knows (payload size, dispatch).</summary>
[GenerateSerializer, Immutable, Alias("quota.QueueItemInput")]
public sealed record QueueItemInput
{
    /// <summary>The caller's id, making the enqueue idempotent; null to have one generated.</summary>
    [Id(0)] public string? Id { get; init; }

    /// <summary>The payload as JSON text, kept and handed out as it came.</summary>
    [Id(1)] public string Payload { get; init; } = "null";

    /// <summary>Attributes the dispatch may name, e.g. <c>chat</c>.</summary>
    [Id(2)] public Dictionary<string, string>? Attributes { get; init; }

    /// <summary>Order of hand-out: higher priorities first, then older items. Default: normal.</summary>
    [Id(3)] public Priority Priority { get; init; } = Priority.Normal;

    /// <summary>Not handed out before this time.</summary>
    [Id(4)] public DateTimeOffset? NotBefore { get; init; }

    /// <summary>The time the caller wants it done by; counted in the queue's statistics, never enforced.</summary>
    [Id(5)] public DateTimeOffset? Deadline { get; init; }
}

/// <summary>What a queue call came to, besides its answer.</summary>
[GenerateSerializer, Alias("quota.QueueOutcome")]
public enum QueueOutcome
{
    /// <summary>Done.</summary>
    Done = 0,

    /// <summary>No queue of this name is defined.</summary>
    UnknownQueue = 1,

    /// <summary>The input breaks a rule of the queue; see the problems.</summary>
    Invalid = 2,

    /// <summary>The queue holds its <see cref="QueueDefinition.MaxItems"/>; nothing was enqueued.</summary>
    Full = 3,

    /// <summary>The lease id names no item leased now (acked, nacked, expired, or never issued).</summary>
    UnknownLease = 4,
}

/// <summary>The answer to an enqueue: the ids in input order (new or, for a repeated id, the existing item's).</summary>
[GenerateSerializer, Immutable, Alias("quota.EnqueueAnswer")]
public sealed record EnqueueAnswer
{
    /// <summary>What happened; all or nothing: on anything but <see cref="QueueOutcome.Done"/> nothing was enqueued.</summary>
    [Id(0)] public QueueOutcome Outcome { get; init; }

    /// <summary>Every problem, each naming its field (<c>items[2].payload</c>).</summary>
    [Id(1)] public FieldProblem[] Problems { get; init; } = [];

    /// <summary>The items' ids, in input order.</summary>
    [Id(2)] public string[] Ids { get; init; } = [];

    /// <summary>How many were new (the others repeated an id already held).</summary>
    [Id(3)] public int Created { get; init; }
}

/// <summary>An item handed to a worker.</summary>
[GenerateSerializer, Immutable, Alias("quota.LeasedItem")]
public sealed record LeasedItem
{
    /// <summary>Names this hand-out for ack and nack; valid until the visibility timeout.</summary>
    [Id(0)] public required string LeaseId { get; init; }

    /// <summary>The item's id.</summary>
    [Id(1)] public required string Id { get; init; }

    /// <summary>The payload as JSON text.</summary>
    [Id(2)] public required string Payload { get; init; }

    /// <summary>The item's attributes.</summary>
    [Id(3)] public Dictionary<string, string> Attributes { get; init; } = [];

    /// <summary>The item's priority.</summary>
    [Id(4)] public Priority Priority { get; init; }

    /// <summary>This attempt's number, from 1.</summary>
    [Id(5)] public int Attempt { get; init; }

    /// <summary>The token chosen by the decision when the dispatch names an upstream or a tenant (never its secret).</summary>
    [Id(6)] public UpstreamToken? Token { get; init; }

    /// <summary>Milliseconds until the lease expires and the item returns.</summary>
    [Id(7)] public long VisibleForMs { get; init; }

    /// <summary>The item's deadline, if it has one.</summary>
    [Id(8)] public DateTimeOffset? Deadline { get; init; }
}

/// <summary>The answer to a lease.</summary>
[GenerateSerializer, Immutable, Alias("quota.LeaseAnswer")]
public sealed record LeaseAnswer
{
    /// <summary>Done or <see cref="QueueOutcome.UnknownQueue"/>.</summary>
    [Id(0)] public QueueOutcome Outcome { get; init; }

    /// <summary>The items handed out, at most the number asked for; possibly none.</summary>
    [Id(1)] public LeasedItem[] Items { get; init; } = [];

    /// <summary>
    /// When nothing was handed out: milliseconds until an item would next be ready or admitted, as far as the queue
    /// knows (0 when the queue is empty or it cannot say).
    /// </summary>
    [Id(2)] public long RetryAfterMs { get; init; }
}

/// <summary>A worker's report that an item failed.</summary>
[GenerateSerializer, Immutable, Alias("quota.NackRequest")]
public sealed record NackRequest
{
    /// <summary>The lease id of the hand-out.</summary>
    [Id(0)] public required string LeaseId { get; init; }

    /// <summary>What went wrong, kept with the item (at most <see cref="QueueRules.MaxErrorLength"/> characters).</summary>
    [Id(1)] public string? Error { get; init; }

    /// <summary>The upstream's HTTP status, when one answered; reported to the token's feedback.</summary>
    [Id(2)] public int? UpstreamStatus { get; init; }

    /// <summary>The upstream's Retry-After in milliseconds: the retry waits at least this long.</summary>
    [Id(3)] public long? RetryAfterMs { get; init; }
}

/// <summary>What a nack did.</summary>
[GenerateSerializer, Immutable, Alias("quota.NackAnswer")]
public sealed record NackAnswer
{
    /// <summary>Done or <see cref="QueueOutcome.UnknownLease"/> / <see cref="QueueOutcome.UnknownQueue"/>.</summary>
    [Id(0)] public QueueOutcome Outcome { get; init; }

    /// <summary>True when the item was dead-lettered (its last attempt failed).</summary>
    [Id(1)] public bool Dead { get; init; }

    /// <summary>Milliseconds until the retry may be handed out (0 when dead).</summary>
    [Id(2)] public long RetryAfterMs { get; init; }
}

/// <summary>A dead-lettered item.</summary>
[GenerateSerializer, Immutable, Alias("quota.DeadItem")]
public sealed record DeadItem
{
    /// <summary>The item's id.</summary>
    [Id(0)] public required string Id { get; init; }

    /// <summary>The payload as JSON text.</summary>
    [Id(1)] public required string Payload { get; init; }

    /// <summary>Attempts made.</summary>
    [Id(2)] public int Attempts { get; init; }

    /// <summary>The last error reported.</summary>
    [Id(3)] public string? Error { get; init; }

    /// <summary>The last upstream status reported.</summary>
    [Id(4)] public int? UpstreamStatus { get; init; }

    /// <summary>When it was dead-lettered.</summary>
    [Id(5)] public DateTimeOffset DiedAt { get; init; }

    /// <summary>The item's priority.</summary>
    [Id(6)] public Priority Priority { get; init; }
}

/// <summary>A queue's statistics at one moment.</summary>
[GenerateSerializer, Immutable, Alias("quota.QueueStats")]
public sealed record QueueStats
{
    /// <summary>Items waiting for hand-out (not retrying), by priority name.</summary>
    [Id(0)] public Dictionary<string, int> Depth { get; init; } = [];

    /// <summary>Items leased now.</summary>
    [Id(1)] public int InFlight { get; init; }

    /// <summary>Items waiting out a backoff before their next attempt.</summary>
    [Id(2)] public int Retrying { get; init; }

    /// <summary>Dead-lettered items.</summary>
    [Id(3)] public int Dead { get; init; }

    /// <summary>Milliseconds since the oldest item not yet done (queued, retrying or in flight) was enqueued; 0 when none.</summary>
    [Id(4)] public long OldestAgeMs { get; init; }

    /// <summary>Items handed out in the last minute.</summary>
    [Id(5)] public int AdmittedPerMinute { get; init; }

    /// <summary>Items per minute the dispatch's limits allow at their steady rate; null when no windowed limit applies.</summary>
    [Id(6)] public double? AllowedPerMinute { get; init; }

    /// <summary>Milliseconds to drain what is left at the steady rate with the desired workers; null when unknown.</summary>
    [Id(7)] public long? DrainTimeMs { get; init; }

    /// <summary>Items with a deadline that is expected to be met at the steady rate.</summary>
    [Id(8)] public int DeadlinesMet { get; init; }

    /// <summary>Items with a deadline that is expected to be missed (or already was).</summary>
    [Id(9)] public int DeadlinesMissed { get; init; }

    /// <summary>Workers worth running now: what the limits can use, capped by the definition's maximum; 0 when idle.</summary>
    [Id(10)] public int DesiredWorkers { get; init; }

    /// <summary>Leases that expired without an ack or nack (their items returned), since the queue was activated.</summary>
    [Id(11)] public long Expired { get; init; }

    /// <summary>Items acknowledged since the queue was activated.</summary>
    [Id(12)] public long Acked { get; init; }

    /// <summary>The processing time planned with: measured from leases to acks, else the definition's.</summary>
    [Id(13)] public TimeSpan ProcessingTime { get; init; }
}

/// <summary>
/// One queue of work paced by Quota's decisions, keyed by its name. Items are handed out only when their dispatch
/// decision admits them (the permit is taken at hand-out), in priority order then age. Delivery is at least once: a
/// lease not acked within the visibility timeout returns its item.
/// </summary>
[Alias("quota.IQueueGrain")]
public interface IQueueGrain : IGrainWithStringKey
{
    /// <summary>Creates or replaces the definition (items stay); answers it as stored.</summary>
    [Alias("Define")]
    Task<QueueDefinition> DefineAsync(QueueDefinition definition);

    /// <summary>The definition; null when the queue is not defined.</summary>
    [Alias("GetDefinition")]
    Task<QueueDefinition?> GetDefinitionAsync();

    /// <summary>Removes the definition and every item; false when it was not defined.</summary>
    [Alias("Remove")]
    Task<bool> RemoveAsync();

    /// <summary>Enqueues items, all or nothing; a repeated id answers the existing item and adds nothing.</summary>
    [Alias("Enqueue")]
    Task<EnqueueAnswer> EnqueueAsync([Immutable] QueueItemInput[] items);

    /// <summary>
    /// Hands out up to <paramref name="max"/> items whose decisions admit them now; with <paramref name="waitMs"/>,
    /// waits up to that long for at least one.
    /// </summary>
    [Alias("Lease")]
    Task<LeaseAnswer> LeaseAsync(string worker, int max, long waitMs);

    /// <summary>Acknowledges a hand-out: the item is done and removed.</summary>
    [Alias("Ack")]
    Task<QueueOutcome> AckAsync(string leaseId);

    /// <summary>Reports a hand-out failed: retried after the backoff, or dead-lettered after the last attempt.</summary>
    [Alias("Nack")]
    Task<NackAnswer> NackAsync([Immutable] NackRequest request);

    /// <summary>The statistics now; null when the queue is not defined.</summary>
    [Alias("GetStats")]
    Task<QueueStats?> GetStatsAsync();

    /// <summary>Dead-lettered items, oldest first, at most <paramref name="limit"/>; null when the queue is not defined.</summary>
    [Alias("ListDead")]
    Task<DeadItem[]?> ListDeadAsync(int limit);

    /// <summary>Puts dead items (all when <paramref name="ids"/> is null) back with fresh attempts; answers how many; -1 when not defined.</summary>
    [Alias("Requeue")]
    Task<int> RequeueAsync([Immutable] string[]? ids);

    /// <summary>Deletes dead items (all when <paramref name="ids"/> is null); answers how many; -1 when not defined.</summary>
    [Alias("Purge")]
    Task<int> PurgeAsync([Immutable] string[]? ids);
}
