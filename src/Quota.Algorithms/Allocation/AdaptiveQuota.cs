namespace Quota.Algorithms.Allocation;

/// <summary>The thresholds and step sizes of the adaptive quota rule. Defaults are the ones in DESIGN.md.</summary>
public sealed record AdaptiveQuotaOptions
{
    /// <summary>Average use above this fraction of the quota (and a peak at the quota) raises it. Default: 0.90.</summary>
    public double RaiseAbove { get; init; } = 0.90;

    /// <summary>Average use below this fraction of the quota lowers it. Default: 0.30.</summary>
    public double LowerBelow { get; init; } = 0.30;

    /// <summary>A raise is at most this fraction of the quota. Default: 0.20.</summary>
    public double RaiseFraction { get; init; } = 0.20;

    /// <summary>A raise is at most this many permits per step. Default: 10.</summary>
    public long MaxRaiseStep { get; init; } = 10;

    /// <summary>A cut is this fraction of the quota. Default: 0.10.</summary>
    public double LowerFraction { get; init; } = 0.10;

    /// <summary>A cut is at most this many permits per step. Default: 5.</summary>
    public long MaxLowerStep { get; init; } = 5;

    /// <summary>A cut never takes the quota below this. Default: 10.</summary>
    public long Floor { get; init; } = 10;
}

/// <summary>Why an adaptive step changed, or did not change, a quota.</summary>
public enum AdaptiveReason
{
    /// <summary>Use is between the thresholds (or the quota is at a bound): no change.</summary>
    Steady,

    /// <summary>Average use above the raise threshold with a peak at the quota: raised.</summary>
    HighUse,

    /// <summary>High use, but the reservation rule, the maximum or the headroom allowed no raise.</summary>
    HighUseCapped,

    /// <summary>Average use below the lower threshold: lowered.</summary>
    LowUse,
}

/// <summary>What one step of the rule saw for a tenant.</summary>
/// <param name="Quota">The current reserved quota.</param>
/// <param name="AverageUse">Average use per window over the observation period.</param>
/// <param name="PeakUse">Highest use in any window of the period.</param>
/// <param name="Headroom">How much the quota may grow before reserved quotas exceed the reservation limit (80% of pool capacity).</param>
/// <param name="Minimum">The tenant's own lower bound (the rule's floor applies too).</param>
/// <param name="Maximum">The tenant's own upper bound.</param>
public readonly record struct AdaptiveInput(long Quota, double AverageUse, long PeakUse, long Headroom, long Minimum = 0, long Maximum = long.MaxValue);

/// <summary>One step's outcome: the old and new quota and why.</summary>
public readonly record struct AdaptiveChange(long OldQuota, long NewQuota, AdaptiveReason Reason)
{
    /// <summary>Whether the quota changed.</summary>
    public bool Changed => NewQuota != OldQuota;
}

/// <summary>
/// The adaptive quota rule: a tenant whose average use stays above 90% of its quota and peaks at it gets more
/// (up to +20%, at most +10 per step, never beyond its headroom under the reservation rule or its maximum);
/// one whose average is below 30% gets less (−10%, at most −5 per step, never below the floor of 10 or its
/// minimum). A raise is at least 1 so small quotas can grow; a cut is at least 1 so small quotas can shrink.
/// </summary>
public static class AdaptiveQuota
{
    /// <summary>Evaluates one step. Pure: the caller records and applies the change.</summary>
    public static AdaptiveChange Evaluate(AdaptiveInput input, AdaptiveQuotaOptions? options = null)
    {
        options ??= new AdaptiveQuotaOptions();
        var quota = input.Quota;
        if (quota <= 0)
        {
            return new AdaptiveChange(quota, quota, AdaptiveReason.Steady);
        }

        var average = input.AverageUse / quota;
        if (average > options.RaiseAbove && input.PeakUse >= quota)
        {
            var step = Math.Min(Math.Max(1, (long)Math.Floor(quota * options.RaiseFraction)), options.MaxRaiseStep);
            step = Math.Min(step, Math.Max(0, input.Headroom));
            step = Math.Min(step, Math.Max(0, input.Maximum - quota));
            return step > 0
                ? new AdaptiveChange(quota, quota + step, AdaptiveReason.HighUse)
                : new AdaptiveChange(quota, quota, AdaptiveReason.HighUseCapped);
        }

        if (average < options.LowerBelow)
        {
            var step = Math.Min(Math.Max(1, (long)Math.Floor(quota * options.LowerFraction)), options.MaxLowerStep);
            var lowest = Math.Max(options.Floor, input.Minimum);
            var next = Math.Max(quota - step, lowest);
            return next < quota
                ? new AdaptiveChange(quota, next, AdaptiveReason.LowUse)
                : new AdaptiveChange(quota, quota, AdaptiveReason.Steady);
        }

        return new AdaptiveChange(quota, quota, AdaptiveReason.Steady);
    }
}
