using System.Diagnostics;
using System.Net;
using Quota.Http.Tests.Infrastructure;
using static Quota.Http.Tests.Infrastructure.ConfiguredSilo;

namespace Quota.Http.Tests;

/// <summary>POST /v1/acquire: 200 and 429 bodies, <c>Retry-After</c>, <c>RateLimit-Policy</c> and <c>RateLimit</c>.</summary>
[Collection(ConfiguredHostCollection.Name)]
public sealed class AcquireTests(ConfiguredSilo host) : HostTest(host)
{
    private static readonly string[] AnswerFields =
        ["allowed", "limitedBy", "cause", "remaining", "limit", "resetAfterMs", "retryAfterMs", "token", "leaseId", "policies"];

    private static readonly string[] PolicyFields =
        ["subject", "policy", "algorithm", "limit", "remaining", "windowSeconds", "resetAfterMs"];

    [Fact]
    public async Task Allowed_answer_has_the_contract_fields_in_camel_case_with_exact_values()
    {
        var user = Ids.User();
        var burst = NewBurst();

        var reply = (await Api.Acquire(new { user, resources = new[] { burst } })).Expect(HttpStatusCode.OK);

        Assert.Equal("application/json", reply.MediaType);
        var body = reply.Json;
        Assert.Equal(AnswerFields.Order(), body.Select(p => p.Key).Order());
        Assert.True(body["allowed"]!.GetValue<bool>());
        Assert.Null(body["limitedBy"]);
        Assert.Null(body["cause"]);
        Assert.Null(body["token"]);
        Assert.Null(body["leaseId"]);
        Assert.Equal(0, body["retryAfterMs"]!.GetValue<long>());

        // The answer's headline numbers are the most constrained policy's: the bucket with 2 of 3 left.
        Assert.Equal(2, body["remaining"]!.GetValue<long>());
        Assert.Equal(3, body["limit"]!.GetValue<long>());

        // One permit of 3 per hour refills in exactly 20 minutes; the state is taken at the decision's instant.
        Assert.Equal(1_200_000, body["resetAfterMs"]!.GetValue<long>());

        var policies = body["policies"]!.AsArray();
        Assert.Equal(2, policies.Count);
        foreach (var p in policies)
        {
            Assert.Equal(PolicyFields.Order(), p!.AsObject().Select(f => f.Key).Order());
        }

        var perMinute = Reply.Policy(body, $"user:{user}", "per-minute");
        Assert.Equal("sliding-window", perMinute["algorithm"]!.GetValue<string>());
        Assert.Equal(100, perMinute["limit"]!.GetValue<long>());
        Assert.Equal(99, perMinute["remaining"]!.GetValue<long>());
        Assert.Equal(60, perMinute["windowSeconds"]!.GetValue<long>());
        // A sliding window of two aligned one-minute buckets: a permit taken x into the current bucket has left the
        // window 2 min - x later, so the reset is over one minute and at most two (x depends on the real clock).
        Assert.InRange(perMinute["resetAfterMs"]!.GetValue<long>(), 60_001, 120_000);

        var bucket = Reply.Policy(body, $"resource:{burst}", BurstPolicy);
        Assert.Equal("token-bucket", bucket["algorithm"]!.GetValue<string>());
        Assert.Equal(3, bucket["limit"]!.GetValue<long>());
        Assert.Equal(2, bucket["remaining"]!.GetValue<long>());
        Assert.Equal(3600, bucket["windowSeconds"]!.GetValue<long>());
        Assert.Equal(1_200_000, bucket["resetAfterMs"]!.GetValue<long>());

        Assert.Null(reply.Header("Retry-After"));
    }

