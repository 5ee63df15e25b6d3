using System.Net;
using System.Text;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// One name rule for every identifier, at every door: whitespace-only names, names with whitespace at an end,
/// control, separator and invisible format characters are a 400 naming the field, and nothing is stored or
/// activated (each of these answered 500 before, and a tenant named " " was stored and broke every scheduler run).
/// </summary>
[Collection(AdminHostCollection.Name)]
public sealed class NameRuleTests(AdminSilo host) : HostTest(host)
{
    [Theory]
    [InlineData("{\"user\":\" \"}", "user")]
    [InlineData("{\"user\":\"\\u00a0\"}", "user")]
    [InlineData("{\"user\":\"\\u3000\"}", "user")]
    [InlineData("{\"user\":\" alice\"}", "user")]
    [InlineData("{\"user\":\"alice\\u3000\"}", "user")]
    [InlineData("{\"user\":\"al\\u200bice\"}", "user")] // zero-width space: prints as "alice"
    [InlineData("{\"user\":\"al\\u202eice\"}", "user")] // right-to-left override
    [InlineData("{\"user\":\"al\\u2028ice\"}", "user")] // line separator
    [InlineData("{\"resources\":[\" \"]}", "resources[0]")]
    [InlineData("{\"resources\":[\"telegram\",\"\\t\"]}", "resources[1]")]
    [InlineData("{\"apiKey\":\" \"}", "apiKey")]
    [InlineData("{\"tenant\":\" \"}", "tenant")]
    [InlineData("{\"upstream\":\"\\u3000\"}", "upstream")]
    public async Task Acquire_refuses_names_that_break_the_rule(string body, string field)
    {
        var problem = (await Api.Post("/v1/acquire", body)).ExpectProblem(HttpStatusCode.BadRequest, field);

        Assert.Null(problem["limitedBy"]);
    }

