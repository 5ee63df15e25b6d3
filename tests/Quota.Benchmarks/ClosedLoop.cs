using System.Diagnostics;
using System.Numerics;

namespace Quota.Benchmarks;

/// <summary>
/// The closed loop every load command uses: <c>workers</c> callers, each issuing its next call as soon as the previous
/// one answers, for a fixed time; each picks one of <c>keys</c> keys at random (its own seeded generator) per call.
/// </summary>
internal static class ClosedLoop
{
    /// <summary>
    /// Runs <paramref name="call"/> (given a key index, answering whether it was admitted) in a closed loop. With
    /// <paramref name="ownThreads"/> each worker runs on a thread of its own instead of the thread pool: for calls that
    /// complete synchronously (an in-process limiter), whose loops never give their thread back. On the pool such loops
    /// hold every worker thread for the whole run, the pool injects more, and those stay for about 20 s, taxing every
    /// asynchronous client this process measures next (on two cores, about 1.4x fewer Quota decisions a second in the
    /// round right after one).
    /// </summary>
    public static async Task<LoadResult> MeasureAsync(Func<int, Task<bool>> call, int workers, int keys, TimeSpan duration, bool ownThreads = false)
    {
        // The call's own task, classified after it completes: no wrapper per call in the loop being measured.
        var run = await RunAsync((_, key) => call(key), static admitted => admitted ? 0 : 1, workers, keys, outcomes: 2, duration, ownThreads: ownThreads);
        var all = run.Latencies();
        return new LoadResult(all.Count, run.Latencies(outcome: 0).Count, run.Seconds, all);
    }

    /// <summary>
    /// Runs <paramref name="call"/> (given the worker's index and a key index) in a closed loop and times every call by
    /// its outcome (<paramref name="outcome"/> of its answer, from 0 to <paramref name="outcomes"/> - 1). The callers run
    /// for <paramref name="warmup"/> first without recording, then for <paramref name="duration"/>; a call is recorded
    /// when it ends after the warm-up. <see cref="LoopRun.Seconds"/> runs from the end of the warm-up to the last answer.
    /// With <paramref name="pauseAfter"/> a caller waits as long as it says after an answer before its next call (a
    /// client honouring <c>Retry-After</c>); the pause is not part of any call's latency.
    /// </summary>
    public static async Task<LoopRun> RunAsync<T>(
        Func<int, int, Task<T>> call, Func<T, int> outcome, int workers, int keys, int outcomes, TimeSpan duration, TimeSpan warmup = default, bool ownThreads = false,
        Func<T, TimeSpan>? pauseAfter = null)
    {
        var started = Stopwatch.GetTimestamp();
        var recordFrom = started + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        var stop = recordFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var histograms = new LatencyHistogram?[workers][];
        async Task WorkAsync(int w)
        {
            var random = new Random(w);

            // One histogram per outcome seen, made at its first call: a run of thousands of callers would otherwise
            // take 68 KB per caller for outcomes that never come (errors).
            var mine = histograms[w] = new LatencyHistogram?[outcomes];
            while (Stopwatch.GetTimestamp() < stop)
            {
                var begin = Stopwatch.GetTimestamp();
                var answer = await call(w, random.Next(keys));
                var end = Stopwatch.GetTimestamp();
                if (end >= recordFrom)
                {
                    (mine[outcome(answer)] ??= new LatencyHistogram()).Record(end - begin);
                }

                if (pauseAfter?.Invoke(answer) is { } pause && pause > TimeSpan.Zero)
                {
                    await Task.Delay(pause);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => ownThreads ? OnOwnThread(() => WorkAsync(w)) : Task.Run(() => WorkAsync(w))));
        return new LoopRun(histograms, Stopwatch.GetElapsedTime(recordFrom).TotalSeconds);
    }

    private static Task OnOwnThread(Func<Task> work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                work().GetAwaiter().GetResult();
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        { IsBackground = true, Name = "closed-loop worker" };
        thread.Start();
        return done.Task;
    }
}

/// <summary>What a closed loop recorded: each caller's latencies by outcome.</summary>
internal sealed class LoopRun(LatencyHistogram?[][] histograms, double seconds)
{
    /// <summary>Wall time from the end of the warm-up to the last answer.</summary>
    public double Seconds { get; } = seconds;

