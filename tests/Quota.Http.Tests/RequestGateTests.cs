using Quota.Abstractions;
using Quota.Server.Http;

namespace Quota.Http.Tests;

/// <summary>The gate's arithmetic and its drain, without a silo.</summary>
public sealed class RequestGateTests
{
    [Theory]
    [InlineData(8, 4, 6, 7, 8)]
    [InlineData(1000, 500, 750, 875, 1000)]
    [InlineData(4, 2, 3, 3, 4)]
    [InlineData(1, 1, 1, 1, 1)]
    [InlineData(int.MaxValue, int.MaxValue / 2, 1_610_612_735, 1_879_048_191, int.MaxValue)]
    public void Thresholds_are_shares_of_the_ceiling_by_priority(int ceiling, int low, int normal, int high, int critical)
    {
        Assert.Equal(low, RequestGate.Threshold(ceiling, Priority.Low));
        Assert.Equal(normal, RequestGate.Threshold(ceiling, Priority.Normal));
        Assert.Equal(high, RequestGate.Threshold(ceiling, Priority.High));
        Assert.Equal(critical, RequestGate.Threshold(ceiling, Priority.Critical));
    }

    [Fact]
    public void Each_priority_is_admitted_up_to_its_share_and_an_exit_makes_room()
    {
        var gate = new RequestGate(8);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(RequestGate.Refusal.None, gate.TryEnter(Priority.Low));
        }

        Assert.Equal(RequestGate.Refusal.InFlight, gate.TryEnter(Priority.Low));
        Assert.Equal(RequestGate.Refusal.None, gate.TryEnter(Priority.Normal));
        Assert.Equal(RequestGate.Refusal.None, gate.TryEnter(Priority.Normal));
        Assert.Equal(RequestGate.Refusal.InFlight, gate.TryEnter(Priority.Normal));
        Assert.Equal(RequestGate.Refusal.None, gate.TryEnter(Priority.High));
        Assert.Equal(RequestGate.Refusal.InFlight, gate.TryEnter(Priority.High));
        Assert.Equal(RequestGate.Refusal.None, gate.TryEnter(Priority.Critical));
        Assert.Equal(RequestGate.Refusal.InFlight, gate.TryEnter(Priority.Critical));
        Assert.Equal(8, gate.InFlight);

        gate.Exit();
        Assert.Equal(RequestGate.Refusal.None, gate.TryEnter(Priority.Critical));
        Assert.Equal(8, gate.InFlight);
    }

    [Fact]
    public async Task A_drain_refuses_new_requests_ends_waits_and_completes_when_the_last_request_leaves()
    {
        var gate = new RequestGate(8);
        Assert.Equal(RequestGate.Refusal.None, gate.TryEnter(Priority.Normal));
        Assert.Equal(RequestGate.Refusal.None, gate.TryEnter(Priority.Low));

        var drained = gate.BeginDrain();

        Assert.True(gate.IsStopping);
        Assert.True(gate.Stopping.IsCancellationRequested);
        Assert.Equal(RequestGate.Refusal.Stopping, gate.TryEnter(Priority.Critical));
        Assert.Equal(2, gate.InFlight);
        gate.Exit();
        Assert.False(drained.IsCompleted);
        gate.Admission.Dispose();
        await drained;
        Assert.Equal(0, gate.InFlight);
        Assert.Same(drained, gate.BeginDrain());
    }

    [Fact]
    public void A_drain_with_nothing_in_flight_is_complete_at_once()
    {
        var gate = new RequestGate(1);

        Assert.True(gate.BeginDrain().IsCompletedSuccessfully);
    }
}

/// <summary>Shedding by the thread pool's queue delay: the probe's arithmetic on exact timestamps, and the gate's order.</summary>
public sealed class QueueDelayTests
{
    private static readonly TimeSpan Max = TimeSpan.FromMilliseconds(100);
    private readonly Microsoft.Extensions.Time.Testing.FakeTimeProvider _clock = new();