    [Fact]
    public async Task A_name_with_whitespace_inside_is_a_name()
    {
        (await Api.Acquire(new { user = $"big {Ids.User()}" })).Expect(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("/v1/usage/user/%20")]
    [InlineData("/v1/usage/resource/%C2%A0")]
    [InlineData("/v1/usage/tenant/%E3%80%80")]
    [InlineData("/v1/usage/user/%20?from=2026-11-23T00:00:00Z")]
    [InlineData("/v1/usage/token/up/%20")]
    public async Task Usage_refuses_names_that_break_the_rule(string path)
    {
        (await Api.Get(path)).ExpectProblem(HttpStatusCode.BadRequest, "id");
    }

    [Theory]
    [InlineData("user: ")]
    [InlineData("resource:\u3000")]
    [InlineData("user:alice\nuser: ")]
    public async Task A_lease_id_naming_a_holder_that_breaks_the_rule_is_not_ours(string holders)
    {
        var leaseId = $"{Guid.NewGuid():N}.{System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes(holders))}";

        var settle = (await Api.Settle(new { leaseId, actualCost = 1 })).ExpectProblem(HttpStatusCode.BadRequest, "leaseId");
        var release = (await Api.Release(new { leaseId })).ExpectProblem(HttpStatusCode.BadRequest, "leaseId");

        Assert.Equal("leaseId: is not a lease id issued by this service.", settle["detail"]!.GetValue<string>());
        Assert.Equal("leaseId: is not a lease id issued by this service.", release["detail"]!.GetValue<string>());
    }

    public static TheoryData<string, string, string> AdminRoutes => new()
    {
        { "GET", "/v1/admin/users/%20", "id" },
        { "PUT", "/v1/admin/users/%20", "id" },
        { "DELETE", "/v1/admin/users/%20", "id" },
        { "GET", "/v1/admin/users/%E3%80%80/keys", "id" },
        { "POST", "/v1/admin/users/%20/keys", "id" },
        { "GET", "/v1/admin/resources/%20", "name" },
        { "PUT", "/v1/admin/resources/%C2%A0", "name" },
        { "DELETE", "/v1/admin/resources/%20", "name" },
        { "GET", "/v1/admin/tenants/%20", "id" },
        { "PUT", "/v1/admin/tenants/%20", "id" },
        { "DELETE", "/v1/admin/tenants/%20", "id" },
        { "GET", "/v1/admin/upstreams/%20", "name" },
        { "PUT", "/v1/admin/upstreams/%20", "name" },
        { "DELETE", "/v1/admin/upstreams/%20", "name" },
        { "GET", "/v1/admin/upstreams/%20/tokens", "name" },
        { "PUT", "/v1/admin/upstreams/any/tokens/%20", "id" },
        { "GET", "/v1/admin/upstreams/any/tokens/%E2%80%8B", "id" },
        { "DELETE", "/v1/admin/upstreams/any/tokens/%20", "id" },
        { "GET", "/v1/upstreams/%20/allocation", "name" },
    };

    [Theory]
    [MemberData(nameof(AdminRoutes))]
    public async Task Admin_routes_refuse_names_that_break_the_rule(string method, string path, string field)
    {
        var body = method is "PUT" or "POST"
            ? path.Contains("/tokens/", StringComparison.Ordinal) ? "{\"secret\":\"s-0123456789abcdef\",\"policies\":[{\"name\":\"per-minute\",\"algorithm\":\"fixed-window\",\"limit\":10,\"window\":\"00:01:00\"}]}"
            : path.Contains("/tenants/", StringComparison.Ordinal) ? "{\"reserved\":1}"
            : path.Contains("/upstreams/", StringComparison.Ordinal) ? "{\"bufferPercent\":5}"
            : path.EndsWith("/keys", StringComparison.Ordinal) ? "{}"
            : "{\"policies\":[{\"name\":\"per-minute\",\"algorithm\":\"fixed-window\",\"limit\":10,\"window\":\"00:01:00\"}]}"
            : null;
        var reply = body is null ? await Api.Send(new HttpMethod(method), path) : method == "PUT" ? await Api.Put(path, body) : await Api.Post(path, body);

        reply.ExpectProblem(HttpStatusCode.BadRequest, field);
    }

    [Fact]
    public async Task A_tenant_named_with_whitespace_is_not_stored_and_the_scheduler_still_runs()
    {
        var upstream = await Api.NewUpstream(100);

        (await Api.Put("/v1/admin/tenants/%20", $"{{\"upstream\":\"{upstream}\",\"reserved\":10,\"strategy\":\"shared\"}}")).ExpectProblem(HttpStatusCode.BadRequest, "id");
        (await Api.Put("/v1/admin/tenants/%E3%80%80", $"{{\"upstream\":\"{upstream}\",\"reserved\":10,\"strategy\":\"shared\"}}")).ExpectProblem(HttpStatusCode.BadRequest, "id");
        (await Api.Apply($"{{\"tenants\":{{\" \":{{\"upstream\":\"{upstream}\",\"reserved\":10,\"strategy\":\"shared\"}}}}}}")).Expect(HttpStatusCode.BadRequest);
        (await Api.Put("/v1/admin/upstreams/%20", "{\"bufferPercent\":5}")).ExpectProblem(HttpStatusCode.BadRequest, "name");

        var tenants = (await Api.Get("/v1/admin/tenants")).Expect(HttpStatusCode.OK).Json["tenants"]!.AsArray().Select(t => t!["id"]!.GetValue<string>());
        Assert.DoesNotContain(tenants, t => string.IsNullOrWhiteSpace(t));
        var upstreams = (await Api.Get("/v1/admin/upstreams")).Expect(HttpStatusCode.OK).Json["upstreams"]!.AsArray().Select(u => u!["name"]!.GetValue<string>());
        Assert.DoesNotContain(upstreams, u => string.IsNullOrWhiteSpace(u));

        // Every run failed (500, "lastError") while a tenant named " " was stored.
        await Api.RunScheduler();
        Assert.Null((await Api.SchedulerStatus())["lastError"]);
    }

    [Fact]
    public async Task Feedback_refuses_names_that_break_the_rule()
    {
        (await Api.Feedback(new { upstream = " ", token = "t1", status = 429 })).ExpectProblem(HttpStatusCode.BadRequest, "upstream");
        (await Api.Feedback(new { upstream = "up", token = "t1\u200b", status = 429 })).ExpectProblem(HttpStatusCode.BadRequest, "token");
    }

    [Fact]
    public async Task A_token_named_with_whitespace_is_not_stored()
    {
        var upstream = await Api.NewUpstream(100);

        (await Api.Put($"/v1/admin/upstreams/{upstream}/tokens/%20", "{\"secret\":\"s-0123456789abcdef\",\"policies\":[{\"name\":\"per-minute\",\"algorithm\":\"fixed-window\",\"limit\":10,\"window\":\"00:01:00\"}]}"))
            .ExpectProblem(HttpStatusCode.BadRequest, "id");

        var tokens = (await Api.Get($"/v1/admin/upstreams/{upstream}/tokens")).Expect(HttpStatusCode.OK).Json["tokens"]!.AsArray();
        Assert.Equal(["t1"], tokens.Select(t => t!["id"]!.GetValue<string>()));
    }
}
