using System.Diagnostics;
using System.Net;
using Quota.Http.Tests.Infrastructure;
using static Quota.Http.Tests.Infrastructure.ConfiguredSilo;

namespace Quota.Http.Tests;

/// <summary>Requests with <c>maxWaitMs</c> queue for capacity: granted when it frees, 429 at their deadline.</summary>
[Collection(ConfiguredHostCollection.Name)]
public sealed class WaitingTests(ConfiguredSilo host) : HostTest(host)
{
    [Fact]
    public async Task Waiting_request_is_granted_when_the_only_permit_is_released()
    {
        // The configured "slots" resource itself; no other test uses it.
        var holder = (await Api.Acquire(new { resources = new[] { "slots" } })).Expect(HttpStatusCode.OK);
        var leaseId = holder.Json["leaseId"]!.GetValue<string>();
        Assert.Equal(0, holder.Json["remaining"]!.GetValue<long>());
        Assert.Equal("\"resource:slots/in-flight\";q=1;qu=\"concurrent-requests\"", holder.Header("RateLimit-Policy"));

        var clock = Stopwatch.StartNew();
        var waiting = Api.Acquire(new { resources = new[] { "slots" }, maxWaitMs = 4000 });
        await Api.UntilWaiting("resource", "slots", 1);
        Assert.False(waiting.IsCompleted, "The second request was answered while the permit was still held.");

        var released = (await Api.Release(new { leaseId })).Expect(HttpStatusCode.OK);
        Assert.Equal("application/json", released.MediaType);
        Assert.Equal(leaseId, released.Json["leaseId"]!.GetValue<string>());
        Assert.True(released.Json["released"]!.GetValue<bool>());

        var granted = (await waiting).Expect(HttpStatusCode.OK);
        Assert.True(clock.ElapsedMilliseconds < 4000, $"Granted only after {clock.ElapsedMilliseconds} ms: at the deadline, not on release.");
        Assert.True(granted.Json["allowed"]!.GetValue<bool>());
        Assert.Equal(0, granted.Json["remaining"]!.GetValue<long>());
        var secondLease = granted.Json["leaseId"]!.GetValue<string>();
        Assert.NotEqual(leaseId, secondLease);
        Assert.Equal(0, await Api.Waiting("resource", "slots"));

        (await Api.Release(new { leaseId = secondLease })).Expect(HttpStatusCode.OK);
        Assert.Equal(1, await Api.Remaining("resource", "slots", SlotPolicy));
    }

    [Fact]
    public async Task Waiting_request_whose_deadline_passes_is_429()
    {
        var slots = NewSlots();
        var held = Stopwatch.StartNew();
        (await Api.Acquire(new { resources = new[] { slots } })).Expect(HttpStatusCode.OK);

        var clock = Stopwatch.StartNew();
        var denied = (await Api.Acquire(new { resources = new[] { slots }, maxWaitMs = 300 })).Expect(HttpStatusCode.TooManyRequests);

        Assert.True(clock.ElapsedMilliseconds >= 300, $"Answered after {clock.ElapsedMilliseconds} ms, before its 300 ms deadline.");
        Assert.False(denied.Json["allowed"]!.GetValue<bool>());
        Assert.Equal($"resource:{slots}/{SlotPolicy}", denied.Json["limitedBy"]!.GetValue<string>());
        Assert.Null(denied.Json["leaseId"]);
        var retryAfterMs = denied.Json["retryAfterMs"]!.GetValue<long>();
        // Until the held lease's hour ends, as of the deadline: at least 300 ms after it was taken, at most as long
        // after as this test has measured (1 ms for rounding to whole milliseconds).
        Assert.InRange(retryAfterMs, 3_600_000 - held.ElapsedMilliseconds - 1, 3_600_000 - 300);
        Assert.Equal(Reply.CeilingSeconds(retryAfterMs).ToString(System.Globalization.CultureInfo.InvariantCulture), denied.Header("Retry-After"));
        Assert.Equal(0, await Api.Waiting("resource", slots));
    }

    [Fact]
    public async Task Hopeless_wait_on_a_window_is_answered_at_once()
    {
        var burst = NewBurst();
        (await Api.Acquire(new { resources = new[] { burst }, cost = BurstLimit })).Expect(HttpStatusCode.OK);

        // The next permit comes in 20 minutes: no wait of at most 5 s can see it.
        var clock = Stopwatch.StartNew();
        var denied = (await Api.Acquire(new { resources = new[] { burst }, maxWaitMs = MaxWaitMs })).Expect(HttpStatusCode.TooManyRequests);

        Assert.True(clock.ElapsedMilliseconds < MaxWaitMs / 2, $"Answered after {clock.ElapsedMilliseconds} ms.");
        Assert.InRange(denied.Json["retryAfterMs"]!.GetValue<long>(), 1_200_000 - clock.ElapsedMilliseconds - 10_000, 1_200_000);
    }

    [Fact]
    public async Task Waiters_are_granted_one_per_release_in_arrival_order()
    {
        var slots = NewSlots();
        var lease = (await Api.Acquire(new { resources = new[] { slots } })).Expect(HttpStatusCode.OK).Json["leaseId"]!.GetValue<string>();

        var first = Api.Acquire(new { resources = new[] { slots }, maxWaitMs = 4000 });
        await Api.UntilWaiting("resource", slots, 1);
        var second = Api.Acquire(new { resources = new[] { slots }, maxWaitMs = 4000 });
        await Api.UntilWaiting("resource", slots, 2);

        (await Api.Release(new { leaseId = lease })).Expect(HttpStatusCode.OK);
        var firstLease = (await first).Expect(HttpStatusCode.OK).Json["leaseId"]!.GetValue<string>();
        await Api.UntilWaiting("resource", slots, 1);
        Assert.False(second.IsCompleted, "Both waiters were granted one permit.");

        (await Api.Release(new { leaseId = firstLease })).Expect(HttpStatusCode.OK);
        (await second).Expect(HttpStatusCode.OK);
        Assert.Equal(0, await Api.Waiting("resource", slots));
    }

    [Fact]
    public async Task Abandoned_waiter_gives_up_its_place()
    {
        var slots = NewSlots();
        var lease = (await Api.Acquire(new { resources = new[] { slots } })).Expect(HttpStatusCode.OK).Json["leaseId"]!.GetValue<string>();

        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var abandoned = Api.AcquireAbandonable(new { resources = new[] { slots }, maxWaitMs = MaxWaitMs }, abandon.Token);
        await Api.UntilWaiting("resource", slots, 1);
        var clock = Stopwatch.StartNew();
        await abandon.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);

        // The host hears the connection close and takes the caller out of the queue, long before its deadline.
        await Api.UntilWaiting("resource", slots, 0);
        Assert.True(clock.ElapsedMilliseconds < MaxWaitMs / 2, $"The abandoned caller stayed queued for {clock.ElapsedMilliseconds} ms.");

        // The permit released now is not granted to the caller who left: it is there for the next one.
        (await Api.Release(new { leaseId = lease })).Expect(HttpStatusCode.OK);
        Assert.Equal(1, await Api.Remaining("resource", slots, SlotPolicy));
        (await Api.Acquire(new { resources = new[] { slots } })).Expect(HttpStatusCode.OK);
    }
}
