using Quota.Abstractions;

namespace Quota.Grains.Queues;

/// <summary>
/// A queue's items in memory: the ready set in hand-out order (priority, then age), the delayed set by the time each
/// becomes ready, leases by id and by expiry, and dead letters. Takes the time as an argument; knows nothing of
/// decisions (the grain asks them) or of Orleans.
/// </summary>
internal sealed class QueueBook
{
    private static readonly Comparer<QueueItem> HandOutOrder = Comparer<QueueItem>.Create((a, b) =>
        a.Priority != b.Priority ? b.Priority.CompareTo(a.Priority) : a.Sequence.CompareTo(b.Sequence));

    private static readonly Comparer<QueueItem> AvailableOrder = Comparer<QueueItem>.Create((a, b) =>
        a.AvailableAt != b.AvailableAt ? a.AvailableAt.CompareTo(b.AvailableAt) : a.Sequence.CompareTo(b.Sequence));

    private static readonly Comparer<QueueItem> ExpiryOrder = Comparer<QueueItem>.Create((a, b) =>
        a.VisibleUntil != b.VisibleUntil ? a.VisibleUntil.CompareTo(b.VisibleUntil) : a.Sequence.CompareTo(b.Sequence));

    private static readonly Comparer<QueueItem> SequenceOrder = Comparer<QueueItem>.Create((a, b) => a.Sequence.CompareTo(b.Sequence));

    private static readonly int PriorityCount = Enum.GetValues<Priority>().Length;

    private readonly Dictionary<string, QueueItem> _items = new(StringComparer.Ordinal);
    private readonly SortedSet<QueueItem> _ready = new(HandOutOrder);
    private readonly SortedSet<QueueItem> _delayed = new(AvailableOrder);
    private readonly SortedSet<QueueItem> _expiries = new(ExpiryOrder);
    private readonly Dictionary<string, QueueItem> _leases = new(StringComparer.Ordinal);
    private readonly SortedSet<QueueItem> _dead = new(SequenceOrder);
    private readonly Queue<DateTimeOffset> _handOuts = new();
    private readonly Queue<TimeSpan> _processing = new();
    private TimeSpan _processingSum;
    private long _sequence;

    /// <summary>Every item held, dead ones included.</summary>
    public int Count => _items.Count;

    /// <summary>Leases that expired without an ack or nack.</summary>
    public long Expired { get; private set; }

    /// <summary>Items acknowledged.</summary>
    public long Acked { get; private set; }

    /// <summary>The item with this id, or null.</summary>
    public QueueItem? Find(string id) => _items.GetValueOrDefault(id);

    /// <summary>Adds an item, ready at once or at its not-before time.</summary>
    public QueueItem Add(string id, QueueItemInput input, ValidatedAcquire request, DateTimeOffset now)
    {
        var item = new QueueItem
        {
            Id = id,
            Sequence = ++_sequence,
            Payload = input.Payload,
            Attributes = input.Attributes is null ? [] : new(input.Attributes, StringComparer.Ordinal),
            Priority = input.Priority,
            EnqueuedAt = now,
            Deadline = input.Deadline,
            Request = request,
            DispatchKey = KeyOf(request.Request),
            AvailableAt = input.NotBefore is { } notBefore && notBefore > now ? notBefore : now,
        };
        _items[id] = item;
        Schedule(item, now);
        return item;
    }

    /// <summary>
    /// Puts back an item read from storage as it was stored: waiting (ready or delayed by its available time), leased
    /// (under its lease id until its visibility ends) or dead. The sequence continues after the largest restored.
    /// </summary>
    public QueueItem Restore(StoredItem stored, ValidatedAcquire request, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var item = new QueueItem
        {
            Id = stored.Id,
            Sequence = stored.Sequence,
            Payload = stored.Payload,
            Attributes = new(stored.Attributes, StringComparer.Ordinal),
            Priority = stored.Priority,
            EnqueuedAt = stored.EnqueuedAt,
            Deadline = stored.Deadline,
            Request = request,
            DispatchKey = KeyOf(request.Request),
            AvailableAt = stored.AvailableAt,
            Attempts = stored.Attempts,
            LastError = stored.LastError,
            LastStatus = stored.LastStatus,
        };
        _sequence = Math.Max(_sequence, stored.Sequence);
        _items[item.Id] = item;
        switch (stored.State)
        {
            case StoredItemState.Leased when stored.LeaseId is { } leaseId:
                item.State = ItemState.Leased;
                item.LeaseId = leaseId;
                item.LeasedAt = stored.LeasedAt ?? now;
                item.VisibleUntil = stored.VisibleUntil ?? now;
                item.Token = stored.Token;
                _leases[leaseId] = item;
                _expiries.Add(item);
                break;
            case StoredItemState.Dead:
                Kill(item, stored.DiedAt ?? now);
                break;
            default:
                Schedule(item, now);
                break;
        }

        return item;
    }

