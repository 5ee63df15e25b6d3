using System.Net;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>The host as shipped: built-in policies, 16384-byte bodies, 20 s waits.</summary>
[Collection(DefaultHostCollection.Name)]
public sealed class DefaultHostTests(DefaultSilo host) : HostTest(host)
{
    private const int DefaultMaxBodyBytes = 16 * 1024;
    private const long DefaultMaxWaitMs = 20_000;

    [Fact]
    public async Task Telegram_usage_is_the_built_in_token_bucket_of_30_per_second()
    {
        var reply = (await Api.Usage("resource", "telegram")).Expect(HttpStatusCode.OK);

        Assert.Equal(
            "{\"subject\":\"resource:telegram\",\"known\":true,\"policies\":[{\"subject\":\"resource:telegram\",\"policy\":\"per-second\",\"algorithm\":\"token-bucket\",\"limit\":30,\"remaining\":30,\"windowSeconds\":1,\"resetAfterMs\":0}],\"waiting\":0}",
            reply.Body);
    }

    [Fact]
    public async Task Telegram_peek_carries_the_built_in_policy_headers()
    {
        var reply = (await Api.Acquire(new { resources = new[] { "telegram" }, cost = 0 })).Expect(HttpStatusCode.OK);

        Assert.Equal("\"resource:telegram/per-second\";q=30;w=1", reply.Header("RateLimit-Policy"));
        Assert.Equal("\"resource:telegram/per-second\";r=30;t=0", reply.Header("RateLimit"));
    }

    [Fact]
    public async Task Telegram_chats_each_get_the_built_in_20_per_minute()
    {
        var chat = $"telegram:chat:-{Random.Shared.NextInt64(1_000_000_000_000, 9_999_999_999_999)}";

        var reply = (await Api.Acquire(new { resources = new[] { chat }, cost = 20 })).Expect(HttpStatusCode.OK);
        Assert.Equal($"\"resource:{chat}/per-minute\";q=20;w=60", reply.Header("RateLimit-Policy"));
        Assert.Equal(0, reply.Json["remaining"]!.GetValue<long>());

        var denied = (await Api.Acquire(new { resources = new[] { chat } })).Expect(HttpStatusCode.TooManyRequests);
        Assert.Equal($"resource:{chat}/per-minute", denied.Json["limitedBy"]!.GetValue<string>());
        var retryAfterMs = denied.Json["retryAfterMs"]!.GetValue<long>();
        // A sliding window: 20 taken in the current bucket weigh 19 three seconds into the next one.
        Assert.InRange(retryAfterMs, 1, 63_000);
        Assert.Equal(Reply.CeilingSeconds(retryAfterMs).ToString(System.Globalization.CultureInfo.InvariantCulture), denied.Header("Retry-After"));
    }

    [Fact]
    public async Task Test_resources_are_not_configured_here()
    {
        (await Api.Acquire(new { resources = new[] { "test-burst" } })).ExpectProblem(HttpStatusCode.NotFound, "resources[0]");
        (await Api.Usage("resource", "slots")).ExpectProblem(HttpStatusCode.NotFound, "id");
    }

    [Fact]
    public async Task Body_over_16384_bytes_is_rejected_and_exactly_16384_is_accepted()
    {
        var user = Ids.User();

        var json = (await Api.Post("/v1/acquire", Bodies.Padded(user, DefaultMaxBodyBytes + 1))).ExpectProblem(HttpStatusCode.BadRequest, "body");
        Assert.Contains($"at most {DefaultMaxBodyBytes}", json["detail"]!.GetValue<string>(), StringComparison.Ordinal);

        (await Api.Post("/v1/acquire", Bodies.Padded(user, DefaultMaxBodyBytes))).Expect(HttpStatusCode.OK);
        Assert.Equal(99, await Api.Remaining("user", user, "per-minute"));
    }

    [Fact]
    public async Task Wait_above_20_seconds_is_rejected_and_exactly_20_seconds_is_accepted()
    {
        var user = Ids.User();

        var json = (await Api.Acquire(new { user, maxWaitMs = DefaultMaxWaitMs + 1 })).ExpectProblem(HttpStatusCode.BadRequest, "maxWaitMs");
        Assert.Contains($"at most {DefaultMaxWaitMs} ms", json["detail"]!.GetValue<string>(), StringComparison.Ordinal);

        (await Api.Acquire(new { user, maxWaitMs = DefaultMaxWaitMs })).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Built_in_user_policy_is_100_per_minute()
    {
        var user = Ids.User();

        var reply = (await Api.Acquire(new { user, cost = 100 })).Expect(HttpStatusCode.OK);

        Assert.Equal($"\"user:{user}/per-minute\";q=100;w=60", reply.Header("RateLimit-Policy"));
        Assert.Equal(0, reply.Json["remaining"]!.GetValue<long>());
        (await Api.Acquire(new { user })).Expect(HttpStatusCode.TooManyRequests);
    }
}
