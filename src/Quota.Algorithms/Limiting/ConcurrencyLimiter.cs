using System.Buffers;

namespace Quota.Algorithms.Limiting;

/// <summary>
/// At most <c>limit</c> permits held at once. Every grant is a lease with an id; it ends when released
/// (<see cref="Release"/>, or <see cref="Limiter.Refund"/> with its grant) or when its TTL runs out, so a caller
/// that crashes holding a lease cannot leak capacity for longer than the TTL.
/// </summary>
/// <remarks>
/// Retry-after assumes no lease is released early: it is the moment enough leases expire. State grows with the
/// number of leases held (at most <c>limit</c> for ordinary grants).
/// </remarks>
public sealed class ConcurrencyLimiter : Limiter
{
    private readonly Dictionary<long, Lease> _leases = [];

    // Expiry order with lazy deletion: an entry is live only while its lease exists with that same expiry.
    private readonly PriorityQueue<long, long> _expiries = new();
    private long _limit;
    private long _ttl;

    // Exactly the sum of the live leases' costs. Lease costs saturate at long.MaxValue, but a total saturated
    // separately drifted from them: with two leases topped up near long.MaxValue it held long.MaxValue, and once
    // one lease ended it dropped near 0 (or below) while the other still held long.MaxValue.
    private Int128 _inUse;
    private long _nextLeaseNumber;

    // The latest expiry of any held lease; null when a removal may have lowered it (recomputed on demand).
    private long? _latestExpiry;

    /// <summary>Creates a limiter with no leases for a valid concurrency policy.</summary>
    /// <exception cref="InvalidPolicyException">The policy is invalid or not a concurrency policy.</exception>
    public ConcurrencyLimiter(PolicyDefinition policy)
        : base(Require(policy, AlgorithmKind.Concurrency))
    {
        _limit = policy.Limit;
        _ttl = policy.LeaseTtl.Ticks;
    }

    /// <summary>Leases currently held.</summary>
    public int LeaseCount => _leases.Count;


    /// <summary>Ends a lease now. False when it is unknown, already released or expired.</summary>
    public bool Release(long leaseNumber, DateTimeOffset now)
    {
        Advance(now);
        if (!_leases.Remove(leaseNumber, out var lease))
        {
            return false;
        }

        _inUse -= lease.Cost;
        ForgetLatestIf(lease.ExpiresAt);
        return true;
    }

    /// <summary>Extends a live lease to one TTL from now. False when it is unknown or has expired.</summary>
    public bool Renew(long leaseNumber, DateTimeOffset now)
    {
        var t = Advance(now);
        if (!_leases.TryGetValue(leaseNumber, out var lease))
        {
            return false;
        }

        var expires = SaturatingAdd(t, _ttl);
        _leases[leaseNumber] = lease with { ExpiresAt = expires };
        _expiries.Enqueue(leaseNumber, expires);
        _latestExpiry = null;
        return true;
    }

    /// <summary>When the lease expires unless renewed or released, in UTC ticks; null when it is not held.</summary>
    public long? ExpiryOf(long leaseNumber) => _leases.TryGetValue(leaseNumber, out var lease) ? lease.ExpiresAt : null;

    private protected override void Observe(long now)
    {
        while (_expiries.TryPeek(out var id, out var expires) && expires <= now)
        {
            _expiries.Dequeue();
            if (_leases.TryGetValue(id, out var lease) && lease.ExpiresAt == expires)
            {
                _leases.Remove(id);
                _inUse -= lease.Cost;
                ForgetLatestIf(lease.ExpiresAt);
            }
        }

        // Released leases leave stale queue entries behind; compact when they dominate so memory stays O(leases).
        if (_expiries.Count > 64 && _expiries.Count > 4 * _leases.Count)
        {
            _expiries.Clear();
            foreach (var (id, lease) in _leases)
            {
                _expiries.Enqueue(id, lease.ExpiresAt);
            }
        }
    }

    private protected override bool TryTake(long cost, long now, out long leaseNumber)
    {
        if (cost > _limit - _inUse)
        {
            leaseNumber = 0;
            return false;
        }

        leaseNumber = Open(cost, now);
        return true;
    }

    private long Open(long cost, long now)
    {
        var id = ++_nextLeaseNumber;
        var expires = SaturatingAdd(now, _ttl);
        _leases.Add(id, new Lease(cost, expires));
        _expiries.Enqueue(id, expires);
        _inUse += cost;
        if (_latestExpiry is { } latest)
        {
            _latestExpiry = Math.Max(latest, expires);
        }

        return id;
    }

    private protected override long RemainingAt(long now) => _inUse >= _limit ? 0 : _limit - (long)_inUse;

    private protected override long UsedAt(long now) => _inUse > long.MaxValue ? long.MaxValue : (long)_inUse;

    private protected override long RetryTicks(long cost, long now)
    {
        // Only on a denial: sort the live leases by expiry in a pooled buffer (no allocation per decision).
        var needed = _inUse - (_limit - cost);
        var buffer = ArrayPool<Lease>.Shared.Rent(_leases.Count);
        try
        {
            _leases.Values.CopyTo(buffer, 0);
            var live = buffer.AsSpan(0, _leases.Count);
            live.Sort(static (a, b) => a.ExpiresAt.CompareTo(b.ExpiresAt));
            Int128 freed = 0;
            foreach (var lease in live)
            {
                freed += lease.Cost;
                if (freed >= needed)
                {
                    return lease.ExpiresAt - now;
                }
            }

            return 0;
        }
        finally
        {
            ArrayPool<Lease>.Shared.Return(buffer);
        }
    }

    private protected override long ResetTicks(long now)
    {
        if (_leases.Count == 0)
        {
            return 0;
        }

        if (_latestExpiry is not { } latest)
        {
            latest = now;
            foreach (var lease in _leases.Values)
            {
                latest = Math.Max(latest, lease.ExpiresAt);
            }

            _latestExpiry = latest;
        }

        return latest - now;
    }

    private protected override void Return(Grant grant, long now)
    {
        if (!_leases.TryGetValue(grant.LeaseNumber, out var lease))
        {
            return;
        }

        var back = Math.Min(grant.Cost, lease.Cost);
        _inUse -= back;
        if (back == lease.Cost)
        {
            _leases.Remove(grant.LeaseNumber);
            ForgetLatestIf(lease.ExpiresAt);
        }
        else
        {
            _leases[grant.LeaseNumber] = lease with { Cost = lease.Cost - back };
        }
    }

    // Usage carried into a new concurrency policy is one lease that lasts one TTL.
    private protected override void Add(long cost, long now) => Open(cost, now);

    private protected override void TopUp(Grant reservation, long extra, long now)
    {
        if (_leases.TryGetValue(reservation.LeaseNumber, out var lease))
        {
            var topped = SaturatingAdd(lease.Cost, extra);
            _inUse += topped - lease.Cost;
            _leases[reservation.LeaseNumber] = lease with { Cost = topped };
        }
        else
        {
            Open(extra, now);
        }
    }

    private protected override bool TryReconfigureInPlace(PolicyDefinition next, long now)
    {
        // Held leases keep their expiry; the new TTL applies to leases opened or renewed from now on.
        _limit = next.Limit;
        _ttl = next.LeaseTtl.Ticks;
        return true;
    }

    /// <summary>A removed lease only lowers the latest expiry if it held it.</summary>
    private void ForgetLatestIf(long expires)
    {
        if (_latestExpiry == expires)
        {
            _latestExpiry = null;
        }
    }

    private readonly record struct Lease(long Cost, long ExpiresAt);
}