    /// <summary>
    /// Restores every stored row (<see cref="Restore"/>), each rendered again with <paramref name="definition"/>'s dispatch:
    /// a definition changed since the enqueue applies to the item. Answers the rows left out because their dispatch no
    /// longer renders, with why.
    /// </summary>
    public List<(string Id, string Problems)> RestoreAll(IEnumerable<StoredItem> rows, QueueDefinition definition, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(definition);
        var left = new List<(string Id, string Problems)>();
        foreach (var stored in rows)
        {
            if (QueueRules.Render(definition.Dispatch, stored.Attributes, stored.Priority, out var problems) is { } request
                && RequestRules.TryValidate(request, null, out var validated, out _))
            {
                Restore(stored, validated, now);
            }
            else
            {
                left.Add((stored.Id, string.Join("; ", problems)));
            }
        }

        return left;
    }

    /// <summary>An item as its row stores it.</summary>
    public static StoredItem ToStored(QueueItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var leased = item.State == ItemState.Leased;
        return new StoredItem
        {
            Id = item.Id,
            Sequence = item.Sequence,
            Payload = item.Payload,
            Attributes = item.Attributes,
            Priority = item.Priority,
            EnqueuedAt = item.EnqueuedAt,
            AvailableAt = item.AvailableAt,
            Deadline = item.Deadline,
            Attempts = item.Attempts,
            State = item.State switch { ItemState.Leased => StoredItemState.Leased, ItemState.Dead => StoredItemState.Dead, _ => StoredItemState.Waiting },
            LeaseId = leased ? item.LeaseId : null,
            LeasedAt = leased ? item.LeasedAt : null,
            VisibleUntil = leased ? item.VisibleUntil : null,
            Token = leased ? item.Token : null,
            LastError = item.LastError,
            LastStatus = item.LastStatus,
            DiedAt = item.State == ItemState.Dead ? item.DiedAt : null,
        };
    }

    /// <summary>
    /// Brings the book up to <paramref name="now"/>: due delayed items become ready; expired leases return their items
    /// (an expiry counts as the attempt it was), or dead-letter them after <paramref name="maxAttempts"/>. Answers the
    /// items whose stored state changed (the expired ones).
    /// </summary>
    public List<QueueItem> Advance(DateTimeOffset now, int maxAttempts)
    {
        var changed = new List<QueueItem>();
        while (_delayed.Min is { } due && due.AvailableAt <= now)
        {
            _delayed.Remove(due);
            due.State = ItemState.Ready;
            _ready.Add(due);
        }

        while (_expiries.Min is { } expired && expired.VisibleUntil <= now)
        {
            EndLease(expired);
            changed.Add(expired);
            Expired++;
            expired.LastError = "the lease expired (visibility timeout) without an ack or nack";
            if (expired.Attempts >= maxAttempts)
            {
                Kill(expired, now);
            }
            else
            {
                expired.AvailableAt = now;
                Schedule(expired, now);
            }
        }

        return changed;
    }

    /// <summary>Up to <paramref name="limit"/> ready items in hand-out order (a copy: the grain awaits between them).</summary>
    public List<QueueItem> ReadyInOrder(int limit) => [.. _ready.Take(limit)];

    /// <summary>Ready items in hand-out order.</summary>
    public IEnumerable<QueueItem> Ready => _ready;

    /// <summary>Takes a ready item out of the ready set while its decision is asked.</summary>
    public bool BeginDispatch(QueueItem item)
    {
        if (item.State != ItemState.Ready || !_ready.Remove(item))
        {
            return false;
        }

        item.State = ItemState.Dispatching;
        return true;
    }

