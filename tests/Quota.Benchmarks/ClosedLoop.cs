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
        var stop = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var histograms = new LatencyHistogram[workers];
        var admitted = new long[workers];
        async Task WorkAsync(int w)
        {
            var random = new Random(w);
            var mine = histograms[w] = new LatencyHistogram();
            while (Stopwatch.GetTimestamp() < stop)
            {
                var begin = Stopwatch.GetTimestamp();
                if (await call(random.Next(keys)))
                {
                    admitted[w]++;
                }

                mine.Record(Stopwatch.GetTimestamp() - begin);
            }
        }

        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => ownThreads ? OnOwnThread(() => WorkAsync(w)) : Task.Run(() => WorkAsync(w))));
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var all = new LatencyHistogram();
        foreach (var histogram in histograms)
        {
            all.Add(histogram);
        }

        return new LoadResult(all.Count, admitted.Sum(), elapsed, all);
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
