namespace Quota.Algorithms.Limiting;

/// <summary>Why a request was not admitted.</summary>
public enum DenialReason : byte
{
    /// <summary>The request was admitted.</summary>
    None = 0,

    /// <summary>Not enough capacity now; <see cref="Decision.RetryAfter"/> says when there will be.</summary>
    LimitExhausted = 1,

    /// <summary>
    /// The cost exceeds what the policy can ever admit at once (its limit or burst). Waiting never helps:
    /// <see cref="Decision.RetryAfter"/> is <see cref="Decision.Never"/>.
    /// </summary>
    CostExceedsLimit = 2,
}

/// <summary>
/// What a limiter granted: enough to undo it (<see cref="Limiter.Refund"/>) or settle it
/// (<see cref="Limiter.Settle"/>) later. <c>default</c> means nothing was granted.
/// </summary>
/// <param name="Cost">Permits taken.</param>
/// <param name="AcquiredAtTicks">The limiter's time (UTC ticks) of the grant; identifies the window it counted in.</param>
/// <param name="LeaseNumber">The number of the concurrency lease held within its limiter, or 0 for window-based policies.</param>
public readonly record struct Grant(long Cost, long AcquiredAtTicks, long LeaseNumber);

/// <summary>
/// The answer of one limiter to one request. A denial is a value, never an exception.
/// </summary>
/// <param name="Allowed">Whether the permits were granted (always true for a cost-0 peek that fits).</param>
/// <param name="Reason">Why not, when <paramref name="Allowed"/> is false.</param>
/// <param name="Limit">The capacity the remaining count is out of (burst for a token bucket).</param>
/// <param name="Remaining">Permits a request could still take now, after this decision. Never negative.</param>
/// <param name="ResetAfter">Time until the policy is back to full capacity if nothing more is taken.</param>
/// <param name="RetryAfter">
/// Zero when allowed. When denied: the exact earliest moment, relative to now, at which the same request
/// would be admitted if nothing else happened in between; <see cref="Never"/> when it never can be.
/// </param>
/// <param name="Grant">What was taken, to refund or settle; <c>default</c> when denied or peeking.</param>
public readonly record struct Decision(
    bool Allowed,
    DenialReason Reason,
    long Limit,
    long Remaining,
    TimeSpan ResetAfter,
    TimeSpan RetryAfter,
    Grant Grant)
{
    /// <summary>The retry-after of a request that can never be admitted.</summary>
    public static readonly TimeSpan Never = TimeSpan.MaxValue;
}

/// <summary>A policy's state at one moment, without taking anything.</summary>
/// <param name="Limit">The capacity (burst for a token bucket).</param>
/// <param name="Used">Permits counted against the limit now (may exceed it after a top-up).</param>
/// <param name="Remaining">Permits a request could take now. Never negative.</param>
/// <param name="ResetAfter">Time until full capacity if nothing more is taken.</param>
public readonly record struct UsageSnapshot(long Limit, long Used, long Remaining, TimeSpan ResetAfter);