    /// <summary>Puts an item whose decision denied it back where it was in the order.</summary>
    public void Return(QueueItem item)
    {
        if (item.State == ItemState.Dispatching)
        {
            item.State = ItemState.Ready;
            _ready.Add(item);
        }
    }

    /// <summary>Hands a dispatching item out: a new lease id, the attempt counted, visible again after <paramref name="visibility"/>.</summary>
    public QueueItem Lease(QueueItem item, DateTimeOffset now, UpstreamToken? token, TimeSpan visibility)
    {
        item.State = ItemState.Leased;
        item.Attempts++;
        item.LeaseId = Guid.NewGuid().ToString("N");
        item.LeasedAt = now;
        item.VisibleUntil = now + visibility;
        item.Token = token;
        _leases[item.LeaseId] = item;
        _expiries.Add(item);
        _handOuts.Enqueue(now);
        return item;
    }

    /// <summary>The leased item of <paramref name="leaseId"/>, or null.</summary>
    public QueueItem? Leased(string leaseId) => _leases.GetValueOrDefault(leaseId);

    /// <summary>Removes an acknowledged item; false when the lease is not held.</summary>
    public bool Ack(string leaseId, DateTimeOffset now)
    {
        if (!_leases.TryGetValue(leaseId, out var item))
        {
            return false;
        }

        EndLease(item);
        _items.Remove(item.Id);
        Acked++;
        var took = now - item.LeasedAt;
        _processing.Enqueue(took);
        _processingSum += took;
        if (_processing.Count > 64)
        {
            _processingSum -= _processing.Dequeue();
        }

        return true;
    }

    /// <summary>Schedules a failed item's retry after <paramref name="delay"/>, or dead-letters it when <paramref name="dead"/>.</summary>
    public void Fail(QueueItem item, DateTimeOffset now, string? error, int? status, bool dead, TimeSpan delay)
    {
        EndLease(item);
        item.LastError = error;
        item.LastStatus = status;
        if (dead)
        {
            Kill(item, now);
            return;
        }

        item.AvailableAt = now + delay;
        Schedule(item, now);
    }

    /// <summary>Dead-letters an item that can never be admitted (its dispatch names something unknown), from dispatching.</summary>
    public void KillDispatching(QueueItem item, DateTimeOffset now, string error)
    {
        item.LastError = error;
        Kill(item, now);
    }

    /// <summary>Drops an item just added whose row could not be written, so the failed enqueue leaves nothing behind.</summary>
    public void Forget(QueueItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        _ready.Remove(item);
        _delayed.Remove(item);
        if (item.LeaseId is not null)
        {
            EndLease(item);
        }

        _items.Remove(item.Id);
    }

    /// <summary>Dead items, oldest first.</summary>
    public IEnumerable<QueueItem> Dead => _dead;

    /// <summary>Puts a dead item back with its attempts reset; false when it is not dead.</summary>
    public bool Requeue(string id, DateTimeOffset now)
    {
        if (!_items.TryGetValue(id, out var item) || item.State != ItemState.Dead)
        {
            return false;
        }

        _dead.Remove(item);
        item.Attempts = 0;
        item.AvailableAt = now;
        Schedule(item, now);
        return true;
    }

    /// <summary>Deletes a dead item; false when it is not dead.</summary>
    public bool Purge(string id)
    {
        if (!_items.TryGetValue(id, out var item) || item.State != ItemState.Dead)
        {
            return false;
        }

        _dead.Remove(item);
        _items.Remove(id);
        return true;
    }

    /// <summary>The earliest time something changes by itself (an item ready, a lease expiring); null for none.</summary>
    public DateTimeOffset? NextChange()
    {
        var delayed = _delayed.Min?.AvailableAt;
        var expiry = _expiries.Min?.VisibleUntil;
        return delayed is null ? expiry : expiry is null || delayed < expiry ? delayed : expiry;
    }

    /// <summary>Items handed out in the minute up to <paramref name="now"/>.</summary>
    public int HandedOutInLastMinute(DateTimeOffset now)
    {
        while (_handOuts.TryPeek(out var at) && at <= now - TimeSpan.FromMinutes(1))
        {
            _handOuts.Dequeue();
        }

        return _handOuts.Count;
    }

