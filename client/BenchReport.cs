using System.Globalization;

namespace Quota.Cli;

/// <summary>
/// The result of <c>quota bench</c>, printed as one JSON object with <c>--json</c> (camelCase property names, as
/// documented in docs/benchmarks.md). Counts at the top level are the measured phase's; <see cref="Run"/> and
/// <see cref="Limited"/> cover the whole run, warmup included.
/// </summary>
/// <param name="Url">The service's address.</param>
/// <param name="Prefix">Every subject's name starts with this and '-'.</param>
/// <param name="Workers">Requests in flight.</param>
/// <param name="Keys">Distinct ordinary users.</param>
/// <param name="HotShare">The share of requests naming the hot user.</param>
/// <param name="Subjects">Subjects per request.</param>
/// <param name="Cost">Permits per request.</param>
/// <param name="WarmupSeconds">Unmeasured time first.</param>
/// <param name="DurationSeconds">Measured time asked for.</param>
/// <param name="MeasuredSeconds">Measured time: the duration, or less when cancelled.</param>
/// <param name="Cancelled">Whether the run was cancelled before its end.</param>
/// <param name="Requests">Measured requests: sent in the measured phase and answered (or failed) before it ended.</param>
/// <param name="Admitted">Measured requests answered 200.</param>
/// <param name="Denied">Measured requests answered 429.</param>
/// <param name="Errors">Measured requests with any other answer or none.</param>
/// <param name="DecisionsPerSecond">(admitted + denied) ÷ measured seconds.</param>
/// <param name="AdmittedShare">admitted ÷ (admitted + denied); 0 without decisions.</param>
/// <param name="LatencyUs">Latency of the measured requests in microseconds.</param>
/// <param name="Run">Answers of the whole run.</param>
/// <param name="ErrorKinds">The first distinct errors of the whole run, with counts.</param>
/// <param name="OtherErrors">Errors of the whole run not of those kinds.</param>
/// <param name="LimitedSummary">How the limited subjects compare with their limits.</param>
/// <param name="Limited">The limited subjects, most denials first (at most <see cref="BenchReport.MaxListed"/>).</param>
internal sealed record BenchReport(
    string Url,
    string Prefix,
    int Workers,
    int Keys,
    double HotShare,
    int Subjects,
    long Cost,
    double WarmupSeconds,
    double DurationSeconds,
    double MeasuredSeconds,
    bool Cancelled,
    long Requests,
    long Admitted,
    long Denied,
    long Errors,
    double DecisionsPerSecond,
    double AdmittedShare,
    BenchLatency LatencyUs,
    BenchTotals Run,
    IReadOnlyList<BenchError> ErrorKinds,
    long OtherErrors,
    BenchLimitedSummary LimitedSummary,
    IReadOnlyList<BenchLimited> Limited)
{
    /// <summary>The most limited subjects <c>--json</c> lists; the summary counts them all.</summary>
    public const int MaxListed = 1000;
}

/// <summary>Latency percentiles (nearest rank), the mean and the maximum, in microseconds; all 0 without samples.</summary>
/// <param name="Samples">How many requests were measured.</param>
/// <param name="P50">Median.</param>
/// <param name="P99">99th percentile.</param>
/// <param name="P999">99.9th percentile.</param>
/// <param name="Max">Slowest.</param>
/// <param name="Mean">Mean.</param>
internal sealed record BenchLatency(long Samples, double P50, double P99, double P999, double Max, double Mean);

/// <summary>Answers over the whole run: warmup, measured phase and the requests still in flight at its end.</summary>
/// <param name="Seconds">From the first request sent to the last answer received.</param>
/// <param name="Requests">All requests.</param>
/// <param name="Admitted">Answered 200.</param>
/// <param name="Denied">Answered 429.</param>
/// <param name="Errors">Any other answer, or none.</param>
internal sealed record BenchTotals(double Seconds, long Requests, long Admitted, long Denied, long Errors);

/// <summary>One kind of error and how often it occurred.</summary>
/// <param name="Message">What happened: the transport failure, or the HTTP status with the problem's title and detail.</param>
/// <param name="Count">How often.</param>
internal sealed record BenchError(string Message, long Count);

