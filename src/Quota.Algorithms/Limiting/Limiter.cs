namespace Quota.Algorithms.Limiting;

// NOTE: the semantics every algorithm in this folder shares. State them here once; the types below rely on them.
//
// Time. A limiter never reads a clock: every call passes "now". A limiter keeps the latest time it has seen and
//   treats an earlier "now" as that latest time, so a clock that goes backwards grants nothing extra: windows do
//   not reopen, buckets do not refill, leases do not come back to life.
// Cost. A request asks for `cost` permits, cost >= 0. Cost 0 is a peek: nothing is taken; the decision says
//   whether a cost-1 request would be admitted now (Allowed = Remaining > 0) and, if not, when.
//   A negative cost is a caller bug (ArgumentOutOfRangeException); front doors validate before calling.
// Too big. A cost above the policy's capacity (limit, or burst for a token bucket) is denied with
//   DenialReason.CostExceedsLimit and RetryAfter = Decision.Never; it consumes nothing.
// Rejection is free. A denied request changes no state. Whoever combines several limits for one request
//   (all-or-nothing) refunds the grants of the others with Refund(grant), which restores the state exactly when
//   called at the time of the grant, and otherwise never gives back more than is still counted.
// Retry-after. For a denied request it is the exact earliest moment at which the same request would be
//   admitted if nothing else happened in between: admitted at now + RetryAfter, denied one tick earlier. It is
//   never a whole period when less is true.
// Reserve, then settle. A reservation is an ordinary grant of an estimate. Settle(grant, actual) refunds the
//   difference when actual < estimate and takes the top-up unconditionally when actual > estimate: the work
//   was already done, so the top-up may push usage above the limit, and later requests wait until it drains.
// Limit changes. Reconfigure keeps the usage counted so far and applies the new limit to it at once: a raised
//   limit admits more immediately, a lowered one denies until usage falls below it. Changing the window of a
//   sliding or fixed window, or the period or zone of a calendar quota, carries the current usage into a fresh
//   window (conservative: it is counted as if taken now). Changing the algorithm does the same.
// Overflow. Arithmetic on ticks x permits is done in 128 bits; top-ups saturate instead of wrapping.

/// <summary>
/// One policy's window state and decisions. Not thread-safe: a limiter belongs to exactly one owner (a grain)
/// that serialises calls. See the NOTE at the top of this file for the semantics all algorithms share.
/// </summary>
public abstract class Limiter
{
    private long _clock;

    /// <summary>Creates the limiter for an already validated policy.</summary>
    private protected Limiter(PolicyDefinition policy)
    {
        Policy = policy;
    }

    /// <summary>The policy this limiter enforces now.</summary>
    public PolicyDefinition Policy { get; private set; }

    /// <summary>The most permits one request can take (limit, or burst for a token bucket).</summary>
    public long Capacity => Policy.Capacity;

    /// <summary>The latest time this limiter has seen, in UTC ticks.</summary>
    public long ClockTicks => _clock;

    /// <summary>
    /// Takes <paramref name="cost"/> permits if the policy admits them now; cost 0 peeks without taking.
    /// </summary>
    /// <param name="cost">Permits wanted; at least 0.</param>
    /// <param name="now">The current time.</param>
    /// <returns>The decision; a denial changes nothing.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="cost"/> is negative.</exception>
    public Decision Acquire(long cost, DateTimeOffset now)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(cost);
        var t = Advance(now);
        if (cost == 0)
        {
            var remaining = RemainingAt(t);
            return remaining > 0
                ? new Decision(true, DenialReason.None, Capacity, remaining, Ticks(ResetTicks(t)), TimeSpan.Zero, default)
                : new Decision(false, DenialReason.LimitExhausted, Capacity, 0, Ticks(ResetTicks(t)), Ticks(RetryTicks(1, t)), default);
        }

        if (cost > Capacity)
        {
            return new Decision(false, DenialReason.CostExceedsLimit, Capacity, RemainingAt(t), Ticks(ResetTicks(t)), Decision.Never, default);
        }

        if (TryTake(cost, t, out var leaseNumber))
        {
            return new Decision(true, DenialReason.None, Capacity, RemainingAt(t), Ticks(ResetTicks(t)), TimeSpan.Zero, new Grant(cost, t, leaseNumber));
        }

