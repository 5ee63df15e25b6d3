using Microsoft.Extensions.Time.Testing;
using Quota.Algorithms.Limiting;
using Quota.Grains.Storage;
using Quota.Grains.Subjects;

namespace Quota.Grains.Tests.Subjects;

/// <summary>The write-behind checkpoint writer's states, on fake time and a store the test answers.</summary>
public sealed class CheckpointWriterTests
{
    private static readonly DateTimeOffset Noon = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    // The default retry interval (Quota:Storage:CheckpointInterval), which the README quotes: 1 s.
    private static readonly TimeSpan Interval = new DurabilityOptions().CheckpointInterval;

    private readonly FakeTimeProvider _time = new(Noon);
    private readonly FakeStore _store = new();
    private readonly SubjectLimits _limits = new();
    private readonly CheckpointWriter _writer;

    public CheckpointWriterTests()
    {
        // An hourly window of 200: durable, with a claim of 2 (one percent).
        _limits.Apply([new PolicyDefinition { Name = "hour", Algorithm = AlgorithmKind.FixedWindow, Limit = 200, Window = TimeSpan.FromHours(1) }], carryAcrossRenames: false, Noon);
        _writer = new CheckpointWriter(_store, _limits, _time, Interval, new MiddleJitter());
    }

    private void Take(long cost)
    {
        Assert.True(_limits.TryTake(cost, _time.GetUtcNow()).Allowed);
        _writer.CountersChanged(_time.GetUtcNow(), cost);
    }

    private long Used() => _limits.Limiters.Single().GetUsage(_time.GetUtcNow()).Used;

    private long Claimed(int write) => _store.Writes[write].Counters["hour"].Claimed;

    [Fact]
    public void A_count_in_a_period_with_no_checkpoint_is_written_at_once_with_its_claim()
    {
        Take(1);

        Assert.Single(_store.Writes);
        Assert.Equal(3, Claimed(0));
        Assert.Equal(CheckpointPhase.Idle, _writer.Phase);
        Assert.False(_writer.Dirty);
        Assert.Equal([null], _store.Reports);
    }

    [Fact]
    public void Counts_under_the_written_ceiling_wait_for_a_later_write()
    {
        Take(1);

        // 2 used against a ceiling of 3 with a claim of 2: not yet within half a claim of it.
        Take(1);
        Assert.Single(_store.Writes);
        Assert.True(_writer.Dirty);

        // 3 used: within half a claim, so a write starts, claiming 2 more.
        Take(1);
        Assert.Equal(2, _store.Writes.Count);
        Assert.Equal(5, Claimed(1));
        Assert.False(_writer.Dirty);
    }

    [Fact]
    public void One_write_at_a_time_and_one_asked_for_meanwhile_follows_it_claiming_the_permits_taken_during_it()
    {
        _store.Manual = true;
        Take(1);
        Assert.Equal(CheckpointPhase.Writing, _writer.Phase);
        Assert.True(_writer.Running);

        Take(5);
        _writer.Start();
        Assert.Single(_store.Writes);

        _store.Complete();
        Assert.Equal(2, _store.Writes.Count);
        Assert.Equal(CheckpointPhase.Writing, _writer.Phase);

        // The second write claims twice the 5 permits taken while the first was in flight.
        Assert.Equal(6 + 10, Claimed(1));
        _store.Complete();
        Assert.Equal(CheckpointPhase.Idle, _writer.Phase);
        Assert.False(_writer.Running);
    }

    [Fact]
    public async Task A_failing_write_is_retried_backing_off_and_counts_wait_for_the_retry()
    {
        _store.FailWith = new InvalidOperationException("down");
        Take(1);

        Assert.Equal(CheckpointPhase.Failing, _writer.Phase);
        Assert.True(_writer.Dirty);
        Assert.Equal([Interval], _store.Retries);
        Assert.Equal([CheckpointWriter.MaxRetryDelay * 2], _store.KeptActive);

        // While failing, counts near the ceiling start no write: only the retry does.
        Take(1);
        Assert.Single(_store.Writes);

        await _writer.CheckpointAsync();
        Assert.Equal([Interval, 2 * Interval], _store.Retries);

        _store.FailWith = null;
        await _writer.CheckpointAsync();
        Assert.Equal(CheckpointPhase.Idle, _writer.Phase);
        Assert.False(_writer.Dirty);
        Assert.Equal(3, _store.Writes.Count);

        // The back-off starts afresh after a write went through.
        _store.FailWith = new InvalidOperationException("down again");
        _time.Advance(TimeSpan.FromHours(1));
        Take(1);
        Assert.Equal([Interval, 2 * Interval, Interval], _store.Retries);
    }