    private long At(double ms) => (long)(ms * _clock.TimestampFrequency / 1000);

    [Fact]
    public void The_delay_is_the_last_probes_wait_or_the_queued_probes_age_whichever_is_longer()
    {
        var probe = new QueueDelay.Probe(_clock);
        Assert.Equal(TimeSpan.Zero, probe.Current(At(1_000)));

        Assert.True(probe.TrySend(At(1_000)));
        Assert.False(probe.TrySend(At(1_010)));             // one probe in the queue at a time
        Assert.Equal(TimeSpan.FromMilliseconds(50), probe.Current(At(1_050)));   // still queued: at least its age

        probe.Ran(At(1_080));
        Assert.Equal(TimeSpan.FromMilliseconds(80), probe.Current(At(5_000)));   // ran: its wait, however long ago

        Assert.True(probe.TrySend(At(5_000)));
        Assert.Equal(TimeSpan.FromMilliseconds(80), probe.Current(At(5_005)));   // a young probe does not hide the last wait
        Assert.Equal(TimeSpan.FromMilliseconds(300), probe.Current(At(5_300)));  // a stalled queue shows before the probe runs

        probe.Ran(At(5_002));
        Assert.Equal(TimeSpan.FromMilliseconds(2), probe.Current(At(6_000)));    // the queue emptied: the delay falls at once
    }

    [Theory]
    [InlineData(Priority.Low, 100)]
    [InlineData(Priority.Normal, 200)]
    [InlineData(Priority.High, 400)]
    [InlineData(Priority.Critical, 800)]
    public void Each_priority_is_shed_past_its_multiple_of_the_allowed_delay(Priority priority, int thresholdMs)
    {
        var delay = TimeSpan.Zero;
        var gate = new RequestGate(1000, queueDelay: () => delay, maxQueueDelay: Max);
        Assert.Equal(TimeSpan.FromMilliseconds(thresholdMs), RequestGate.DelayThreshold(Max, priority));

        delay = TimeSpan.FromMilliseconds(thresholdMs);
        Assert.Equal(RequestGate.Refusal.None, gate.TryEnter(priority));     // at the threshold: admitted
        delay += TimeSpan.FromTicks(1);
        Assert.Equal(RequestGate.Refusal.QueueDelay, gate.TryEnter(priority));
        Assert.Equal(1, gate.InFlight);                                        // a refusal takes no place
        Assert.Equal(delay, gate.CurrentQueueDelay);
    }

    [Fact]
    public void Lower_priorities_are_shed_first_as_the_delay_grows()
    {
        var delay = TimeSpan.FromMilliseconds(250);
        var gate = new RequestGate(1000, queueDelay: () => delay, maxQueueDelay: Max);

        Assert.Equal(RequestGate.Refusal.QueueDelay, gate.TryEnter(Priority.Low));
        Assert.Equal(RequestGate.Refusal.QueueDelay, gate.TryEnter(Priority.Normal));
        Assert.Equal(RequestGate.Refusal.None, gate.TryEnter(Priority.High));
        Assert.Equal(RequestGate.Refusal.None, gate.TryEnter(Priority.Critical));
    }

    [Fact]
    public void A_zero_allowance_turns_delay_shedding_off()
    {
        var gate = new RequestGate(1000, queueDelay: () => TimeSpan.FromHours(1), maxQueueDelay: TimeSpan.Zero);

        Assert.Equal(RequestGate.Refusal.None, gate.TryEnter(Priority.Low));
        Assert.Equal(TimeSpan.Zero, gate.CurrentQueueDelay);
    }

    [Fact]
    public void A_stopping_silo_says_so_before_it_says_it_is_saturated()
    {
        var gate = new RequestGate(1000, queueDelay: () => TimeSpan.FromHours(1), maxQueueDelay: Max);
        _ = gate.BeginDrain();

        Assert.Equal(RequestGate.Refusal.Stopping, gate.TryEnter(Priority.Critical));
    }
}
