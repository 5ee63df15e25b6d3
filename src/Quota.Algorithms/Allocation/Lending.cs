namespace Quota.Algorithms.Allocation;

/// <summary>
/// What a pool answers one tenant that asks (at a refresh, or borrowing the moment its allowance runs out): each
/// tenant's weighted max-min share (<see cref="FairShare"/>) of what the pool lends, over the demands it knows with the
/// asker's new demand counted at once; what the asker may take now; and whose leases must shrink first.
/// </summary>
/// <remarks>
/// Guarantees, for every input where the leases held already sum to at most <c>lendable</c>: <see cref="Grant"/> and
/// <see cref="GrantAfter"/> never make the leases sum to more than <c>lendable</c> (the asker's old lease is replaced,
/// the others' are counted as held until lowered); the asker never gets more than its share; a lease is only asked
/// to shrink to its holder's share, never below it, and only when the asker cannot have its share from what is
/// unlent.
/// </remarks>
public sealed class LendingPlan
{
    private LendingPlan(long lendable, long[] shares, long grant, int[] shrink, int asker)
    {
        Lendable = lendable;
        Shares = shares;
        Grant = grant;
        Shrink = shrink;
        Asker = asker;
    }

    /// <summary>What the pool lends in all.</summary>
    public long Lendable { get; }

    /// <summary>Each tenant's fair share, in the order given.</summary>
    public IReadOnlyList<long> Shares { get; }

    /// <summary>What the asker may take at once from what is unlent: its share, or less when others hold more than theirs.</summary>
    public long Grant { get; }

    /// <summary>
    /// The tenants (indexes) whose leases are above their shares and must shrink to them before the asker can have its
    /// share; empty when <see cref="Grant"/> is the asker's share.
    /// </summary>
    public IReadOnlyList<int> Shrink { get; }

    /// <summary>The asker's index.</summary>
    public int Asker { get; }

    /// <summary>The asker's share.</summary>
    public long Share => Shares[Asker];

    /// <summary>
    /// Plans the answer to tenant <paramref name="asker"/>: <paramref name="requests"/> holds every tenant's demand
    /// (the asker's the new one), weight and priority; <paramref name="held"/> what each holds now (the asker's
    /// included, and replaced by the answer).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Lendable or a lease is negative, the asker is out of range, or a request is invalid (<see cref="FairShare"/>).</exception>
    /// <exception cref="ArgumentException">The spans differ in length.</exception>
    public static LendingPlan For(long lendable, ReadOnlySpan<ShareRequest> requests, ReadOnlySpan<long> held, int asker)
    {
        if (held.Length != requests.Length)
        {
            throw new ArgumentException("There must be one lease held per request.", nameof(held));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(asker);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(asker, requests.Length);
        foreach (var lease in held)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(lease, nameof(held));
        }

        var shares = FairShare.Allocate(lendable, requests);
        var grant = GrantAfter(lendable, shares[asker], held, asker);
        var shrink = new List<int>();
        if (grant < shares[asker])
        {
            for (var i = 0; i < held.Length; i++)
            {
                if (i != asker && held[i] > shares[i])
                {
                    shrink.Add(i);
                }
            }
        }

        return new LendingPlan(lendable, shares, grant, [.. shrink], asker);
    }

    /// <summary>
    /// What the asker may take once the others hold <paramref name="held"/> (the asker's own entry is ignored): its
    /// share, at most what the others leave unlent, at least 0.
    /// </summary>
    public static long GrantAfter(long lendable, long share, ReadOnlySpan<long> held, int asker)
    {
        // Summed in 128 bits: leases near long.MaxValue must not wrap into "plenty left".
        Int128 others = 0;
        for (var i = 0; i < held.Length; i++)
        {
            if (i != asker)
            {
                others += held[i];
            }
        }

        var left = lendable - others;
        return left <= 0 ? 0 : (long)Int128.Min(share, left);
    }

    /// <summary>
    /// Each tenant's guaranteed share: what it would get if every tenant wanted as much as it may
    /// (<paramref name="caps"/>: each one's burst, or all that is lent when it has none, with its weight and priority).
    /// A pool holds this much for a tenant that has started taking requests before lending it to another.
    /// </summary>
    public static long[] Guarantees(long lendable, ReadOnlySpan<ShareRequest> caps) => FairShare.Allocate(lendable, caps);

    /// <summary>What stays unlent once the asker holds <paramref name="granted"/> and the others <paramref name="held"/>; at least 0.</summary>
    public static long UnlentAfter(long lendable, long granted, ReadOnlySpan<long> held, int asker)
    {
        Int128 lent = granted;
        for (var i = 0; i < held.Length; i++)
        {
            if (i != asker)
            {
                lent += held[i];
            }
        }

        return lent >= lendable ? 0 : (long)(lendable - lent);
    }
}
