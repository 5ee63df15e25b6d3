using Quota.Abstractions;
using Quota.Algorithms.Planning;

namespace Quota.Grains.Queues;

/// <summary>
/// A queue's statistics from its book's counts (<see cref="QueueBook.Counts"/>, the one place items are counted) and
/// the rate its dispatch's limits allow: the drain time and workers worth running come from the planner
/// (<see cref="WorkPlan"/>) over what is left, with the measured processing time (the definition's before any ack).
/// </summary>
internal static class QueueStatistics
{
    /// <summary>The statistics of <paramref name="book"/> at <paramref name="now"/>.</summary>
    public static QueueStats Of(QueueBook book, QueueDefinition definition, double? allowedPerMinute, DateTimeOffset now)
    {
        var counts = book.Counts();
        var perSecond = allowedPerMinute / 60;
        var processing = book.MeasuredProcessingTime is { } measured && measured > TimeSpan.Zero ? measured : definition.ProcessingTime;
        var plan = WorkPlan.Of(counts.Remaining, perSecond, processing, null, definition.MaxWorkers);
        var (met, missed) = book.Deadlines(now, perSecond, processing);
        return new QueueStats
        {
            Depth = counts.Depth(),
            InFlight = counts.InFlight,
            Retrying = counts.Retrying,
            Dead = counts.Dead,
            OldestAgeMs = counts.Oldest is { } oldest ? (long)(now - oldest).TotalMilliseconds : 0,
            AdmittedPerMinute = book.HandedOutInLastMinute(now),
            AllowedPerMinute = allowedPerMinute,
            DrainTimeMs = (long)plan.FinishTime.TotalMilliseconds,
            DeadlinesMet = met,
            DeadlinesMissed = missed,
            DesiredWorkers = plan.Workers,
            Expired = book.Expired,
            Acked = book.Acked,
            ProcessingTime = processing,
        };
    }
}
