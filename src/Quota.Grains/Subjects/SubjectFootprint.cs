using Quota.Algorithms.Limiting;

namespace Quota.Grains.Subjects;

/// <summary>
/// Whether a subject's windows hold anything a fresh activation would not: a subject whose every policy is back to
/// full capacity answers exactly as a new activation of it would, so it need not be kept in memory.
/// </summary>
internal static class SubjectFootprint
{
    /// <summary>
    /// True when every limiter counts nothing and has nothing left to drain (<see cref="UsageSnapshot.ResetAfter"/>
    /// zero): a sliding window still weighing its previous bucket, a bucket refilling or a lease held all count.
    /// </summary>
    public static bool AllFull(List<Limiter> limiters, DateTimeOffset now)
    {
        foreach (var limiter in limiters)
        {
            var usage = limiter.GetUsage(now);
            if (usage.Used != 0 || usage.ResetAfter != TimeSpan.Zero)
            {
                return false;
            }
        }

        return true;
    }
}
