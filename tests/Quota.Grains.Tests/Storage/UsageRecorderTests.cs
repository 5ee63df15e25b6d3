using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Quota.Grains.Storage;

namespace Quota.Grains.Tests.Storage;

/// <summary>
/// The usage-history buffer while the database fails (README, "Database down"): rows a failed batch could not write
/// wait in a buffer of <c>Quota:Storage:BufferCapacity</c>, 100,000 rows by default; beyond it the oldest minutes are
/// dropped, and counted in <c>quota.storage.usage_rows_dropped</c>.
/// </summary>
public sealed class UsageRecorderTests : IDisposable
{
    private static readonly DateTimeOffset Noon = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private readonly TestMeters _meters = new();
    private readonly MeterListener _listener = new();
    private long _dropped;

    public UsageRecorderTests()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == "quota.storage.usage_rows_dropped" && ReferenceEquals(instrument.Meter.Scope, _meters))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _dropped, value));
        _listener.Start();
    }

    public void Dispose()
    {
        _listener.Dispose();
        _meters.Dispose();
    }

    [Fact]
    public void The_default_buffer_holds_100000_rows_and_drops_and_counts_the_oldest_beyond_that()
    {
        var options = new DurabilityOptions();
        Assert.Equal(100_000, options.BufferCapacity);
        var recorder = new UsageRecorder(Options.Create(options), new QuotaInstruments(_meters));

        // A failed batch of 100,005 minutes of one subject: the five oldest are dropped, and counted.
        Assert.Equal(100_000, recorder.PutBack(Rows(0, 100_005)));
        Assert.Equal(5, Interlocked.Read(ref _dropped));

        // Another failed batch of two newer minutes: two more of the oldest go.
        Assert.Equal(100_000, recorder.PutBack(Rows(100_005, 2)));
        Assert.Equal(7, Interlocked.Read(ref _dropped));

        // What the next batch carries: exactly the 100,000 newest minutes, each row intact.
        var batch = recorder.TakeBatch(Noon.AddMinutes(100_007));
        Assert.Equal(100_000, batch.Count);
        Assert.Equal(Noon.AddMinutes(7), batch.Min(r => r.Minute));
        Assert.Equal(Noon.AddMinutes(100_006), batch.Max(r => r.Minute));
        Assert.All(batch, r => Assert.Equal(new UsageRow("user:alice", r.Minute, 3, 1, 4), r));
    }

    [Fact]
    public void Rows_within_the_buffer_are_kept_and_none_counted_as_dropped()
    {
        var recorder = new UsageRecorder(Options.Create(new DurabilityOptions()), new QuotaInstruments(_meters));

        Assert.Equal(100_000, recorder.PutBack(Rows(0, 100_000)));
        Assert.Equal(0, Interlocked.Read(ref _dropped));
        Assert.Equal(100_000, recorder.TakeBatch(Noon.AddMinutes(100_000)).Count);
    }

    private static IEnumerable<UsageRow> Rows(int first, int count) =>
        Enumerable.Range(first, count).Select(i => new UsageRow("user:alice", Noon.AddMinutes(i), 3, 1, 4));

    /// <summary>Meters made for this test alone, so its listener hears no other test's instruments.</summary>
    private sealed class TestMeters : IMeterFactory
    {
        private readonly List<Meter> _made = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, this);
            _made.Add(meter);
            return meter;
        }

        public void Dispose()
        {
            foreach (var meter in _made)
            {
                meter.Dispose();
            }
        }
    }
}
