using Quota.Grains.Storage;

namespace Quota.Grains.Subjects;

/// <summary>
/// A subject's write-behind checkpoints of its durable counters (the PostgreSQL mode): at most one write in flight,
/// another asked for meanwhile follows it; a write when a counter nears its written ceiling, not on a timer; on failure,
/// retries backing off while decisions go on from memory; a request that would pass the written ceiling waits for the
/// write that covers it. Plain code without Orleans: storage, timers and the activation are the
/// <see cref="ICheckpointStore"/>'s, time is the <see cref="TimeProvider"/> given.
/// </summary>
/// <remarks>
/// <para><b>States</b> (<see cref="CheckpointPhase"/>): <c>Idle</c> (nothing running, the last write went through or
/// none was needed), <c>Writing</c> (a run of writes in progress, from its start to its end, also while the run is still
/// in its first synchronous part: a storage that completes at once runs it whole there), <c>Failing</c> (the last write
/// failed; the retry timer is armed and only it, a ceiling wait or an explicit <see cref="CheckpointAsync"/> starts
/// another), <c>RetryWriting</c> (a run in progress after a failure: still failing until a write goes through), and
/// <c>Closed</c> (the activation is going: no more timers, one last exact write).</para>
/// <para><b>Data beside the state:</b> whether counters changed since the last write was computed (dirty), whether
/// another write was asked for during a run (again), and the permits taken during the write in flight.</para>
/// <para>Made when a subject first has durable counters to write: most subjects never have.</para>
/// </remarks>
internal sealed class CheckpointWriter(ICheckpointStore store, SubjectLimits limits, TimeProvider time, TimeSpan retryInterval, Random jitter)
{
    /// <summary>A request waiting at a durable counter's ceiling waits for at most this many checkpoints.</summary>
    public const int MaxCeilingWaits = 10;

    /// <summary>How long each of those waits may last before the decision goes ahead from memory.</summary>
    public static readonly TimeSpan CeilingWaitTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The longest delay between retries of a failing write.</summary>
    public static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    private CheckpointPhase _phase;
    private bool _closed;
    private bool _dirty;
    private bool _again;
    private long _permitsWhileWriting;
    private TimeSpan _retryDelay;
    private Task? _running;

    // Completed and cleared each time a write finishes (successfully or not); made by whoever waits for one.
    private TaskCompletionSource? _writeFinished;

    /// <summary>The counters' claims and what was last written.</summary>
    public DurableCounters Counters { get; } = new();

    /// <summary>Where the writer is now.</summary>
    public CheckpointPhase Phase => _closed ? CheckpointPhase.Closed : _phase;

    /// <summary>Whether a run of writes is in progress.</summary>
    public bool Running => _phase is CheckpointPhase.Writing or CheckpointPhase.RetryWriting;

    /// <summary>Whether the last write failed (and none has gone through since).</summary>
    public bool Failing => _phase is CheckpointPhase.Failing or CheckpointPhase.RetryWriting;

    /// <summary>Whether counters changed since the last write was computed.</summary>
    public bool Dirty => _dirty;

    /// <summary>
    /// Whether a request for <paramref name="cost"/> must wait for a checkpoint: every policy would admit it now (a
    /// request another policy denies is answered at once, and waits for nothing), and it would take a durable counter
    /// past its written ceiling while the database takes writes.
    /// </summary>
    public bool MustWaitForCeiling(long cost, DateTimeOffset now) =>
        !Failing && limits.HasDurable && Counters.WouldPassCeiling(limits.Limiters, cost, now) && limits.Fits(cost, now);

    /// <summary>
    /// Waits for the checkpoint writes in flight, with <paramref name="cost"/> reserved in every claim they write.
    /// False when the database fails or does not answer within <see cref="CeilingWaitTimeout"/> (real time: it bounds a
    /// caller's wait): the decision then goes ahead from memory, as during an outage.
    /// </summary>
    public async Task<bool> WaitForCeilingAsync(long cost)
    {
        Counters.Demand += cost;
        try
        {
            await WriteUntilCoveredAsync(cost).WaitAsync(CeilingWaitTimeout);
            return !Failing;
        }
        catch (TimeoutException)
        {
            return false;
        }
        finally
        {
            Counters.Demand -= cost;
        }
    }

