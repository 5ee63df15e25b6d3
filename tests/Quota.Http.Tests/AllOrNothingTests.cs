using System.Net;
using Quota.Http.Tests.Infrastructure;
using static Quota.Http.Tests.Infrastructure.ConfiguredSilo;

namespace Quota.Http.Tests;

/// <summary>A rejected request consumes nothing anywhere, and cost 0 peeks without taking.</summary>
[Collection(ConfiguredHostCollection.Name)]
public sealed class AllOrNothingTests(ConfiguredSilo host) : HostTest(host)
{
    [Fact]
    public async Task Request_denied_by_an_exhausted_resource_takes_nothing_from_the_user()
    {
        var user = Ids.User();
        var burst = NewBurst();
        (await Api.Acquire(new { resources = new[] { burst }, cost = BurstLimit })).Expect(HttpStatusCode.OK);
        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));

        for (var i = 0; i < 5; i++)
        {
            var denied = (await Api.Acquire(new { user, resources = new[] { burst } })).Expect(HttpStatusCode.TooManyRequests);
            Assert.Equal($"resource:{burst}/{BurstPolicy}", denied.Json["limitedBy"]!.GetValue<string>());
            Assert.Equal(0, denied.Json["remaining"]!.GetValue<long>());
        }

        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
        Assert.Equal(0, await Api.Remaining("resource", burst, BurstPolicy));
    }

    [Fact]
    public async Task Denied_answer_reports_the_user_state_after_the_refund_in_body_and_headers()
    {
        var user = Ids.User();
        var burst = NewBurst();
        (await Api.Acquire(new { resources = new[] { burst }, cost = BurstLimit })).Expect(HttpStatusCode.OK);

        var denied = (await Api.Acquire(new { user, resources = new[] { burst }, cost = 2 })).Expect(HttpStatusCode.TooManyRequests);

        // "Every policy consulted, with its state after the decision": the user's 2 were given back.
        Assert.Equal(100, Reply.Policy(denied.Json, $"user:{user}", "per-minute")["remaining"]!.GetValue<long>());
        Assert.Equal(0, Reply.Policy(denied.Json, $"resource:{burst}", BurstPolicy)["remaining"]!.GetValue<long>());
        Assert.Equal($"\"user:{user}/per-minute\";q=100;w=60, \"resource:{burst}/{BurstPolicy}\";q=3;w=3600", denied.Header("RateLimit-Policy"));
        var state = StructuredFields.ParseList(denied.Header("RateLimit"));
        Assert.Equal([$"user:{user}/per-minute", $"resource:{burst}/{BurstPolicy}"], state.Select(s => s.Name));
        Assert.Equal([100L, 0L], state.Select(s => s.Integer("r")));
        Assert.Equal(0, state[0].Integer("t"));

        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
    }

    [Fact]
    public async Task Request_too_big_for_one_subject_takes_nothing_from_the_others()
    {
        var user = Ids.User();
        var burst = NewBurst();

        var reply = await Api.Acquire(new { user, resources = new[] { burst }, cost = BurstLimit + 1 });

        var problem = reply.ExpectProblem(HttpStatusCode.BadRequest, "cost");
        Assert.Equal($"resource:{burst}/{BurstPolicy}", problem["limitedBy"]!.GetValue<string>());
        var state = StructuredFields.ParseList(reply.Header("RateLimit"));
        Assert.Equal([100L, 3L], state.Select(s => s.Integer("r")));
        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
        Assert.Equal(BurstLimit, await Api.Remaining("resource", burst, BurstPolicy));
    }

    [Fact]
    public async Task Request_naming_an_unknown_resource_takes_nothing_from_the_user()
    {
        var user = Ids.User();

        (await Api.Acquire(new { user, resources = new[] { Ids.New("missing-") } })).ExpectProblem(HttpStatusCode.NotFound, "resources[0]");

        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
    }

    [Fact]
    public async Task Denied_on_a_held_concurrency_permit_takes_nothing_from_the_other_resource()
    {
        var burst = NewBurst();
        var slots = NewSlots();
        (await Api.Acquire(new { resources = new[] { slots } })).Expect(HttpStatusCode.OK);

        var denied = (await Api.Acquire(new { resources = new[] { burst, slots } })).Expect(HttpStatusCode.TooManyRequests);

        Assert.Equal($"resource:{slots}/{SlotPolicy}", denied.Json["limitedBy"]!.GetValue<string>());
        Assert.Null(denied.Json["leaseId"]);
        Assert.Equal(BurstLimit, await Api.Remaining("resource", burst, BurstPolicy));
    }

    [Fact]
    public async Task Cost_zero_peeks_leave_the_user_untouched()
    {
        var user = Ids.User();

        for (var i = 0; i < 3; i++)
        {
            var peek = (await Api.Acquire(new { user, cost = 0 })).Expect(HttpStatusCode.OK);
            Assert.True(peek.Json["allowed"]!.GetValue<bool>());
            Assert.Equal(100, peek.Json["remaining"]!.GetValue<long>());
            Assert.Null(peek.Json["leaseId"]);
            Assert.Equal($"\"user:{user}/per-minute\";r=100;t=0", peek.Header("RateLimit"));
        }

        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
    }

    [Fact]
    public async Task Cost_zero_peeks_leave_a_partly_used_bucket_untouched()
    {
        var burst = NewBurst();
        (await Api.Acquire(new { resources = new[] { burst }, cost = 2 })).Expect(HttpStatusCode.OK);

        for (var i = 0; i < 3; i++)
        {
            var peek = (await Api.Acquire(new { resources = new[] { burst }, cost = 0 })).Expect(HttpStatusCode.OK);
            Assert.Equal(1, peek.Json["remaining"]!.GetValue<long>());
            Assert.Equal(1, StructuredFields.ParseList(peek.Header("RateLimit"))[0].Integer("r"));
        }

        Assert.Equal(1, await Api.Remaining("resource", burst, BurstPolicy));

        // The peeked permit is still there to take.
        var take = (await Api.Acquire(new { resources = new[] { burst } })).Expect(HttpStatusCode.OK);
        Assert.Equal(0, take.Json["remaining"]!.GetValue<long>());
    }

    [Fact]
    public async Task Cost_zero_peek_at_an_exhausted_bucket_is_429_and_takes_nothing()
    {
        var burst = NewBurst();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        (await Api.Acquire(new { resources = new[] { burst }, cost = BurstLimit })).Expect(HttpStatusCode.OK);

        var peek = (await Api.Acquire(new { resources = new[] { burst }, cost = 0 })).Expect(HttpStatusCode.TooManyRequests);

        Assert.Equal($"resource:{burst}/{BurstPolicy}", peek.Json["limitedBy"]!.GetValue<string>());
        var retryAfterMs = peek.Json["retryAfterMs"]!.GetValue<long>();
        // One permit of 3 an hour refills 20 minutes after they were taken; at most the test's own time has passed.
        Assert.InRange(retryAfterMs, 1_200_000 - clock.ElapsedMilliseconds, 1_200_000);
        Assert.Equal(Reply.CeilingSeconds(retryAfterMs).ToString(System.Globalization.CultureInfo.InvariantCulture), peek.Header("Retry-After"));
        Assert.Equal(0, await Api.Remaining("resource", burst, BurstPolicy));
    }
}
