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
