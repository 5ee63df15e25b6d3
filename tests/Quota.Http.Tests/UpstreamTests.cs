using System.Diagnostics;
using System.Net;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// Acquiring upstream tokens over HTTP: the secret only for admin-scoped callers, feedback opening a token's circuit,
/// the pool's allocation, tenants' and tokens' usage.
/// </summary>
[Collection(AdminHostCollection.Name)]
public sealed class UpstreamTests(AdminSilo host) : HostTest(host)
{
    [Fact]
    public async Task The_secret_comes_only_to_admin_scoped_callers_who_ask()
    {
        var upstream = await Api.NewUpstream(100);
        var anonymous = Api.WithAuthorization(null);

        var plain = (await anonymous.Acquire(new { upstream })).Expect(HttpStatusCode.OK).Json;
        Assert.Equal("{\"id\":\"t1\",\"upstream\":\"" + upstream + "\"}", plain["token"]!.ToJsonString());

        var refused = (await anonymous.Acquire(new { upstream, includeSecret = true })).ExpectProblem(HttpStatusCode.Forbidden, "includeSecret");
        Assert.Equal("Forbidden", refused["title"]!.GetValue<string>());
        Assert.Contains("only admin-scoped callers may receive secrets", refused["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        (await Api.WithAuthorization("Bearer wrong").Acquire(new { upstream, includeSecret = true })).ExpectProblem(HttpStatusCode.Forbidden, "includeSecret");

        var granted = (await Api.Acquire(new { upstream, includeSecret = true })).Expect(HttpStatusCode.OK).Json;
        Assert.Equal("t1", granted["token"]!["id"]!.GetValue<string>());
        Assert.Equal(TenancyApi.SecretOf(upstream, "t1"), granted["token"]!["secret"]!.GetValue<string>());

        // The admin caller who does not ask gets no secret either.
        Assert.False((await Api.Acquire(new { upstream })).Expect(HttpStatusCode.OK).Json["token"]!.AsObject().ContainsKey("secret"));

        // The refused requests took nothing: three grants so far.
        var usage = (await Api.Get($"/v1/usage/token/{upstream}/t1")).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(97, Reply.Policy(usage, $"token:{upstream}/t1", "per-minute")["remaining"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_tenant_acquires_a_token_of_its_upstream()
    {
        var upstream = await Api.NewUpstream(100);
        var tenant = await Api.NewTenant(upstream, 10);

        var granted = (await Api.WithAuthorization(null).Acquire(new { tenant })).Expect(HttpStatusCode.OK).Json;

        Assert.Equal("{\"id\":\"t1\",\"upstream\":\"" + upstream + "\"}", granted["token"]!.ToJsonString());
    }

    [Theory]
    [InlineData("tenant")]
    [InlineData("upstream")]
    public async Task Unknown_tenants_and_upstreams_are_404_naming_the_field(string field)
    {
        var reply = await Api.Post("/v1/acquire", $"{{\"{field}\":\"{Ids.New("missing-")}\"}}");

        reply.ExpectProblem(HttpStatusCode.NotFound, field);
    }

    [Fact]
    public async Task Five_failures_open_a_circuit_and_acquisitions_use_the_other_token()
    {
        var upstream = await Api.NewUpstream(100, 100);
        var app = Api.WithAuthorization(null);

        for (var failure = 1; failure <= 4; failure++)
        {
            var health = (await app.Feedback(new { upstream, token = "t1", status = 503 })).Expect(HttpStatusCode.OK).Json;
            Assert.Equal(upstream, health["upstream"]!.GetValue<string>());
            Assert.Equal("t1", health["token"]!.GetValue<string>());
            Assert.Equal("closed", health["health"]!["circuit"]!.GetValue<string>());
            Assert.Equal(failure, health["health"]!["consecutiveFailures"]!.GetValue<int>());
        }

        var opened = (await app.Feedback(new { upstream, token = "t1", status = 0 })).Expect(HttpStatusCode.OK).Json["health"]!;
        Assert.Equal("open", opened["circuit"]!.GetValue<string>());
        Assert.Equal(0, opened["consecutiveFailures"]!.GetValue<int>()); // counted while closed only
        Assert.Equal(1, opened["timesOpened"]!.GetValue<long>());
        Assert.Equal(30_000, opened["retryAfterMs"]!.GetValue<long>()); // the default open duration, 30 s, from this instant

        // Least-utilised choice would alternate; the open token is skipped instead.
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal("t2", TenancyApi.ChosenToken(await app.Acquire(new { upstream })));
        }

        var allocation = (await Api.Allocation(upstream)).Expect(HttpStatusCode.OK).Json;
        var tokens = allocation["tokens"]!.AsArray();
        Assert.Equal("open", tokens.Single(t => t!["id"]!.GetValue<string>() == "t1")!["health"]!["circuit"]!.GetValue<string>());
        Assert.Equal("closed", tokens.Single(t => t!["id"]!.GetValue<string>() == "t2")!["health"]!["circuit"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_denial_by_an_open_circuit_states_its_cause_and_keeps_limited_by_as_before()
    {
        var upstream = await Api.NewUpstream(100);
        var app = Api.WithAuthorization(null);
        for (var failure = 1; failure <= 4; failure++)
        {
            (await app.Feedback(new { upstream, token = "t1", status = 503 })).Expect(HttpStatusCode.OK);
        }

        var open = Stopwatch.StartNew();
        (await app.Feedback(new { upstream, token = "t1", status = 503 })).Expect(HttpStatusCode.OK);
        var denied = (await app.Acquire(new { upstream })).Expect(HttpStatusCode.TooManyRequests).Json;

        Assert.False(denied["allowed"]!.GetValue<bool>());
        Assert.Equal("circuit", denied["cause"]!.GetValue<string>());
        Assert.Equal($"token:{upstream}/t1/circuit", denied["limitedBy"]!.GetValue<string>());
        // Until the half-open probe, 30 s by default after the fifth failure: less by what this test measured since.
        Assert.InRange(denied["retryAfterMs"]!.GetValue<long>(), 30_000 - open.ElapsedMilliseconds - 1, 30_000);
    }

    [Fact]
    public async Task Rate_limiting_and_success_are_not_failures()
    {
        var upstream = await Api.NewUpstream(100);
        var app = Api.WithAuthorization(null);
        (await app.Feedback(new { upstream, token = "t1", status = 500 })).Expect(HttpStatusCode.OK);

        var limited = (await app.Feedback(new { upstream, token = "t1", status = 429, retryAfterMs = 30000 })).Expect(HttpStatusCode.OK).Json["health"]!;
        Assert.Equal("closed", limited["circuit"]!.GetValue<string>());

        var ok = (await app.Feedback(new { upstream, token = "t1", status = 200 })).Expect(HttpStatusCode.OK).Json["health"]!;
        Assert.Equal(0, ok["consecutiveFailures"]!.GetValue<int>());
    }

    [Fact]
    public async Task Feedback_names_every_problem_at_once()
    {
        var empty = (await Api.Feedback(new { })).ExpectProblem(HttpStatusCode.BadRequest, "upstream");
        Assert.Equal(["upstream", "token", "status"], TenancyApi.Fields(empty));

        var wrong = (await Api.Feedback(new { upstream = "", token = new string('t', 257), status = 700, retryAfterMs = -1 })).ExpectProblem(HttpStatusCode.BadRequest, "upstream");
        Assert.Equal(["upstream", "token", "status", "retryAfterMs"], TenancyApi.Fields(wrong));

        (await Api.Feedback(new { upstream = "u", token = "t", status = 99 })).ExpectProblem(HttpStatusCode.BadRequest, "status");
        (await Api.Post("/v1/feedback", "{\"upstream\":\"u\",\"token\":\"t\",\"status\":500,\"tenant\":\"x\"}")).ExpectProblem(HttpStatusCode.BadRequest, "tenant");
        (await Api.Post("/v1/feedback", "{\"upstream\":\"u\",\"token\":\"t\",\"status\":\"bad\"}")).ExpectProblem(HttpStatusCode.BadRequest, "status");
    }

    [Fact]
    public async Task Feedback_on_an_unknown_token_is_404_naming_token()
    {
        var upstream = await Api.NewUpstream(100);

        (await Api.WithAuthorization(null).Feedback(new { upstream, token = "t9", status = 500 })).ExpectProblem(HttpStatusCode.NotFound, "token");
        (await Api.WithAuthorization(null).Feedback(new { upstream = Ids.New("missing-"), token = "t1", status = 500 })).ExpectProblem(HttpStatusCode.NotFound, "token");
    }

    [Fact]
    public async Task Allocation_shows_capacity_reserves_tenants_and_tokens()
    {
        var upstream = await Api.NewUpstream(100, 50);
        var tenant = await Api.NewTenant(upstream, 40);

        var report = (await Api.Allocation(upstream)).Expect(HttpStatusCode.OK).Json;

        Assert.Equal(upstream, report["upstream"]!.GetValue<string>());
        Assert.Equal(60, report["windowSeconds"]!.GetValue<long>());
        Assert.Equal(150, report["capacity"]!.GetValue<long>());
        Assert.Equal(40, report["reserved"]!.GetValue<long>());
        Assert.Equal(110, report["lendable"]!.GetValue<long>());
        Assert.Equal(0, report["leased"]!.GetValue<long>()); // nothing was asked for yet
        Assert.Equal(report["learning"]!.GetValue<bool>(), report["learningEndsInMs"]!.GetValue<long>() > 0);
        var share = TenancyAdminTests.Only(report["tenants"]);
        Assert.Equal(tenant, share["tenant"]!.GetValue<string>());
        Assert.Equal(40, share["reserved"]!.GetValue<long>());
        foreach (var field in new[] { "tier", "weight", "priority", "burst", "demand", "fairShare", "lease", "leaseTtlMs", "used" })
        {
            Assert.True(share.ContainsKey(field), $"tenant allocation has no {field}: {share.ToJsonString()}");
        }

        var tokens = report["tokens"]!.AsArray().OrderBy(t => t!["id"]!.GetValue<string>()).ToList();
        Assert.Equal(["t1", "t2"], tokens.Select(t => t!["id"]!.GetValue<string>()));
        Assert.Equal([100L, 50L], tokens.Select(t => t!["limit"]!.GetValue<long>()));
        Assert.Equal([100L, 50L], tokens.Select(t => t!["usable"]!.GetValue<long>()));
        Assert.All(tokens, t =>
        {
            Assert.Equal(0, t!["used"]!.GetValue<long>());
            Assert.Equal(0.0, t["utilisation"]!.GetValue<double>());
            Assert.Equal("closed", t["health"]!["circuit"]!.GetValue<string>());
        });
    }

    [Fact]
    public async Task Allocation_is_behind_the_admin_gate_and_404_for_an_unknown_upstream()
    {
        var upstream = await Api.NewUpstream(100);

        Assert.Equal(HttpStatusCode.Unauthorized, (await Api.WithAuthorization(null).Allocation(upstream)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await Api.WithAuthorization("Bearer wrong").Allocation(upstream)).Status);
        (await Api.Allocation(Ids.New("missing-"))).ExpectProblem(HttpStatusCode.NotFound, "name");
    }

    [Fact]
    public async Task Tenant_and_token_usage_answer_with_either_spelling_of_a_token()
    {
        var upstream = await Api.NewUpstream(100);
        var tenant = await Api.NewTenant(upstream, 10);
        (await Api.Acquire(new { tenant })).Expect(HttpStatusCode.OK);

        var tenantUsage = (await Api.WithAuthorization(null).Usage("tenant", tenant)).Expect(HttpStatusCode.OK).Json;
        Assert.Equal($"tenant:{tenant}", tenantUsage["subject"]!.GetValue<string>());
        Assert.True(tenantUsage["known"]!.GetValue<bool>());

        var twoSegments = (await Api.Get($"/v1/usage/token/{upstream}/t1")).Expect(HttpStatusCode.OK);
        var escaped = (await Api.Usage("token", $"{upstream}/t1")).Expect(HttpStatusCode.OK);
        foreach (var usage in new[] { twoSegments.Json, escaped.Json })
        {
            Assert.Equal($"token:{upstream}/t1", usage["subject"]!.GetValue<string>());
            var policy = Reply.Policy(usage, $"token:{upstream}/t1", "per-minute");
            Assert.Equal(100, policy["limit"]!.GetValue<long>());
            Assert.Equal(99, policy["remaining"]!.GetValue<long>());
        }

        (await Api.Get($"/v1/usage/token/{upstream}/t9")).ExpectProblem(HttpStatusCode.NotFound, "id");
        (await Api.Usage("tenant", Ids.New("missing-"))).ExpectProblem(HttpStatusCode.NotFound, "id");
    }
}