    [Fact]
    public async Task Allowed_answer_carries_exact_RateLimit_Policy_and_RateLimit_headers()
    {
        var user = Ids.User();

        var reply = (await Api.Acquire(new { user })).Expect(HttpStatusCode.OK);

        Assert.Equal($"\"user:{user}/per-minute\";q=100;w=60", reply.Header("RateLimit-Policy"));
        var resetAfterMs = Reply.Policy(reply.Json, $"user:{user}", "per-minute")["resetAfterMs"]!.GetValue<long>();
        var t = Reply.CeilingSeconds(resetAfterMs);
        Assert.InRange(t, 61, 120);
        Assert.Equal($"\"user:{user}/per-minute\";r=99;t={t}", reply.Header("RateLimit"));

        var state = Assert.Single(StructuredFields.ParseList(reply.Header("RateLimit")));
        Assert.Equal($"user:{user}/per-minute", state.Name);
        Assert.Equal(99, state.Integer("r"));
        Assert.Equal(t, state.Integer("t"));
        Assert.Null(reply.Header("Retry-After"));
    }

    [Fact]
    public async Task Headers_list_every_policy_consulted_in_order_with_concurrency_quota_unit()
    {
        var user = Ids.User();
        var burst = NewBurst();
        var slots = NewSlots();

        var reply = (await Api.Acquire(new { user, resources = new[] { burst, slots }, cost = 1 })).Expect(HttpStatusCode.OK);

        Assert.Equal(
            $"\"user:{user}/per-minute\";q=100;w=60, \"resource:{burst}/{BurstPolicy}\";q=3;w=3600, \"resource:{slots}/{SlotPolicy}\";q=1;qu=\"concurrent-requests\"",
            reply.Header("RateLimit-Policy"));
        var state = StructuredFields.ParseList(reply.Header("RateLimit"));
        Assert.Equal([$"user:{user}/per-minute", $"resource:{burst}/{BurstPolicy}", $"resource:{slots}/{SlotPolicy}"], state.Select(s => s.Name));
        Assert.Equal([99L, 2L, 0L], state.Select(s => s.Integer("r")));
        Assert.Equal(Reply.CeilingSeconds(Reply.Policy(reply.Json, $"user:{user}", "per-minute")["resetAfterMs"]!.GetValue<long>()), state[0].Integer("t"));
        Assert.Equal(1200, state[1].Integer("t"));
        Assert.Equal(3600, state[2].Integer("t"));

        // Holding a concurrency permit yields a lease to release.
        Assert.NotNull(reply.Json["leaseId"]?.GetValue<string>());
    }

    [Fact]
    public async Task Exhausted_resource_is_429_limited_by_the_resource_with_Retry_After_and_headers()
    {
        var clock = Stopwatch.StartNew();
        var first = (await Api.Acquire(new { resources = new[] { "test-burst" }, cost = BurstLimit })).Expect(HttpStatusCode.OK);
        Assert.Equal(0, first.Json["remaining"]!.GetValue<long>());
        Assert.Equal("\"resource:test-burst/per-hour\";r=0;t=3600", first.Header("RateLimit"));

        var denied = (await Api.Acquire(new { resources = new[] { "test-burst" } })).Expect(HttpStatusCode.TooManyRequests);
        var elapsedMs = clock.ElapsedMilliseconds;

        Assert.Equal("application/json", denied.MediaType);
        var body = denied.Json;
        Assert.Equal(AnswerFields.Order(), body.Select(p => p.Key).Order());
        Assert.False(body["allowed"]!.GetValue<bool>());
        Assert.Equal("resource:test-burst/per-hour", body["limitedBy"]!.GetValue<string>());
        Assert.Equal(0, body["remaining"]!.GetValue<long>());
        Assert.Equal(3, body["limit"]!.GetValue<long>());
        Assert.Null(body["leaseId"]);
        Assert.Null(body["token"]);

        // The next permit refills 20 minutes after the three were taken; at most the test's own time has passed.
        var retryAfterMs = body["retryAfterMs"]!.GetValue<long>();
        Assert.InRange(retryAfterMs, 1_200_000 - elapsedMs, 1_200_000);
        Assert.Equal(Reply.CeilingSeconds(retryAfterMs).ToString(System.Globalization.CultureInfo.InvariantCulture), denied.Header("Retry-After"));

        var resetAfterMs = body["resetAfterMs"]!.GetValue<long>();
        Assert.InRange(resetAfterMs, 3_600_000 - elapsedMs, 3_600_000);
        Assert.Equal("\"resource:test-burst/per-hour\";q=3;w=3600", denied.Header("RateLimit-Policy"));
        Assert.Equal($"\"resource:test-burst/per-hour\";r=0;t={Reply.CeilingSeconds(resetAfterMs)}", denied.Header("RateLimit"));
        var bucket = Assert.Single(body["policies"]!.AsArray())!;
        Assert.Equal(0, bucket["remaining"]!.GetValue<long>());
        Assert.Equal(resetAfterMs, bucket["resetAfterMs"]!.GetValue<long>());
    }