    /// <summary>
    /// For a request for <paramref name="cost"/> that must wait at the ceiling (<see cref="MustWaitForCeiling"/>):
    /// waits for the checkpoints that claim it, checking again after each with the time <paramref name="clock"/> reads
    /// (by then the subject may have admitted others into what the write claimed), at most
    /// <see cref="MaxCeilingWaits"/> of them.
    /// </summary>
    public async Task<CeilingWait> WaitUnderCeilingAsync(long cost, Func<DateTimeOffset> clock)
    {
        for (var waits = 1; waits <= MaxCeilingWaits; waits++)
        {
            if (!await WaitForCeilingAsync(cost))
            {
                return CeilingWait.FromMemory;
            }

            if (!MustWaitForCeiling(cost, clock()))
            {
                return CeilingWait.Covered;
            }
        }

        return CeilingWait.UsedUp;
    }

    /// <summary>
    /// A durable counter may have moved by <paramref name="permits"/>: start a write if a counter nears its written
    /// ceiling. Never waits: the write runs beside the decisions. While writes fail, only the retry starts one.
    /// </summary>
    public void CountersChanged(DateTimeOffset now, long permits)
    {
        _dirty = true;
        if (Running)
        {
            _permitsWhileWriting += permits;
        }

        if (!Failing && Counters.NeedsWriteNow(limits.Limiters, now))
        {
            Start();
        }
    }

    /// <summary>Starts a run of writes, or asks the run in progress for one more.</summary>
    public void Start()
    {
        if (Running)
        {
            _again = true;
            return;
        }

        // A storage may complete a write at once (a pooled connection with the answer already read): the run has then
        // finished before it returns, and its completed task is not kept as a write in flight.
        _phase = _phase == CheckpointPhase.Failing ? CheckpointPhase.RetryWriting : CheckpointPhase.Writing;
        var run = RunAsync();
        _running = run.IsCompleted ? null : run;
    }

    /// <summary>The retry timer's call (or anyone's): writes what changed; completes when the run in progress ends.</summary>
    public Task CheckpointAsync()
    {
        if (_dirty)
        {
            Start();
        }

        return _running ?? Task.CompletedTask;
    }

    /// <summary>Why the last write failed; null once a write succeeds (for the log when <see cref="CloseAsync"/> fails).</summary>
    public Exception? LastFailure { get; private set; }

    /// <summary>
    /// The activation is going: no more retries; waits for the write in flight, then writes the exact counts when they
    /// differ from what was written, so the next activation resumes without the unused claims. False when that last
    /// write failed: what was admitted since the last checkpoint may be admitted again.
    /// </summary>
    public async Task<bool> CloseAsync()
    {
        _closed = true;
        if (_running is { } inFlight)
        {
            await inFlight;
        }

        if (_dirty || Counters.DiffersFromWritten(Counters.Next(limits.Limiters, time.GetUtcNow(), exact: true)))
        {
            return await WriteAsync(exact: true);
        }

        return true;
    }

    private async Task WriteUntilCoveredAsync(long cost)
    {
        // A write already in flight may have been computed without this cost; the one after it claims it.
        do
        {
            // Taken before the write starts: a write that completes at once completes this one.
            var finished = _writeFinished ??= new(TaskCreationOptions.RunContinuationsAsynchronously);
            Start();
            await finished.Task;
        }
        while (!Failing && Counters.WouldPassCeiling(limits.Limiters, cost, time.GetUtcNow()));
    }

