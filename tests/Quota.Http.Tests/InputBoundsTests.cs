using System.Net;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// Numbers from input are bounded where they enter, so no arithmetic inside overflows: a feedback Retry-After of
/// int64.Max (a 500 before), a burst of int64.Max (<c>resetAfterMs: -1</c> before), a token limit of int64.Max (no
/// buffer kept before). Each refusal names the field and stores nothing.
/// </summary>
[Collection(AdminHostCollection.Name)]
public sealed class InputBoundsTests(AdminSilo host) : HostTest(host)
{
    [Theory]
    [InlineData(long.MaxValue)]
    [InlineData(86_400_001)]
    [InlineData(-1)]
    public async Task A_feedback_retry_after_beyond_a_day_is_refused(long retryAfterMs)
    {
        var upstream = await Api.NewUpstream(100);

        var problem = (await Api.Feedback(new { upstream, token = "t1", status = 429, retryAfterMs })).ExpectProblem(HttpStatusCode.BadRequest, "retryAfterMs");

        Assert.Contains("86400000", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        var health = (await Api.GetToken(upstream, "t1")).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(100, health["usable"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_feedback_retry_after_of_a_day_is_accepted()
    {
        var upstream = await Api.NewUpstream(100);

        (await Api.Feedback(new { upstream, token = "t1", status = 429, retryAfterMs = 86_400_000 })).Expect(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("{\"name\":\"b\",\"algorithm\":\"token-bucket\",\"limit\":1,\"window\":\"01:00:00\",\"burst\":9223372036854775807}", "policies[0].burst")]
    [InlineData("{\"name\":\"b\",\"algorithm\":\"token-bucket\",\"limit\":1,\"window\":\"3650.00:00:00\",\"burst\":2}", "policies[0].burst")]
    [InlineData("{\"name\":\"b\",\"algorithm\":\"token-bucket\",\"limit\":9223372036854775807,\"window\":\"01:00:00\"}", "policies[0].limit")]
    [InlineData("{\"name\":\"b\",\"algorithm\":\"fixed-window\",\"limit\":1000000000001,\"window\":\"01:00:00\"}", "policies[0].limit")]
    [InlineData("{\"name\":\"b\",\"algorithm\":\"concurrency\",\"limit\":9223372036854775807}", "policies[0].limit")]
    public async Task Policy_numbers_beyond_their_bounds_are_refused_and_nothing_is_stored(string policy, string field)
    {
        var resource = Ids.New("bounds-");

        (await Api.Put($"/v1/admin/resources/{resource}", $"{{\"policies\":[{policy}]}}")).ExpectProblem(HttpStatusCode.BadRequest, field);

        (await Api.GetResource(resource)).ExpectProblem(HttpStatusCode.NotFound, "name");
    }

    [Fact]
    public async Task The_largest_burst_answers_a_real_reset_time()
    {
        var resource = Ids.New("bounds-");
        (await Api.PutResource(resource, Policies.TokenBucket("b", 1_000_000_000_000, "01:00:00", 1_000_000_000_000))).Expect(HttpStatusCode.OK);

        var reply = (await Api.Acquire(new { resources = new[] { resource }, cost = 1_000_000_000_000 })).Expect(HttpStatusCode.OK).Json;

        Assert.Equal(0, reply["remaining"]!.GetValue<long>());
        Assert.Equal(3_600_000, reply["resetAfterMs"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_token_limit_beyond_the_bound_is_refused_and_the_largest_keeps_its_buffer_exactly()
    {
        var upstream = Ids.New("up-");
        (await Api.PutUpstream(upstream, new { bufferPercent = 5, window = "00:01:00" })).Expect(HttpStatusCode.OK);

        (await Api.PutToken(upstream, "t1", new { secret = "s-0123456789abcdef", policies = new[] { Policies.FixedWindow("per-minute", long.MaxValue) } }))
            .ExpectProblem(HttpStatusCode.BadRequest, "policies[0].limit");
        (await Api.GetToken(upstream, "t1")).ExpectProblem(HttpStatusCode.NotFound, "id");

        var token = (await Api.PutToken(upstream, "t1", new { secret = "s-0123456789abcdef", policies = new[] { Policies.FixedWindow("per-minute", 1_000_000_000_000) } }))
            .Expect(HttpStatusCode.OK).Json;
        Assert.Equal(1_000_000_000_000, token["limit"]!.GetValue<long>());
        Assert.Equal(950_000_000_000, token["usable"]!.GetValue<long>());
    }
}