    [Fact]
    public async Task The_back_off_doubles_up_to_its_cap()
    {
        // As the README says: from Quota:Storage:CheckpointInterval (by default 1 s) up to 30 s.
        Assert.Equal(TimeSpan.FromSeconds(1), Interval);
        Assert.Equal(TimeSpan.FromSeconds(30), CheckpointWriter.MaxRetryDelay);
        _store.FailWith = new InvalidOperationException("down");
        Take(1);
        for (var i = 0; i < 6; i++)
        {
            await _writer.CheckpointAsync();
        }

        Assert.Equal([1, 2, 4, 8, 16, 30, 30], _store.Retries.Select(r => r.TotalSeconds));
    }

    [Theory]
    [InlineData(0.0, new[] { 0.8, 1.6, 3.2, 6.4, 12.8, 24, 24 })]
    [InlineData(1.0, new[] { 1.2, 2.4, 4.8, 9.6, 19.2, 36, 36 })]
    public async Task Each_retry_delay_is_jittered_by_at_most_a_fifth_of_the_back_off(double draw, double[] seconds)
    {
        // The jitter spreads the retries of many subjects failing at once: each delay is the back-off times 0.8 to 1.2.
        var store = new FakeStore { FailWith = new InvalidOperationException("down") };
        var writer = new CheckpointWriter(store, _limits, _time, Interval, new FixedJitter(draw));
        Assert.True(_limits.TryTake(1, Noon).Allowed);
        writer.CountersChanged(Noon, 1);
        for (var i = 0; i < 6; i++)
        {
            await writer.CheckpointAsync();
        }

        Assert.Equal(seconds, store.Retries.Select(r => Math.Round(r.TotalSeconds, 6)));
    }

    [Fact]
    public async Task A_request_past_the_written_ceiling_waits_for_the_write_that_claims_it()
    {
        Take(1);
        Assert.True(_writer.MustWaitForCeiling(5, Noon));
        Assert.False(_writer.MustWaitForCeiling(1, Noon));

        _store.Manual = true;
        var waiting = _writer.WaitForCeilingAsync(5);
        Assert.False(waiting.IsCompleted);

        _store.Complete();
        Assert.True(await waiting);

        // Its cost was reserved in the claim: 1 used + claim 2 + 5 waiting.
        Assert.Equal(8, Claimed(1));
        Assert.False(_writer.MustWaitForCeiling(5, Noon));
    }

    [Fact]
    public async Task A_request_whose_claims_others_use_up_ten_times_gives_up_after_the_tenth_checkpoint()
    {
        Take(1);
        var looks = 0;

        // Each time a checkpoint claiming its 5 lands, others have been admitted into all of it before it looks again.
        var waited = await _writer.WaitUnderCeilingAsync(5, () =>
        {
            looks++;
            Take(Claimed(_store.Writes.Count - 1) - Used());
            return _time.GetUtcNow();
        });

        Assert.Equal(CeilingWait.UsedUp, waited);
        Assert.Equal(CheckpointWriter.MaxCeilingWaits, looks);
        Assert.Equal(10, CheckpointWriter.MaxCeilingWaits);
        Assert.True(_writer.MustWaitForCeiling(5, Noon));
    }

    [Fact]
    public async Task A_request_whose_claim_others_leave_alone_is_covered_after_that_checkpoint()
    {
        Take(1);
        var looks = 0;

        // Others use up the first two checkpoints' claims, not the third's.
        var waited = await _writer.WaitUnderCeilingAsync(5, () =>
        {
            if (++looks < 3)
            {
                Take(Claimed(_store.Writes.Count - 1) - Used());
            }

            return _time.GetUtcNow();
        });

        Assert.Equal((CeilingWait.Covered, 3), (waited, looks));
        Assert.False(_writer.MustWaitForCeiling(5, Noon));
    }