/// <summary>How the limited subjects compare with their limits.</summary>
/// <param name="Subjects">Subjects that denied at least one request.</param>
/// <param name="Comparable">Of those, how many have a limit that could not refill during the run.</param>
/// <param name="Exact">Comparable ones that admitted exactly what their limit allows.</param>
/// <param name="Above">Comparable ones that admitted more: the limiter let too much through.</param>
/// <param name="Below">Comparable ones that admitted less (their counters may hold earlier runs' use: <c>--prefix</c>).</param>
internal sealed record BenchLimitedSummary(int Subjects, int Comparable, int Exact, int Above, int Below);

/// <summary>
/// A subject that denied at least one request, with the tightest policy that denied it (the smallest limit) as the
/// answers reported it. Counted over the whole run, warmup included, because the limit counted all of it.
/// </summary>
/// <param name="Subject">Its label, e.g. <c>user:bench-3f9a1c-hot</c>.</param>
/// <param name="Policy">The denying policy's name.</param>
/// <param name="Algorithm">Its algorithm.</param>
/// <param name="Limit">Its limit (a token bucket's burst).</param>
/// <param name="WindowSeconds">Its window or calendar period; null for concurrency.</param>
/// <param name="Admitted">Requests naming the subject that were admitted.</param>
/// <param name="Denied">Requests the subject denied (by any of its policies).</param>
/// <param name="AdmittedPerLimit">
/// admitted ÷ (limit ÷ cost, rounded down), when the limit could not refill during the run: exactly 1 for a correct
/// limiter; null otherwise.
/// </param>
/// <param name="NotComparable">Why <paramref name="AdmittedPerLimit"/> is null; null when it is not.</param>
internal sealed record BenchLimited(
    string Subject,
    string Policy,
    string Algorithm,
    long Limit,
    long? WindowSeconds,
    long Admitted,
    long Denied,
    double? AdmittedPerLimit,
    string? NotComparable)
{
    /// <summary>
    /// Why admitted ÷ limit says nothing about the limiter's accuracy for this policy and run; null when it does,
    /// that is when the limit counts permits per window and no refill could happen between the run's start and end.
    /// </summary>
    /// <param name="algorithm">The policy's algorithm.</param>
    /// <param name="windowSeconds">Its window or period in seconds.</param>
    /// <param name="runStart">When the run started, by this machine's clock.</param>
    /// <param name="runSpan">From the run's first request to its last answer.</param>
    public static string? WhyNotComparable(string algorithm, long? windowSeconds, DateTimeOffset runStart, TimeSpan runSpan)
    {
        switch (algorithm)
        {
            case "token-bucket":
                return "a token bucket refills continuously (limit per window on top of its burst), and answers report the burst, not the rate";
            case "concurrency":
                return "a concurrency limit counts permits held at once, and bench holds its leases until they expire";
            case "calendar":
                return "a calendar period restarts at a boundary of its time zone, which answers do not give; compare by hand";
            case "sliding-log" or "sliding-window" or "fixed-window":
                break;
            default:
                return $"the algorithm '{algorithm}' is not one bench knows";
        }

        if (windowSeconds is not { } seconds || seconds <= 0)
        {
            return "the answers reported no window";
        }

        var window = TimeSpan.FromSeconds(seconds);
        if (window < runSpan)
        {
            return $"its window ({Seconds(window)}) is shorter than the run ({Seconds(runSpan)}), so it refilled during the run";
        }

        // Fixed and two-bucket sliding windows are aligned to multiples of the window since the Unix epoch: a
        // boundary inside the run starts a fresh window (a sliding log has no boundaries).
        if (algorithm != "sliding-log")
        {
            var first = runStart.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
            var last = first + runSpan.Ticks;
            if (first / window.Ticks != last / window.Ticks)
            {
                return $"a window boundary (every {Seconds(window)} since the Unix epoch, by this machine's clock) fell inside the run, so it refilled";
            }
        }

        return null;
    }

    private static string Seconds(TimeSpan span) =>
        span.TotalSeconds >= 100 ? $"{span.TotalSeconds.ToString("N0", CultureInfo.InvariantCulture)} s" : $"{span.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s";
}
