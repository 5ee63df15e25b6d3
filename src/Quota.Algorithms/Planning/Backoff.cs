namespace Quota.Algorithms.Planning;

/// <summary>
/// Exponential backoff with full jitter: after attempt <c>n</c> (from 1) the cap is <c>base * 2^(n-1)</c>, at most
/// <c>max</c>, and the wait is uniform in <c>[0, cap]</c>, so retries of many items spread out instead of arriving
/// together. The random draw is an argument: the caller owns randomness, tests pass exact values.
/// </summary>
public static class Backoff
{
    /// <summary>The cap after <paramref name="attempt"/> failed attempts: <c>base * 2^(attempt-1)</c>, at most <paramref name="max"/>.</summary>
    /// <param name="attempt">Attempts made so far, from 1; less is read as 1.</param>
    /// <param name="baseDelay">The first cap; more than zero.</param>
    /// <param name="max">The largest cap; at least <paramref name="baseDelay"/>.</param>
    public static TimeSpan Cap(int attempt, TimeSpan baseDelay, TimeSpan max)
    {
        // Doubling stops once past max: no overflow however many attempts.
        var cap = baseDelay;
        for (var i = 1; i < attempt && cap < max; i++)
        {
            cap += cap;
        }

        return cap > max ? max : cap;
    }

    /// <summary>
    /// The wait before the next attempt: <paramref name="draw"/> (in [0, 1]) of the cap, and never less than
    /// <paramref name="atLeast"/> (an upstream's Retry-After).
    /// </summary>
    public static TimeSpan Delay(int attempt, TimeSpan baseDelay, TimeSpan max, double draw, TimeSpan atLeast)
    {
        var jittered = TimeSpan.FromTicks((long)(Cap(attempt, baseDelay, max).Ticks * Math.Clamp(draw, 0, 1)));
        return jittered < atLeast ? atLeast : jittered;
    }
}
