using System.Collections.Concurrent;

namespace Quota.Grains.Storage;

/// <summary>Decisions at one subject in one UTC minute.</summary>
/// <param name="Subject">The subject's label, e.g. <c>user:alice</c>.</param>
/// <param name="Minute">The minute's start (UTC, seconds zero).</param>
/// <param name="Allowed">Requests admitted.</param>
/// <param name="Denied">Requests denied.</param>
/// <param name="Permits">Permits the admitted requests took.</param>
public sealed record UsageRow(string Subject, DateTimeOffset Minute, long Allowed, long Denied, long Permits);

/// <summary>Where usage history is kept and read: PostgreSQL in the durable mode, memory in the embedded default.</summary>
public interface IUsageHistoryStore
{
    /// <summary>Adds <paramref name="rows"/> to the stored rows (same subject and minute add up), all or nothing.</summary>
    Task WriteAsync(IReadOnlyList<UsageRow> rows, CancellationToken cancellationToken);

    /// <summary>The stored rows of <paramref name="subject"/> with <paramref name="from"/> &lt;= minute &lt; <paramref name="to"/>, oldest first.</summary>
    Task<IReadOnlyList<UsageRow>> ReadAsync(string subject, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken);
}

/// <summary>
/// Aggregates this silo's decisions per subject per minute in memory, for <see cref="UsageHistoryWriter"/> to
/// write in batches. Recording is a dictionary lookup and three interlocked additions: the decision path never
/// waits for the database. Rows a failed batch could not write are kept (bounded by
/// <see cref="DurabilityOptions.BufferCapacity"/>, the oldest minutes dropped first) and go with the next batch.
/// </summary>
public sealed class UsageRecorder(Microsoft.Extensions.Options.IOptions<DurabilityOptions> options, QuotaInstruments instruments)
{
    private readonly ConcurrentDictionary<(string Subject, long Minute), Counts> _live = new();
    private readonly Lock _pendingGate = new();
    private readonly Dictionary<(string Subject, long Minute), UsageRow> _pending = [];
    private readonly int _capacity = Math.Max(1, options.Value.BufferCapacity);

    /// <summary>Counts one decision at <paramref name="subject"/>.</summary>
    public void Record(string subject, DateTimeOffset now, bool allowed, long permits)
    {
        var minute = now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerMinute);
        var counts = _live.GetOrAdd((subject, minute), static _ => new Counts());
        if (allowed)
        {
            Interlocked.Increment(ref counts.Allowed);
            Interlocked.Add(ref counts.Permits, permits);
        }
        else
        {
            Interlocked.Increment(ref counts.Denied);
        }
    }

    /// <summary>
    /// Everything counted and not yet written: rows kept from failed batches plus what was recorded since the last
    /// batch. The live counters are reset by what is taken, so a decision recorded meanwhile goes with the next batch.
    /// </summary>
    public List<UsageRow> TakeBatch(DateTimeOffset now)
    {
        var rows = new Dictionary<(string, long), UsageRow>();
        lock (_pendingGate)
        {
            foreach (var (key, row) in _pending)
            {
                rows[key] = row;
            }

            _pending.Clear();
        }

        var stale = now.UtcTicks - (2 * TimeSpan.TicksPerMinute);
        foreach (var (key, counts) in _live)
        {
            var allowed = Interlocked.Exchange(ref counts.Allowed, 0);
            var denied = Interlocked.Exchange(ref counts.Denied, 0);
            var permits = Interlocked.Exchange(ref counts.Permits, 0);
            if (key.Minute < stale)
            {
                // Minutes long past get no more decisions; forget their entry.
                _live.TryRemove(key, out _);
            }

            if (allowed == 0 && denied == 0 && permits == 0)
            {
                continue;
            }

            var row = new UsageRow(key.Subject, new DateTimeOffset(key.Minute, TimeSpan.Zero), allowed, denied, permits);
            rows[key] = rows.TryGetValue(key, out var earlier) ? Add(earlier, row) : row;
        }

        return [.. rows.Values];
    }

    /// <summary>Keeps the rows of a batch that could not be written, for the next one; returns how many are kept.</summary>
    public int PutBack(IEnumerable<UsageRow> rows)
    {
        lock (_pendingGate)
        {
            foreach (var row in rows)
            {
                var key = (row.Subject, row.Minute.UtcTicks);
                _pending[key] = _pending.TryGetValue(key, out var earlier) ? Add(earlier, row) : row;
            }

            if (_pending.Count > _capacity)
            {
                var drop = _pending.OrderBy(p => p.Key.Item2).Take(_pending.Count - _capacity).Select(p => p.Key).ToList();
                foreach (var key in drop)
                {
                    _pending.Remove(key);
                }

                instruments.UsageRowsDropped(drop.Count);
            }

            return _pending.Count;
        }
    }

    /// <summary>What this silo has counted for <paramref name="subject"/> in [from, to) and not yet written.</summary>
    public List<UsageRow> Unwritten(string subject, DateTimeOffset from, DateTimeOffset to)
    {
        var rows = new Dictionary<long, UsageRow>();
        lock (_pendingGate)
        {
            foreach (var ((s, minute), row) in _pending)
            {
                if (s == subject && minute >= from.UtcTicks && minute < to.UtcTicks)
                {
                    rows[minute] = row;
                }
            }
        }

        foreach (var ((s, minute), counts) in _live)
        {
            if (s == subject && minute >= from.UtcTicks && minute < to.UtcTicks
                && (Volatile.Read(ref counts.Allowed) | Volatile.Read(ref counts.Denied) | Volatile.Read(ref counts.Permits)) != 0)
            {
                var row = new UsageRow(s, new DateTimeOffset(minute, TimeSpan.Zero), Volatile.Read(ref counts.Allowed), Volatile.Read(ref counts.Denied), Volatile.Read(ref counts.Permits));
                rows[minute] = rows.TryGetValue(minute, out var earlier) ? Add(earlier, row) : row;
            }
        }

        return [.. rows.Values];
    }

    /// <summary>Two rows of the same subject and minute, added up.</summary>
    public static UsageRow Add(UsageRow a, UsageRow b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return a with { Allowed = a.Allowed + b.Allowed, Denied = a.Denied + b.Denied, Permits = a.Permits + b.Permits };
    }

    private sealed class Counts
    {
        public long Allowed;
        public long Denied;
        public long Permits;
    }
}

/// <summary>Usage history in memory (the embedded default): bounded to the newest rows, gone on restart.</summary>
public sealed class MemoryUsageHistoryStore(Microsoft.Extensions.Options.IOptions<DurabilityOptions> options) : IUsageHistoryStore
{
    private readonly Lock _gate = new();
    private readonly SortedDictionary<(long Minute, string Subject), UsageRow> _rows = [];
    private readonly int _capacity = Math.Max(1, options.Value.BufferCapacity);

    /// <inheritdoc />
    public Task WriteAsync(IReadOnlyList<UsageRow> rows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rows);
        lock (_gate)
        {
            foreach (var row in rows)
            {
                var key = (row.Minute.UtcTicks, row.Subject);
                _rows[key] = _rows.TryGetValue(key, out var earlier) ? UsageRecorder.Add(earlier, row) : row;
            }

            while (_rows.Count > _capacity)
            {
                _rows.Remove(_rows.Keys.First());
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<UsageRow>> ReadAsync(string subject, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            IReadOnlyList<UsageRow> rows = [.. _rows.Values.Where(r => r.Subject == subject && r.Minute >= from && r.Minute < to)];
            return Task.FromResult(rows);
        }
    }
}