    private async Task RunAsync()
    {
        try
        {
            do
            {
                _again = false;
                if (!await WriteAsync(exact: false))
                {
                    // The database is failing: try again later, backing off; decisions continue meanwhile, and the
                    // subject stays active so its counts are not forgotten by idle collection.
                    _retryDelay = _retryDelay == TimeSpan.Zero ? retryInterval : TimeSpan.FromTicks(Math.Min(_retryDelay.Ticks * 2, MaxRetryDelay.Ticks));
                    if (!_closed)
                    {
                        store.ArmRetry(_retryDelay * (0.8 + (0.4 * jitter.NextDouble())));
                        store.KeepActive(MaxRetryDelay * 2);
                    }

                    return;
                }

                if (Counters.WaiterDemand > 0 && !_closed)
                {
                    // A head waiter waiting at the ceiling may fit under the new one.
                    store.CeilingRaised();
                }
            }
            while (_again || (_dirty && Counters.NeedsWriteNow(limits.Limiters, time.GetUtcNow())));
        }
        finally
        {
            _phase = Failing ? CheckpointPhase.Failing : CheckpointPhase.Idle;
            _running = null;
        }
    }

    /// <summary>Writes the durable counters (with claims, or exact); false when the write failed.</summary>
    private async Task<bool> WriteAsync(bool exact)
    {
        var now = time.GetUtcNow();
        var next = Counters.Next(limits.Limiters, now, exact);
        _dirty = false;
        _permitsWhileWriting = 0;
        try
        {
            var written = await store.WriteAsync(next);
            Counters.Written(written);
            _retryDelay = TimeSpan.Zero;
            Counters.PermitsDuringLastWrite = _permitsWhileWriting;
            _phase = Running ? CheckpointPhase.Writing : CheckpointPhase.Idle;
            LastFailure = null;
            store.Reported(null, now);
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _dirty = true;
            LastFailure = e;
            _phase = Running ? CheckpointPhase.RetryWriting : CheckpointPhase.Failing;
            store.Reported(e, now);
            return false;
        }
        finally
        {
            var finished = _writeFinished;
            _writeFinished = null;
            finished?.SetResult();
        }
    }
}

/// <summary>Where a <see cref="CheckpointWriter"/> stands; see its remarks.</summary>
internal enum CheckpointPhase : byte
{
    /// <summary>Nothing running; the last write went through, or none was needed.</summary>
    Idle,

    /// <summary>A run of writes in progress.</summary>
    Writing,

    /// <summary>The last write failed; the retry is armed.</summary>
    Failing,

    /// <summary>A run of writes in progress after a failure.</summary>
    RetryWriting,

    /// <summary>The activation is going: one last exact write, no retries.</summary>
    Closed,
}

/// <summary>How a request that had to wait at a durable counter's written ceiling ended its wait.</summary>
internal enum CeilingWait
{
    /// <summary>A checkpoint covers it: it is decided now, and a crash cannot forget what it takes.</summary>
    Covered,

    /// <summary>The database failed or did not answer in time: it is decided from memory, as during an outage.</summary>
    FromMemory,

    /// <summary>
    /// <see cref="CheckpointWriter.MaxCeilingWaits"/> checkpoints were used up by others before it fit: it is denied
    /// (cause <c>checkpoint</c>), to retry shortly.
    /// </summary>
    UsedUp,
}

/// <summary>What a <see cref="CheckpointWriter"/> needs from the subject that owns it (its grain).</summary>
internal interface ICheckpointStore
{
    /// <summary>
    /// Writes <paramref name="next"/>; on a version conflict (an earlier write went through but its answer was lost, or
    /// another activation wrote) merges it with the stored version, counter by counter, and writes that. Answers what
    /// was written; throws when the storage fails.
    /// </summary>
    Task<UsageCheckpointState> WriteAsync(UsageCheckpointState next);

    /// <summary>Calls <see cref="CheckpointWriter.CheckpointAsync"/> after <paramref name="due"/>, as a turn of the subject.</summary>
    void ArmRetry(TimeSpan due);

    /// <summary>Keeps the subject active for at least <paramref name="period"/>: its counts must not be forgotten while writes fail.</summary>
    void KeepActive(TimeSpan period);

    /// <summary>A write went through while a head waiter waited at the ceiling: serve the waiters.</summary>
    void CeilingRaised();

    /// <summary>A write's outcome (null: written), for the storage's health, the metrics and the log.</summary>
    void Reported(Exception? failure, DateTimeOffset now);
}