    [Fact]
    public async Task Exhausted_user_is_429_limited_by_the_user_per_minute_policy()
    {
        var user = Ids.User();
        var all = (await Api.Acquire(new { user, cost = 100 })).Expect(HttpStatusCode.OK);
        Assert.Equal(0, all.Json["remaining"]!.GetValue<long>());

        var denied = (await Api.Acquire(new { user })).Expect(HttpStatusCode.TooManyRequests);

        var body = denied.Json;
        Assert.False(body["allowed"]!.GetValue<bool>());
        Assert.Equal($"user:{user}/per-minute", body["limitedBy"]!.GetValue<string>());
        Assert.Equal("policy", body["cause"]!.GetValue<string>());
        Assert.Equal(0, body["remaining"]!.GetValue<long>());
        Assert.Equal(100, body["limit"]!.GetValue<long>());
        // 100 taken in the current bucket: the next permit fits once they weigh 99, 600 ms into the next bucket.
        var retryAfterMs = body["retryAfterMs"]!.GetValue<long>();
        Assert.InRange(retryAfterMs, 1, 60_600);
        Assert.Equal(Reply.CeilingSeconds(retryAfterMs).ToString(System.Globalization.CultureInfo.InvariantCulture), denied.Header("Retry-After"));
        Assert.Equal($"\"user:{user}/per-minute\";q=100;w=60", denied.Header("RateLimit-Policy"));
        var state = Assert.Single(StructuredFields.ParseList(denied.Header("RateLimit")));
        Assert.Equal(0, state.Integer("r"));
        Assert.Equal(Reply.CeilingSeconds(body["resetAfterMs"]!.GetValue<long>()), state.Integer("t"));
    }

    [Fact]
    public async Task Names_of_the_longest_length_are_accepted()
    {
        var user = Ids.User().PadRight(Quota.Abstractions.RequestRules.MaxNameLength, 'x');

        var reply = (await Api.Acquire(new { user })).Expect(HttpStatusCode.OK);

        Assert.Equal(99, Reply.Policy(reply.Json, $"user:{user}", "per-minute")["remaining"]!.GetValue<long>());
    }

    [Fact]
    public async Task Wait_at_the_ceiling_is_accepted_and_answered_at_once_when_capacity_is_free()
    {
        var user = Ids.User();

        var reply = (await Api.Acquire(new { user, maxWaitMs = MaxWaitMs, priority = "critical" })).Expect(HttpStatusCode.OK);

        Assert.True(reply.Json["allowed"]!.GetValue<bool>());
        Assert.Equal(99, reply.Json["remaining"]!.GetValue<long>());
    }

    [Fact]
    public async Task Non_ascii_names_are_written_to_headers_as_printable_sf_strings()
    {
        var user = Ids.User() + "-zoë\"q\\";

        var reply = (await Api.Acquire(new { user })).Expect(HttpStatusCode.OK);

        var policy = Assert.Single(StructuredFields.ParseList(reply.Header("RateLimit-Policy")));
        Assert.Equal($"user:{user.Replace('ë', '?')}/per-minute", policy.Name);
        Assert.Equal($"user:{user}", Assert.Single(reply.Json["policies"]!.AsArray())!["subject"]!.GetValue<string>());
    }
}
