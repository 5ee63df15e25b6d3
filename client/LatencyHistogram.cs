using System.Numerics;

namespace Quota.Cli;

/// <summary>
/// Latencies counted in buckets of fixed memory (about 440 KB whatever the run's length), safe to record into from
/// many threads at once. Values are in 100 ns units (<see cref="TimeSpan.Ticks"/>): exact below 2,048 (204.8 µs),
/// and above that within 1/1,024 (0.1%) of the true value, because each power of two is split into 1,024 equal
/// sub-buckets. A percentile reports the highest value of its bucket, so it never understates a latency.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBits = 10;
    private const int SubCount = 1 << SubBits;

    // Index of the largest representable value (long.MaxValue): shift 52, sub-bucket 1,023.
    private static readonly int BucketCount = IndexOf(long.MaxValue) + 1;

    private readonly long[] _counts = new long[BucketCount];
    private long _total;
    private long _sum;
    private long _max;

    /// <summary>How many values were recorded.</summary>
    public long Count => Interlocked.Read(ref _total);

    /// <summary>Records one latency; negative values count as 0.</summary>
    public void Record(TimeSpan latency)
    {
        var value = Math.Max(0, latency.Ticks);
        Interlocked.Increment(ref _counts[IndexOf(value)]);
        Interlocked.Increment(ref _total);
        Interlocked.Add(ref _sum, value);
        var max = Interlocked.Read(ref _max);
        while (value > max)
        {
            var seen = Interlocked.CompareExchange(ref _max, value, max);
            if (seen == max)
            {
                break;
            }

            max = seen;
        }
    }

    /// <summary>The largest value recorded, exactly; zero when none was.</summary>
    public TimeSpan Max => TimeSpan.FromTicks(Interlocked.Read(ref _max));

    /// <summary>The mean, exactly; zero when nothing was recorded.</summary>
    public TimeSpan Mean => Count == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(Interlocked.Read(ref _sum) / Count);

    /// <summary>
    /// The nearest-rank percentile: the smallest bucket holding at least <paramref name="fraction"/> of all values,
    /// reported as that bucket's highest value (never above <see cref="Max"/>). Zero when nothing was recorded.
    /// Read it once recording has stopped.
    /// </summary>
    /// <param name="fraction">Between 0 and 1, e.g. 0.999 for p99.9.</param>
    public TimeSpan Percentile(double fraction)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fraction, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(fraction, 1);
        var total = Count;
        if (total == 0)
        {
            return TimeSpan.Zero;
        }

        var rank = Math.Max(1, (long)Math.Ceiling(fraction * total));
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return TimeSpan.FromTicks(Math.Min(HighestIn(i), Interlocked.Read(ref _max)));
            }
        }

        return Max;
    }

    private static int IndexOf(long value)
    {
        if (value < 2 * SubCount)
        {
            return (int)value;
        }

        // The top SubBits + 1 bits of the value select the bucket; the bits below are what the bucket rounds away.
        var shift = 63 - BitOperations.LeadingZeroCount((ulong)value) - SubBits;
        var sub = (int)(value >> shift);
        return ((shift + 1) * SubCount) + (sub - SubCount);
    }

    private static long HighestIn(int index)
    {
        if (index < 2 * SubCount)
        {
            return index;
        }

        var shift = (index / SubCount) - 1;
        var sub = (ulong)((index % SubCount) + SubCount);

        // Unsigned: the top bucket's next boundary is 2^63, one past long.MaxValue.
        return (long)(((sub + 1) << shift) - 1);
    }
}
