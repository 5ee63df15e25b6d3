using Quota.Abstractions;

namespace Quota.Grains.Queues;

/// <summary>Where an item is in its life.</summary>
internal enum ItemState
{
    /// <summary>Waiting for hand-out now.</summary>
    Ready,

    /// <summary>Waiting for its not-before time or a retry's backoff.</summary>
    Delayed,

    /// <summary>Taken out of the ready set while its decision is asked.</summary>
    Dispatching,

    /// <summary>Handed to a worker.</summary>
    Leased,

    /// <summary>Dead-lettered.</summary>
    Dead,
}

/// <summary>One item and its bookkeeping.</summary>
internal sealed class QueueItem
{
    public required string Id { get; init; }

    public required long Sequence { get; init; }

    public required string Payload { get; init; }

    public required Dictionary<string, string> Attributes { get; init; }

    public required Priority Priority { get; init; }

    public required DateTimeOffset EnqueuedAt { get; init; }

    public DateTimeOffset? Deadline { get; init; }

    /// <summary>The rendered decision (validated at enqueue).</summary>
    public required ValidatedAcquire Request { get; init; }

    /// <summary>Items with the same key take the same decision: one denied, the others are not asked in the same round.</summary>
    public required string DispatchKey { get; init; }

    public ItemState State { get; set; }

    public DateTimeOffset AvailableAt { get; set; }

    public int Attempts { get; set; }

    public string? LeaseId { get; set; }

    public DateTimeOffset LeasedAt { get; set; }

    public DateTimeOffset VisibleUntil { get; set; }

    public UpstreamToken? Token { get; set; }

    public string? LastError { get; set; }

    public int? LastStatus { get; set; }

    public DateTimeOffset DiedAt { get; set; }

    /// <summary>The item as its lease hands it to a worker (the token without its secret: it was taken off at hand-out).</summary>
    public LeasedItem ToLeased(DateTimeOffset now) => new()
    {
        LeaseId = LeaseId!,
        Id = Id,
        Payload = Payload,
        Attributes = Attributes,
        Priority = Priority,
        Attempt = Attempts,
        Token = Token,
        VisibleForMs = (long)(VisibleUntil - now).TotalMilliseconds,
        Deadline = Deadline,
    };

    /// <summary>The item as the dead-letter list shows it.</summary>
    public DeadItem ToDead() => new()
    {
        Id = Id,
        Payload = Payload,
        Attempts = Attempts,
        Error = LastError,
        UpstreamStatus = LastStatus,
        DiedAt = DiedAt,
        Priority = Priority,
    };
}