    /// <summary>
    /// The latencies, in <see cref="Stopwatch"/> ticks, of the calls with <paramref name="outcome"/> (every outcome when
    /// null) made by the callers <paramref name="workers"/> picks by index (every caller when null), together.
    /// </summary>
    public LatencyHistogram Latencies(int? outcome = null, Func<int, bool>? workers = null)
    {
        var all = new LatencyHistogram();
        for (var w = 0; w < histograms.Length; w++)
        {
            if (workers?.Invoke(w) == false)
            {
                continue;
            }

            for (var o = 0; o < histograms[w].Length; o++)
            {
                if ((outcome is null || outcome == o) && histograms[w][o] is { } histogram)
                {
                    all.Add(histogram);
                }
            }
        }

        return all;
    }
}

/// <summary>What one closed-loop run measured.</summary>
/// <param name="Calls">Calls answered.</param>
/// <param name="Admitted">Calls answered "admitted".</param>
/// <param name="Seconds">Wall time from the first call to the last answer.</param>
/// <param name="Latencies">Every call's latency, in <see cref="Stopwatch"/> ticks.</param>
internal sealed record LoadResult(long Calls, long Admitted, double Seconds, LatencyHistogram Latencies)
{
    /// <summary>Calls answered per second.</summary>
    public double Rate => Calls / Seconds;

    /// <summary>The share of calls admitted (0 to 1).</summary>
    public double AdmittedShare => Calls == 0 ? 0 : (double)Admitted / Calls;

    /// <summary>The latency at quantile <paramref name="q"/> (0.5, 0.99, …) in microseconds.</summary>
    public double Micros(double q) => Latencies.Quantile(q) * 1e6 / Stopwatch.Frequency;
}

/// <summary>
/// Latencies in buckets of bounded relative width, so a run of tens of millions of calls costs a fixed 68 KB per
/// caller instead of a list to sort: values below 256 ticks are exact; above, each power of two is split into 256
/// buckets (a quantile is off by less than 0.4%). Values from 2^41 ticks (about 37 minutes at 1 ns a tick) share the
/// last bucket. Not thread-safe: one per caller, added together at the end.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBits = 8;
    private const int MaxBit = 40;
    private readonly long[] _counts = new long[(MaxBit - SubBits + 2) << SubBits];

    /// <summary>Values recorded.</summary>
    public long Count { get; private set; }

    /// <summary>Records one value (negative values count as 0).</summary>
    public void Record(long ticks)
    {
        _counts[Index(Math.Max(0, ticks))]++;
        Count++;
    }

    /// <summary>Adds every value <paramref name="other"/> recorded.</summary>
    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
    }

    /// <summary>
    /// The value at quantile <paramref name="q"/>: the middle of the bucket holding the value at rank ⌊q·n⌋ of the
    /// sorted values (0-based, the last value for q = 1); 0 when nothing was recorded.
    /// </summary>
    public double Quantile(double q)
    {
        if (Count == 0)
        {
            return 0;
        }

        var rank = Math.Min(Count - 1, (long)(q * Count));
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen > rank)
            {
                var (low, width) = Bucket(i);
                return low + ((width - 1) / 2.0);
            }
        }

        throw new InvalidOperationException("unreachable: the counts sum to Count");
    }

    private static int Index(long value)
    {
        if (value < 1L << SubBits)
        {
            return (int)value;
        }

        var top = Math.Min(63 - BitOperations.LeadingZeroCount((ulong)value), MaxBit);
        var shift = top - SubBits;
        var sub = (int)Math.Min((value >> shift) - (1L << SubBits), (1L << SubBits) - 1);
        return ((shift + 1) << SubBits) + sub;
    }

    private static (long Low, long Width) Bucket(int index)
    {
        var block = index >> SubBits;
        var sub = index & ((1 << SubBits) - 1);
        return block == 0 ? (sub, 1) : ((long)(sub + (1 << SubBits)) << (block - 1), 1L << (block - 1));
    }
}