    /// <summary>The mean time from hand-out to ack over the last 64 acks; null before the first.</summary>
    public TimeSpan? MeasuredProcessingTime => _processing.Count == 0 ? null : _processingSum / _processing.Count;

    /// <summary>
    /// The queue's counts: every statistic of the items (depth, retrying, in flight, dead, oldest) is counted here and
    /// nowhere else.
    /// </summary>
    public QueueCounts Counts()
    {
        var ready = new int[PriorityCount];
        var retrying = 0;
        var waiting = 0;
        DateTimeOffset? oldest = null;
        foreach (var item in _items.Values)
        {
            switch (item.State)
            {
                case ItemState.Ready or ItemState.Dispatching:
                    ready[(int)item.Priority]++;
                    break;
                case ItemState.Delayed when item.Attempts > 0:
                    retrying++;
                    break;
                case ItemState.Delayed:
                    waiting++;
                    break;
            }

            if (item.State != ItemState.Dead && (oldest is null || item.EnqueuedAt < oldest))
            {
                oldest = item.EnqueuedAt;
            }
        }

        return new QueueCounts(ready, retrying, waiting, _leases.Count, _dead.Count, oldest);
    }

    /// <summary>
    /// Places each ready item with a deadline at its position in hand-out order at the steady rate (the item at
    /// position p is admitted p / rate from <paramref name="now"/> and done <paramref name="processing"/> later) and
    /// counts whether it finishes by its deadline. Without a rate every item is placed at once.
    /// </summary>
    public (int Met, int Missed) Deadlines(DateTimeOffset now, double? perSecond, TimeSpan processing)
    {
        int met = 0, missed = 0, position = 0;
        foreach (var item in _ready)
        {
            position++;
            if (item.Deadline is { } deadline)
            {
                var done = now + TimeSpan.FromSeconds(perSecond is { } rate ? (position - 1) / rate : 0) + processing;
                _ = done <= deadline ? met++ : missed++;
            }
        }

        return (met, missed);
    }

    /// <summary>Drops every item.</summary>
    public void Clear()
    {
        _items.Clear();
        _ready.Clear();
        _delayed.Clear();
        _expiries.Clear();
        _leases.Clear();
        _dead.Clear();
    }

    private void Schedule(QueueItem item, DateTimeOffset now)
    {
        if (item.AvailableAt <= now)
        {
            item.State = ItemState.Ready;
            _ready.Add(item);
        }
        else
        {
            item.State = ItemState.Delayed;
            _delayed.Add(item);
        }
    }

    private void EndLease(QueueItem item)
    {
        _expiries.Remove(item);
        _leases.Remove(item.LeaseId!);
        item.LeaseId = null;
    }

    private void Kill(QueueItem item, DateTimeOffset now)
    {
        item.State = ItemState.Dead;
        item.DiedAt = now;
        _dead.Add(item);
    }

    private static string KeyOf(AcquireRequest request) =>
        string.Join('\n', request.User, request.Tenant, request.Upstream, string.Join('\n', request.Resources ?? []), request.Cost);
}


/// <summary>
/// A queue's items counted by state at one moment (<see cref="QueueBook.Counts"/>): ready by priority (indexed by the
/// priority's value), retrying (delayed after a failed attempt), waiting (delayed by a not-before time), in flight, dead,
/// and the oldest live item's enqueue time.
/// </summary>
internal readonly record struct QueueCounts(int[] Ready, int Retrying, int Waiting, int InFlight, int Dead, DateTimeOffset? Oldest)
{
    /// <summary>Items not yet done: ready, retrying, waiting and in flight (what a drain still has to process).</summary>
    public int Remaining => Ready.Sum() + Retrying + Waiting + InFlight;

    /// <summary>Ready items by priority name (critical, high, normal, low), every priority present.</summary>
    public Dictionary<string, int> Depth() => new()
    {
        ["critical"] = Ready[(int)Priority.Critical],
        ["high"] = Ready[(int)Priority.High],
        ["normal"] = Ready[(int)Priority.Normal],
        ["low"] = Ready[(int)Priority.Low],
    };
}