        return new Decision(false, DenialReason.LimitExhausted, Capacity, RemainingAt(t), Ticks(ResetTicks(t)), Ticks(RetryTicks(cost, t)), default);
    }

    /// <summary>
    /// Gives back what <paramref name="grant"/> took, as far as it is still counted: exactly restores the state
    /// when called at the grant's time; never frees more than the grant took. A default grant is ignored.
    /// </summary>
    public void Refund(Grant grant, DateTimeOffset now)
    {
        var t = Advance(now);
        if (grant.Cost > 0)
        {
            Return(grant, t);
        }
    }

    /// <summary>
    /// Settles a reservation: refunds the difference when <paramref name="actualCost"/> is below the reserved
    /// cost, takes the top-up unconditionally (possibly beyond the limit) when above.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="actualCost"/> is negative.</exception>
    public UsageSnapshot Settle(Grant reservation, long actualCost, DateTimeOffset now)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(actualCost);
        var t = Advance(now);
        if (actualCost < reservation.Cost)
        {
            Return(reservation with { Cost = reservation.Cost - actualCost }, t);
        }
        else if (actualCost > reservation.Cost)
        {
            TopUp(reservation, actualCost - reservation.Cost, t);
        }

        return Snapshot(t);
    }

    /// <summary>Counts <paramref name="cost"/> permits unconditionally (e.g. work already done). Saturates, never wraps.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="cost"/> is negative.</exception>
    public void Consume(long cost, DateTimeOffset now)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(cost);
        var t = Advance(now);
        if (cost > 0)
        {
            Add(cost, t);
        }
    }

    /// <summary>The state now, taking nothing.</summary>
    public UsageSnapshot GetUsage(DateTimeOffset now) => Snapshot(Advance(now));

    /// <summary>
    /// Applies a changed policy keeping current usage (see the NOTE at the top of this file). Returns this
    /// limiter when the change applies in place, otherwise a new limiter seeded with the current usage.
    /// </summary>
    /// <exception cref="InvalidPolicyException"><paramref name="next"/> is invalid; nothing changes.</exception>
    public Limiter Reconfigure(PolicyDefinition next, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(next);
        next.ThrowIfInvalid();
        var t = Advance(now);
        if (next.Algorithm == Policy.Algorithm && TryReconfigureInPlace(next, t))
        {
            Policy = next;
            return this;
        }

        var used = UsedAt(t);
        var fresh = next.CreateLimiter();

        // Bring the fresh limiter to now before seeding it: a window or period that has not been observed yet
        // starts in the far past, and its first observation would otherwise roll the seeded usage away.
        fresh._clock = t;
        fresh.Observe(t);
        if (used > 0)
        {
            fresh.Add(used, t);
        }

        return fresh;
    }

    /// <summary>Brings the state to <paramref name="now"/> (clamped to the latest time seen) and returns its ticks.</summary>
    private protected long Advance(DateTimeOffset now)
    {
        var t = now.UtcTicks;
        if (t < _clock)
        {
            t = _clock;
        }

        _clock = t;
        Observe(t);
        return t;
    }

    private UsageSnapshot Snapshot(long t) => new(Capacity, UsedAt(t), RemainingAt(t), Ticks(ResetTicks(t)));

    private static TimeSpan Ticks(long ticks) => ticks <= 0 ? TimeSpan.Zero : TimeSpan.FromTicks(ticks);

    /// <summary>Rolls windows, refills or expires state up to <paramref name="now"/>, which never decreases.</summary>
    private protected abstract void Observe(long now);

    /// <summary>Takes <paramref name="cost"/> (1..Capacity) if it fits; changes nothing otherwise.</summary>
    private protected abstract bool TryTake(long cost, long now, out long leaseNumber);

    /// <summary>Permits a request could take now, at least 0.</summary>
    private protected abstract long RemainingAt(long now);

    /// <summary>Permits counted against the limit now (may exceed it after a top-up).</summary>
    private protected abstract long UsedAt(long now);

    /// <summary>Ticks until a request of <paramref name="cost"/> (1..Capacity), now denied, would be admitted.</summary>
    private protected abstract long RetryTicks(long cost, long now);

    /// <summary>Ticks until full capacity if nothing more is taken.</summary>
    private protected abstract long ResetTicks(long now);

    /// <summary>Gives back up to <c>grant.Cost</c> permits of a grant made at <c>grant.AcquiredAtTicks</c>.</summary>
    private protected abstract void Return(Grant grant, long now);

    /// <summary>Counts <paramref name="cost"/> permits unconditionally, saturating.</summary>
    private protected abstract void Add(long cost, long now);

    /// <summary>Adds a settlement's top-up; concurrency attaches it to the reservation's lease.</summary>
    private protected virtual void TopUp(Grant reservation, long extra, long now) => Add(extra, now);

    /// <summary>Applies <paramref name="next"/> (same algorithm, valid) keeping state; false to rebuild and seed instead.</summary>
    private protected abstract bool TryReconfigureInPlace(PolicyDefinition next, long now);

    /// <summary>The policy, validated and of the <paramref name="expected"/> algorithm, for a derived constructor.</summary>
    /// <exception cref="InvalidPolicyException">The policy is invalid or of another algorithm.</exception>
    private protected static PolicyDefinition Require(PolicyDefinition policy, AlgorithmKind expected)
    {
        ArgumentNullException.ThrowIfNull(policy);
        policy.ThrowIfInvalid();
        return policy.Algorithm == expected
            ? policy
            : throw new InvalidPolicyException(policy.Name, [$"algorithm: expected {expected}, got {policy.Algorithm}."]);
    }

    /// <summary>Adds without wrapping past <see cref="long.MaxValue"/>.</summary>
    private protected static long SaturatingAdd(long a, long b)
    {
        var sum = a + b;
        return ((a ^ sum) & (b ^ sum)) < 0 ? long.MaxValue : sum;
    }

    /// <summary>Start of the window of length <paramref name="window"/> containing <paramref name="ticks"/>, aligned to the Unix epoch.</summary>
    private protected static long AlignDown(long ticks, long window)
    {
        var offset = (ticks - DateTime.UnixEpoch.Ticks) % window;
        if (offset < 0)
        {
            offset += window;
        }

        return ticks - offset;
    }
}
