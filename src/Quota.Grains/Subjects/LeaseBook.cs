using Quota.Abstractions;
using Quota.Algorithms.Limiting;

namespace Quota.Grains.Subjects;

/// <summary>
/// The leases a subject has open: grants filed under a nonce (the caller's, shared by every subject of one request, or
/// one the subject made) to settle later (a reservation) or release later (concurrency permits). Plain code without
/// Orleans: time is an argument.
/// </summary>
/// <remarks>
/// <para>A lease is forgotten at its expiry: an unsettled reservation keeps its estimate counted, and concurrency
/// permits expire in their own limiter (after the policy's lease TTL), so forgetting loses nothing.</para>
/// <para>Made when a subject first opens a lease: most subjects never do.</para>
/// </remarks>
internal sealed class LeaseBook
{
    private readonly Dictionary<string, OpenLease> _leases = new(StringComparer.Ordinal);
    private DateTimeOffset _nextExpiry = DateTimeOffset.MaxValue;

    /// <summary>Leases open now (expired ones not yet swept out included).</summary>
    public int Count => _leases.Count;

    /// <summary>
    /// When a lease made now for <paramref name="grants"/> expires: a reservation after <paramref name="reservationTtl"/>,
    /// concurrency permits after their policy's lease TTL, whichever is later.
    /// </summary>
    /// <param name="limits">The subject's policies; <paramref name="grants"/> are one per policy, in policy order.</param>
    /// <param name="grants">What was granted.</param>
    /// <param name="reserve">Whether the grant is a reservation.</param>
    /// <param name="reservationTtl">How long a reservation stays to be settled.</param>
    /// <param name="now">The time of the grant.</param>
    public static DateTimeOffset ExpiryOf(SubjectLimits limits, PolicyGrant[] grants, bool reserve, TimeSpan reservationTtl, DateTimeOffset now)
    {
        var expires = now + (reserve ? reservationTtl : TimeSpan.Zero);
        for (var i = 0; i < grants.Length; i++)
        {
            if (limits.Limiters[i] is ConcurrencyLimiter concurrency)
            {
                var ttlEnd = now + concurrency.Policy.LeaseTtl;
                expires = ttlEnd > expires ? ttlEnd : expires;
            }
        }

        return expires;
    }

    /// <summary>Whether <paramref name="grants"/> must be filed to be released later: one of them took concurrency permits.</summary>
    public static bool HasConcurrencyPermits(PolicyGrant[] grants)
    {
        foreach (var grant in grants)
        {
            if (grant.LeaseNumber != 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Files <paramref name="grants"/> (one per policy of <paramref name="limits"/>, in order) under <paramref name="nonce"/>
    /// until <paramref name="expiresAt"/>, with the limiters that made them: a limiter rebuilt since (its policy removed
    /// and re-added) numbers its permits afresh, so an old lease must not release a new one.
    /// </summary>
    public void Open(string nonce, SubjectLimits limits, PolicyGrant[] grants, DateTimeOffset expiresAt)
    {
        var makers = new Limiter[grants.Length];
        for (var i = 0; i < makers.Length; i++)
        {
            makers[i] = limits.Limiters[i];
        }

        _leases[nonce] = new OpenLease(grants, makers, expiresAt);
        _nextExpiry = expiresAt < _nextExpiry ? expiresAt : _nextExpiry;
    }

    /// <summary>Forgets the lease <paramref name="nonce"/> without touching its grants (they were refunded).</summary>
    public void Forget(string nonce) => _leases.Remove(nonce);

    /// <summary>
    /// Settles the reservation <paramref name="nonce"/> at <paramref name="actualCost"/>: each policy refunds the difference
    /// or takes the top-up; concurrency permits are released. False when no such lease is open.
    /// </summary>
    public bool Settle(string nonce, long actualCost, SubjectLimits limits, DateTimeOffset now)
    {
        if (!_leases.Remove(nonce, out var lease))
        {
            return false;
        }

        for (var i = 0; i < lease.Grants.Length; i++)
        {
            var grant = lease.Grants[i];
            switch (limits.Find(grant.Policy) is { } current && ReferenceEquals(current, lease.Makers[i]) ? current : null)
            {
                case ConcurrencyLimiter concurrency:
                    concurrency.Release(grant.LeaseNumber, now);
                    break;
                case { } limiter:
                    limiter.Settle(new Grant(grant.Cost, grant.AtTicks, 0), actualCost, now);
                    break;
            }
        }

        return true;
    }

    /// <summary>Releases the concurrency permits of the lease <paramref name="nonce"/>; false when no such lease is open.</summary>
    public bool Release(string nonce, SubjectLimits limits, DateTimeOffset now)
    {
        if (!_leases.Remove(nonce, out var lease))
        {
            return false;
        }

        for (var i = 0; i < lease.Grants.Length; i++)
        {
            if (limits.Find(lease.Grants[i].Policy) is ConcurrencyLimiter concurrency && ReferenceEquals(concurrency, lease.Makers[i]))
            {
                concurrency.Release(lease.Grants[i].LeaseNumber, now);
            }
        }

        return true;
    }

    /// <summary>Forgets the leases expired at <paramref name="now"/>; free when none can have expired yet.</summary>
    public void Sweep(DateTimeOffset now)
    {
        if (now < _nextExpiry)
        {
            return;
        }

        var next = DateTimeOffset.MaxValue;
        foreach (var (nonce, lease) in _leases.ToArray())
        {
            if (lease.ExpiresAt <= now)
            {
                _leases.Remove(nonce);
            }
            else if (lease.ExpiresAt < next)
            {
                next = lease.ExpiresAt;
            }
        }

        _nextExpiry = next;
    }

    /// <summary>An open lease: the grants and the limiter instances that made them.</summary>
    private sealed record OpenLease(PolicyGrant[] Grants, Limiter[] Makers, DateTimeOffset ExpiresAt);
}
