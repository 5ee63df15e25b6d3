namespace Quota.Server.Http;

/// <summary>
/// How long work waits in this process's thread-pool queue before it runs: the wait an HTTP request spends between
/// arriving on its socket and reaching the <see cref="RequestGate"/>, which no count of requests in flight can see (at
/// 3,000 connections on two cores fewer than 250 requests were ever inside the pipeline at once while each waited
/// ~250 ms in the queue; docs/benchmarks.md, "Overload").
/// </summary>
/// <remarks>
/// <para>
/// A probe is a no-op work item queued every <c>interval</c> from a thread of its own (so the probing does not wait in
/// the queue it measures); its wait is the queue's delay at that moment. While a probe is still queued the delay is at
/// least its age, so a queue that suddenly stalls is seen within one interval, not only when the stalled probe finally
/// runs: <see cref="Current"/> is the larger of the last probe's wait and the age of the probe in the queue.
/// </para>
/// <para>
/// The arithmetic is in <see cref="Probe"/>, which takes timestamps as arguments so tests drive it exactly; this class
/// only sends the probes. One work item per interval (10 ms by default) costs nothing measurable.
/// </para>
/// </remarks>
public sealed class QueueDelay : IDisposable
{
    private readonly Probe _probe;
    private readonly TimeSpan _interval;
    private readonly Thread? _sender;
    private readonly ManualResetEventSlim _stop = new();

    /// <summary>Measures the thread pool's queue every <paramref name="interval"/> (nothing when it is zero).</summary>
    public QueueDelay(TimeSpan interval)
    {
        _probe = new Probe(TimeProvider.System);
        _interval = interval;
        if (interval > TimeSpan.Zero)
        {
            _sender = new Thread(Send) { IsBackground = true, Name = "Quota queue-delay probe" };
            _sender.Start();
        }
    }

    /// <summary>The thread pool's queue delay now (zero when not measured).</summary>
    public TimeSpan Current => _probe.Current(TimeProvider.System.GetTimestamp());

    /// <inheritdoc />
    public void Dispose()
    {
        _stop.Set();
        _sender?.Join();
        _stop.Dispose();
    }

    private void Send()
    {
        Action ran = () => _probe.Ran(TimeProvider.System.GetTimestamp());
        while (!_stop.Wait(_interval))
        {
            if (_probe.TrySend(TimeProvider.System.GetTimestamp()))
            {
                ThreadPool.UnsafeQueueUserWorkItem(static run => run(), ran, preferLocal: false);
            }
        }
    }

    /// <summary>
    /// The queue-delay arithmetic: at most one probe in the queue at a time; the delay is the larger of the last probe's
    /// wait and the age of the probe still queued. Thread-safe: one sender, any number of readers.
    /// </summary>
    public sealed class Probe(TimeProvider time)
    {
        private long _sentAt;     // timestamp of the probe in the queue, 0 when none is
        private long _lastWait;   // the last probe's wait, in timestamp ticks

        /// <summary>Records a probe sent at <paramref name="now"/>; false (send nothing) while the last is still queued.</summary>
        public bool TrySend(long now) => Interlocked.CompareExchange(ref _sentAt, Math.Max(1, now), 0) == 0;

        /// <summary>The queued probe ran at <paramref name="now"/>.</summary>
        public void Ran(long now)
        {
            var sentAt = Volatile.Read(ref _sentAt);
            Volatile.Write(ref _lastWait, Math.Max(0, now - sentAt));
            Volatile.Write(ref _sentAt, 0);
        }

        /// <summary>The delay at <paramref name="now"/>: the last probe's wait, or the queued probe's age if that is longer.</summary>
        public TimeSpan Current(long now)
        {
            var sentAt = Volatile.Read(ref _sentAt);
            var wait = Volatile.Read(ref _lastWait);
            if (sentAt != 0)
            {
                wait = Math.Max(wait, now - sentAt);
            }

            return wait <= 0 ? TimeSpan.Zero : time.GetElapsedTime(0, wait);
        }
    }
}