    [Fact]
    public async Task A_request_waiting_at_the_ceiling_is_decided_from_memory_when_the_write_fails()
    {
        Take(1);
        _store.FailWith = new InvalidOperationException("down");

        Assert.Equal(CeilingWait.FromMemory, await _writer.WaitUnderCeilingAsync(5, () => throw new InvalidOperationException("No second look after a failed write.")));
    }

    [Fact]
    public async Task A_request_waiting_at_the_ceiling_goes_ahead_when_the_write_fails()
    {
        Take(1);
        _store.FailWith = new InvalidOperationException("down");

        Assert.False(await _writer.WaitForCeilingAsync(5));
        Assert.True(_writer.Failing);
        Assert.False(_writer.MustWaitForCeiling(5, Noon));
    }

    [Fact]
    public void A_write_that_lands_while_a_head_waiter_waits_at_the_ceiling_serves_the_waiters()
    {
        _writer.Counters.WaiterDemand = 4;
        Take(1);

        Assert.Equal(1, _store.CeilingRaised);
    }

    [Fact]
    public async Task Closing_writes_the_exact_counts_once_and_arms_no_retry()
    {
        Take(3);
        Assert.Equal(5, Claimed(0));

        Assert.True(await _writer.CloseAsync());
        Assert.Equal(CheckpointPhase.Closed, _writer.Phase);
        Assert.Equal(3, Claimed(1));

        Assert.True(await _writer.CloseAsync());
        Assert.Equal(2, _store.Writes.Count);
    }

    [Fact]
    public async Task Closing_while_writes_fail_reports_the_counts_at_risk_without_a_retry()
    {
        var down = new InvalidOperationException("down");
        _store.FailWith = down;
        Take(1);
        _store.Retries.Clear();

        Assert.False(await _writer.CloseAsync());
        Assert.Empty(_store.Retries);
        Assert.Same(down, _writer.LastFailure);   // the log of the counts at risk carries the write's exception
    }

    [Fact]
    public async Task Closing_waits_for_the_write_in_flight()
    {
        _store.Manual = true;
        Take(1);
        var closing = _writer.CloseAsync();
        Assert.False(closing.IsCompleted);

        _store.Complete();
        _store.Complete();

        Assert.True(await closing);
        Assert.Equal(1, Claimed(1));
    }

    /// <summary>Jitter of exactly 1: the retry delays are the back-off itself.</summary>
    private sealed class MiddleJitter : Random
    {
        public override double NextDouble() => 0.5;
    }

    /// <summary>A draw of the jitter's <see cref="Random.NextDouble"/> fixed by the test (1.0 stands for its upper bound).</summary>
    private sealed class FixedJitter(double draw) : Random
    {
        public override double NextDouble() => draw;
    }

    private sealed class FakeStore : ICheckpointStore
    {
        private readonly Queue<(TaskCompletionSource<UsageCheckpointState> Done, UsageCheckpointState State)> _pending = new();

        public List<UsageCheckpointState> Writes { get; } = [];

        public List<TimeSpan> Retries { get; } = [];

        public List<TimeSpan> KeptActive { get; } = [];

        public List<Exception?> Reports { get; } = [];

        public int CeilingRaised { get; private set; }

        public Exception? FailWith { get; set; }

        /// <summary>Writes complete when the test says (<see cref="Complete"/>), not at once.</summary>
        public bool Manual { get; set; }

        public void Complete()
        {
            var (done, state) = _pending.Dequeue();
            done.SetResult(state);
        }

        public Task<UsageCheckpointState> WriteAsync(UsageCheckpointState next)
        {
            Writes.Add(next);
            if (FailWith is { } failure)
            {
                return Task.FromException<UsageCheckpointState>(failure);
            }

            if (!Manual)
            {
                return Task.FromResult(next);
            }

            var done = new TaskCompletionSource<UsageCheckpointState>();
            _pending.Enqueue((done, next));
            return done.Task;
        }

        public void ArmRetry(TimeSpan due) => Retries.Add(due);

        public void KeepActive(TimeSpan period) => KeptActive.Add(period);

        void ICheckpointStore.CeilingRaised() => CeilingRaised++;

        public void Reported(Exception? failure, DateTimeOffset now) => Reports.Add(failure);
    }
}
