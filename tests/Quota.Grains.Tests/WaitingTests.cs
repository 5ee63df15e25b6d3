using Quota.Abstractions;

namespace Quota.Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class WaitingTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(20);

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    [Fact]
    public async Task WaitersAreGrantedInPriorityOrderAsCapacityFrees()
    {
        var gate = $"one-per-minute:{Unique("prio")}";
        // Align to a minute so the fixed window's end is exactly one minute away.
        var now = fixture.Time.GetUtcNow();
        fixture.Time.Advance(TimeSpan.FromTicks(TimeSpan.TicksPerMinute - (now.UtcTicks % TimeSpan.TicksPerMinute)));
        Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [gate] })).Allowed);

        var order = new[] { Priority.Low, Priority.Normal, Priority.Critical, Priority.High };
        var waiting = new Dictionary<Priority, Task<AcquireResult>>();
        foreach (var priority in order)
        {
            waiting[priority] = fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [gate], Priority = priority, MaxWaitMs = 600_000 });
            await fixture.WaitForWaitersAsync(SubjectKind.Resource, gate, waiting.Count);
        }

        foreach (var expected in new[] { Priority.Critical, Priority.High, Priority.Normal, Priority.Low })
        {
            fixture.Time.Advance(TimeSpan.FromMinutes(1));
            var granted = await waiting[expected].WaitAsync(Safety);
            Assert.True(granted.Allowed, $"{expected} should be granted when its turn comes");
            waiting.Remove(expected);
            await fixture.WaitForWaitersAsync(SubjectKind.Resource, gate, waiting.Count);
            Assert.All(waiting.Values, t => Assert.False(t.IsCompleted, "only one waiter fits each minute"));
        }
    }

    [Fact]
    public async Task AWaiterIsDeniedAtItsDeadlineWithAnExactRetryAfter()
    {
        var gate = $"one-per-minute:{Unique("deadline")}";
        var now = fixture.Time.GetUtcNow();
        fixture.Time.Advance(TimeSpan.FromTicks(TimeSpan.TicksPerMinute - (now.UtcTicks % TimeSpan.TicksPerMinute)));
        Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [gate] })).Allowed);

        // The window frees in 60 s; a 10 s wait cannot be met, and the answer comes at once, not after 10 s.
        var hopeless = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [gate], MaxWaitMs = 10_000 });
        Assert.False(hopeless.Allowed);
        Assert.Equal(60_000, hopeless.RetryAfterMs);

        // A 70 s wait is granted when the window turns.
        var patient = fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [gate], MaxWaitMs = 70_000 });
        await fixture.WaitForWaitersAsync(SubjectKind.Resource, gate, 1);
        fixture.Time.Advance(TimeSpan.FromSeconds(59));
        Assert.False(patient.IsCompleted);
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.True((await patient.WaitAsync(Safety)).Allowed);
    }

    [Fact]
    public async Task AWaiterOnAConcurrencySlotIsGrantedOnReleaseAndDeniedAtItsDeadline()
    {
        var slot = $"slot:{Unique("wait")}";
        var holder = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [slot] });
        Assert.True(holder.Allowed);

        var waiter = fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [slot], MaxWaitMs = 30_000 });
        await fixture.WaitForWaitersAsync(SubjectKind.Resource, slot, 1);
        Assert.Equal(LeaseOutcome.Done, await fixture.Quota.ReleaseAsync(holder.LeaseId!));
        var granted = await waiter.WaitAsync(Safety);
        Assert.True(granted.Allowed);

        var late = fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [slot], MaxWaitMs = 30_000 });
        await fixture.WaitForWaitersAsync(SubjectKind.Resource, slot, 1);
        fixture.Time.Advance(TimeSpan.FromSeconds(30));
        var denied = await late.WaitAsync(Safety);
        Assert.False(denied.Allowed);
        Assert.Equal(90_000, denied.RetryAfterMs); // the held lease expires 120 s after it was taken
    }

    [Fact]
    public async Task CancellingAWaiterFreesItsPlace()
    {
        var slot = $"slot:{Unique("cancel")}";
        var holder = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [slot] });
        using var cancellation = new CancellationTokenSource();
        var waiter = fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [slot], MaxWaitMs = 60_000 }, cancellation.Token);
        await fixture.WaitForWaitersAsync(SubjectKind.Resource, slot, 1);

        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiter.WaitAsync(Safety));
        await fixture.WaitForWaitersAsync(SubjectKind.Resource, slot, 0);

        // The cancelled caller took nothing: after the release the slot is free for the next caller.
        Assert.Equal(LeaseOutcome.Done, await fixture.Quota.ReleaseAsync(holder.LeaseId!));
        Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [slot] })).Allowed);
    }

    [Fact]
    public async Task AMultiSubjectWaiterHoldsNothingWhileWaiting()
    {
        var user = Unique("waiting-user");
        var slot = $"slot:{Unique("multi")}";
        var holder = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [slot] });

        var waiter = fixture.Quota.AcquireAsync(new AcquireRequest { User = user, Resources = [slot], MaxWaitMs = 60_000 });
        await fixture.WaitForWaitersAsync(SubjectKind.Resource, slot, 1);
        Assert.Equal(100, (await fixture.Quota.GetUsageAsync(SubjectKind.User, user)).Policies.Single().Remaining);

        await fixture.Quota.ReleaseAsync(holder.LeaseId!);
        Assert.True((await waiter.WaitAsync(Safety)).Allowed);
        Assert.Equal(99, (await fixture.Quota.GetUsageAsync(SubjectKind.User, user)).Policies.Single().Remaining);
    }

    [Fact]
    public async Task CallersThatWillNotWaitDoNotJumpTheQueueOfEqualOrHigherPriority()
    {
        var meter = $"metered:{Unique("queue")}";

        // Five minutes before the hourly window turns, so the waiter's wait (at most 10 minutes) can be met.
        var now = fixture.Time.GetUtcNow();
        var toNextHour = TimeSpan.TicksPerHour - (now.UtcTicks % TimeSpan.TicksPerHour);
        fixture.Time.Advance(TimeSpan.FromTicks(toNextHour) + TimeSpan.FromMinutes(55));
        Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [meter], Cost = 95 })).Allowed);
        var waiter = fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [meter], Cost = 10, MaxWaitMs = 600_000 });
        await fixture.WaitForWaitersAsync(SubjectKind.Resource, meter, 1);

        // One permit would fit in the 5 left, but a normal caller is waiting for that capacity first.
        var normal = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [meter] });
        Assert.Equal(DecisionOutcome.Denied, normal.Outcome);
        Assert.Equal($"resource:{meter}/queue", normal.LimitedBy);
        Assert.Equal(DenialCause.Queue, normal.Cause);
        Assert.Equal(300_000, normal.RetryAfterMs); // the waiter's retry: the hour turns in five minutes
        Assert.Equal(5, (await fixture.Quota.GetUsageAsync(SubjectKind.Resource, meter)).Policies.Single().Remaining);

        // A higher priority is served ahead of the waiter.
        var critical = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [meter], Priority = Priority.Critical });
        Assert.True(critical.Allowed);
        Assert.Equal(4, critical.Remaining);
        Assert.False(waiter.IsCompleted);

        fixture.Time.Advance(TimeSpan.FromMinutes(5));
        Assert.True((await waiter.WaitAsync(Safety)).Allowed);
    }
}
