namespace Quota.Algorithms.Planning;

/// <summary>
/// Whether a batch of work fits a deadline under a rate limit, when it finishes, and how many workers to run.
/// </summary>
/// <remarks>
/// <para>The model: items are admitted at most at the limits' steady rate (<c>items / rate</c> is the earliest the
/// last is admitted; a fresh window's burst can make a real run a little earlier, never later for this reason), and
/// each worker processes one item at a time for the processing time (<c>ceil(items / workers) * time</c>). The finish
/// is the later of the two.</para>
/// <para>Workers the limits can use: <c>ceil(rate * time)</c>, the most busy at once at the steady rate; more only
/// wait. Workers the deadline needs: the fewest whose processing alone finishes by it. The plan runs the smallest of
/// those and the maximum allowed. 108 items at 20 per minute, 10 s each, a 3-minute deadline and 10 workers at most:
/// the limits alone need 5.4 minutes, so it is not feasible; 4 workers can be kept busy, 6 would be needed for the
/// deadline, so 4 run and finish in 5.4 minutes.</para>
/// </remarks>
/// <param name="Feasible">True when the work finishes by the deadline (always, without one).</param>
/// <param name="FinishTime">When the last item finishes, from now, with <see cref="Workers"/> workers; <see cref="TimeSpan.MaxValue"/> when that is past what a TimeSpan holds.</param>
/// <param name="Workers">Workers to run: the smallest of <see cref="WorkersForDeadline"/>, <see cref="WorkersUsable"/> and the maximum; 0 for no items.</param>
/// <param name="WorkersForDeadline">Workers whose processing alone meets the deadline; null without a deadline or when no number can.</param>
/// <param name="WorkersUsable">Workers the limits can keep busy; null when no rate applies.</param>
/// <param name="LimitedBy"><c>rate</c> when the limits decide the finish, <c>workers</c> when processing does, <c>none</c> for no items.</param>
public sealed record WorkPlan(bool Feasible, TimeSpan FinishTime, int Workers, int? WorkersForDeadline, int? WorkersUsable, string LimitedBy)
{
    /// <summary>Plans <paramref name="items"/> items.</summary>
    /// <param name="items">Items to process; 0 or more.</param>
    /// <param name="perSecond">The limits' steady rate in items per second; null when nothing limits the rate. More than 0.</param>
    /// <param name="processingTime">The time one item takes; more than zero.</param>
    /// <param name="deadline">The time the work must be done by, from now; null for none.</param>
    /// <param name="maxWorkers">The most workers that may run; at least 1.</param>
    public static WorkPlan Of(long items, double? perSecond, TimeSpan processingTime, TimeSpan? deadline, int maxWorkers)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(items);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWorkers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(processingTime, TimeSpan.Zero);
        if (perSecond is <= 0 or double.NaN)
        {
            throw new ArgumentOutOfRangeException(nameof(perSecond), perSecond, "a rate is more than 0, or null for none.");
        }

        if (items == 0)
        {
            return new WorkPlan(true, TimeSpan.Zero, 0, 0, 0, "none");
        }

        var seconds = processingTime.TotalSeconds;
        int? usable = perSecond is { } rate ? (int)Math.Min(int.MaxValue, Math.Ceiling(Round(rate * seconds))) : null;

        int? forDeadline = null;
        if (deadline is { } by)
        {
            // Items one worker finishes by the deadline; none: no number of workers can meet it.
            var perWorker = (long)Math.Floor(Round(by.TotalSeconds / seconds));
            forDeadline = perWorker > 0 ? (int)Math.Min(int.MaxValue, (items + perWorker - 1) / perWorker) : null;
        }

        var workers = Math.Min(maxWorkers, Math.Min(usable ?? int.MaxValue, forDeadline ?? usable ?? int.MaxValue));
        workers = (int)Math.Max(1, Math.Min(workers, items));
        var byRate = perSecond is { } r ? Saturated(Round(items / r)) : TimeSpan.Zero;
        var byWorkers = Saturated(seconds * ((items + workers - 1) / workers));
        var finish = byRate > byWorkers ? byRate : byWorkers;
        return new WorkPlan(deadline is null || finish <= deadline, finish, workers, forDeadline, usable, byRate >= byWorkers ? "rate" : "workers");
    }

    // A finish past what a TimeSpan holds (about 29,000 years: a rate of 1e-300 a second, or 2^31 items of a day each
    // on one worker) is TimeSpan.MaxValue, "not in any time that matters", rather than an overflow.
    private static TimeSpan Saturated(double seconds) =>
        seconds >= TimeSpan.MaxValue.TotalSeconds ? TimeSpan.MaxValue : TimeSpan.FromSeconds(seconds);

    // Rounded to a microsecond: 20/60 * 10 must be 3.333..., not 3.3333333333333335 rounded up past an integer when it
    // is one (e.g. 0.1 * 30 = 3.0000000000000004 would ask for 4 workers instead of 3).
    private static double Round(double value) => Math.Round(value, 6);
}
