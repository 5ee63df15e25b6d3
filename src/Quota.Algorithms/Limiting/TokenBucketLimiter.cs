namespace Quota.Algorithms.Limiting;

/// <summary>
/// Token bucket with GCRA semantics: permits refill at <c>limit</c> per <c>window</c>, continuously, up to
/// <c>burst</c> available at once. State is one theoretical arrival time (TAT), so O(1) in time and memory.
/// </summary>
/// <remarks>
/// Time is kept in units of 1/limit tick so that the emission interval (window / limit) is an exact integer
/// and no refill is lost to rounding. Downside: a full bucket admits a burst of <c>burst</c> at once, so over
/// any window of length <c>window</c> up to <c>limit + burst</c> permits can be admitted.
/// </remarks>
public sealed class TokenBucketLimiter : Limiter
{
    // TAT, debts and tolerances never legitimately exceed ~1e38 / 2; top-ups saturate here instead of wrapping.

    private long _rate;       // limit: scaled units per tick
    private long _interval;   // window ticks: scaled units per permit
    private Int128 _tolerance; // burst * interval
    private Int128 _tat;      // theoretical arrival time, scaled; 0 = far past (full bucket)

    /// <summary>Creates a full bucket for a valid token-bucket policy.</summary>
    /// <exception cref="InvalidPolicyException">The policy is invalid or not a token bucket.</exception>
    public TokenBucketLimiter(PolicyDefinition policy)
        : base(Require(policy, AlgorithmKind.TokenBucket))
    {
        Apply(policy);
    }


    private void Apply(PolicyDefinition policy)
    {
        _rate = policy.Limit;
        _interval = policy.Window.Ticks;
        _tolerance = (Int128)(policy.Burst ?? policy.Limit) * _interval;
    }

    private Int128 Scaled(long now) => (Int128)now * _rate;

    /// <summary>Scaled debt now: how far TAT is ahead of now, at least 0.</summary>
    private Int128 Debt(long now)
    {
        var debt = _tat - Scaled(now);
        return debt > 0 ? debt : Int128.Zero;
    }

    private protected override void Observe(long now)
    {
    }

    private protected override bool TryTake(long cost, long now, out long leaseNumber)
    {
        leaseNumber = 0;
        var scaledNow = Scaled(now);
        var start = _tat > scaledNow ? _tat : scaledNow;
        var next = start + (Int128)cost * _interval;
        if (next - scaledNow > _tolerance)
        {
            return false;
        }

        _tat = next;
        return true;
    }

    private protected override long RemainingAt(long now)
    {
        var room = _tolerance - Debt(now);
        return room <= 0 ? 0 : Arith.FloorDiv(room, _interval);
    }

    private protected override long UsedAt(long now) => Arith.CeilDiv(Debt(now), _interval);

    private protected override long RetryTicks(long cost, long now)
    {
        // Earliest t with max(TAT, t*rate) + cost*interval - t*rate <= tolerance. Since cost <= burst, that t
        // is at most TAT/rate, so max(TAT, t*rate) = TAT and t = ceil((TAT + cost*interval - tolerance) / rate).
        var scaledNow = Scaled(now);
        var start = _tat > scaledNow ? _tat : scaledNow;
        var needed = start + (Int128)cost * _interval - _tolerance - scaledNow;
        return needed <= 0 ? 0 : Arith.CeilDiv(needed, _rate);
    }

    private protected override long ResetTicks(long now) => Arith.CeilDiv(Debt(now), _rate);

    private protected override void Return(Grant grant, long now)
    {
        // Only what the grant still has counted comes back. Admitted at AcquiredAtTicks, it raised TAT to at most
        // that time plus the tolerance, and every permit of it has refilled once now passes that point; giving
        // back more would hand out permits taken by later grants. At the grant's own time this is the whole cost.
        var scaledNow = Scaled(now);
        var counted = Scaled(grant.AcquiredAtTicks) + _tolerance - scaledNow;
        var cost = (Int128)grant.Cost * _interval;
        if (counted < cost)
        {
            cost = counted > 0 ? counted : Int128.Zero;
        }

        // Never below now: a refund cannot bank capacity beyond a full bucket.
        var back = _tat - cost;
        _tat = back > scaledNow ? back : scaledNow;
    }

    private protected override void Add(long cost, long now)
    {
        var scaledNow = Scaled(now);
        var start = _tat > scaledNow ? _tat : scaledNow;
        _tat = Capped(start + (Int128)cost * _interval, scaledNow);
    }

    // Debt is kept within the longest refill a policy may have (PolicyDefinition.MaxWindow): whatever is counted
    // unconditionally (a settle's top-up of 2^63 permits on a bucket of 10 a minute), reset and retry times stay real
    // durations, saturating at 10 years, instead of overflowing into "never" (-1 ms) for every later caller.
    private Int128 Capped(Int128 tat, Int128 scaledNow)
    {
        var most = scaledNow + ((Int128)PolicyDefinition.MaxWindow.Ticks * _rate);
        return tat > most ? most : tat;
    }

    private protected override bool TryReconfigureInPlace(PolicyDefinition next, long now)
    {
        // Keep the usage in whole permits (rounded up: conservative by less than one permit) and re-express it
        // in the new units, so a raised limit admits more at once and a lowered one denies until usage drains.
        var usedPermits = UsedAt(now);
        Apply(next);
        var scaledNow = Scaled(now);
        _tat = Capped(scaledNow + ((Int128)usedPermits * _interval), scaledNow);
        return true;
    }
}
