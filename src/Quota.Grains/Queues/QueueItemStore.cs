using Quota.Abstractions;

namespace Quota.Grains.Queues;

/// <summary>Where an item's row stands: waiting (ready or delayed), leased, or dead.</summary>
public enum StoredItemState : short
{
    /// <summary>Waiting for hand-out at or after its available time.</summary>
    Waiting = 0,

    /// <summary>Handed out under a lease.</summary>
    Leased = 1,

    /// <summary>Dead-lettered.</summary>
    Dead = 2,
}

/// <summary>One queue item as a row: everything needed to rebuild it after the queue grain moves or its silo dies.</summary>
public sealed record StoredItem
{
    /// <summary>The item's id.</summary>
    public required string Id { get; init; }

    /// <summary>Enqueue order within the queue.</summary>
    public required long Sequence { get; init; }

    /// <summary>The payload's JSON text.</summary>
    public required string Payload { get; init; }

    /// <summary>The attributes.</summary>
    public required IReadOnlyDictionary<string, string> Attributes { get; init; }

    /// <summary>The priority.</summary>
    public required Priority Priority { get; init; }

    /// <summary>When it was enqueued.</summary>
    public required DateTimeOffset EnqueuedAt { get; init; }

    /// <summary>Not handed out before this.</summary>
    public required DateTimeOffset AvailableAt { get; init; }

    /// <summary>The caller's deadline.</summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>Attempts made.</summary>
    public int Attempts { get; init; }

    /// <summary>Waiting, leased or dead.</summary>
    public StoredItemState State { get; init; }

    /// <summary>The lease id while leased.</summary>
    public string? LeaseId { get; init; }

    /// <summary>When it was leased.</summary>
    public DateTimeOffset? LeasedAt { get; init; }

    /// <summary>When the lease expires.</summary>
    public DateTimeOffset? VisibleUntil { get; init; }

    /// <summary>The token the lease's decision chose (never its secret).</summary>
    public UpstreamToken? Token { get; init; }

    /// <summary>The last error reported.</summary>
    public string? LastError { get; init; }

    /// <summary>The last upstream status reported.</summary>
    public int? LastStatus { get; init; }

    /// <summary>When it was dead-lettered.</summary>
    public DateTimeOffset? DiedAt { get; init; }
}

/// <summary>
/// Queue items as rows, one per item (PostgreSQL: <c>quota_queue_items</c>). Every write is awaited before the queue
/// answers, so an acknowledged enqueue is stored. The embedded default keeps items only in the queue grain's memory
/// (<see cref="MemoryQueueItemStore"/>).
/// </summary>
public interface IQueueItemStore
{
    /// <summary>Whether rows outlive the queue grain; false: items live in its memory only.</summary>
    bool Durable { get; }

    /// <summary>Every row of <paramref name="queue"/>.</summary>
    Task<IReadOnlyList<StoredItem>> LoadAsync(string queue, CancellationToken cancellationToken = default);

    /// <summary>Inserts new items; an id already stored is left as it is (enqueue is idempotent by id).</summary>
    Task InsertAsync(string queue, IReadOnlyList<StoredItem> items, CancellationToken cancellationToken = default);

    /// <summary>Writes the current state of items already stored (a lease, a failure, a dead letter, a requeue).</summary>
    Task SaveAsync(string queue, IReadOnlyList<StoredItem> items, CancellationToken cancellationToken = default);

    /// <summary>Deletes items (acknowledged or purged).</summary>
    Task DeleteAsync(string queue, IReadOnlyList<string> ids, CancellationToken cancellationToken = default);

    /// <summary>Deletes every item of a removed queue.</summary>
    Task DeleteQueueAsync(string queue, CancellationToken cancellationToken = default);
}

/// <summary>The embedded default: nothing is written; items live in the queue grain's memory and go with it.</summary>
public sealed class MemoryQueueItemStore : IQueueItemStore
{
    /// <inheritdoc />
    public bool Durable => false;

    /// <inheritdoc />
    public Task<IReadOnlyList<StoredItem>> LoadAsync(string queue, CancellationToken cancellationToken = default) => Task.FromResult<IReadOnlyList<StoredItem>>([]);

    /// <inheritdoc />
    public Task InsertAsync(string queue, IReadOnlyList<StoredItem> items, CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <inheritdoc />
    public Task SaveAsync(string queue, IReadOnlyList<StoredItem> items, CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <inheritdoc />
    public Task DeleteAsync(string queue, IReadOnlyList<string> ids, CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <inheritdoc />
    public Task DeleteQueueAsync(string queue, CancellationToken cancellationToken = default) => Task.CompletedTask;
}
