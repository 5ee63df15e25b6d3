using System.Net;
using System.Text.Json.Nodes;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// Request bodies are read as docs/api.md says and no more loosely: field names exactly camelCase, numbers as JSON
/// numbers, a body read however it is framed, query flags checked. Each refusal names the field and changes nothing.
/// </summary>
[Collection(AdminHostCollection.Name)]
public sealed class StrictParsingTests(AdminSilo host) : HostTest(host)
{
    [Theory]
    [InlineData("{\"user\":\"{u}\",\"cost\":\"1\"}", "cost")]
    [InlineData("{\"user\":\"{u}\",\"maxWaitMs\":\"0\"}", "maxWaitMs")]
    [InlineData("{\"User\":\"{u}\"}", "User")]
    [InlineData("{\"user\":\"{u}\",\"Cost\":1}", "Cost")]
    [InlineData("{\"USER\":\"{u}\"}", "USER")]
    public async Task Acquire_reads_names_exactly_and_numbers_only_as_numbers(string template, string field)
    {
        var user = Ids.User();

        (await Api.Post("/v1/acquire", template.Replace("{u}", user, StringComparison.Ordinal))).ExpectProblem(HttpStatusCode.BadRequest, field);

        // Nothing was taken: the user's window is untouched.
        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
    }

    [Fact]
    public async Task A_number_in_quotes_is_named_as_the_wrong_type()
    {
        var problem = (await Api.Post("/v1/acquire", $"{{\"user\":\"{Ids.User()}\",\"cost\":\"1\"}}")).ExpectProblem(HttpStatusCode.BadRequest, "cost");

        Assert.Contains("must be a JSON number", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1.5")]
    [InlineData("1e2")]
    [InlineData("99999999999999999999")]
    public async Task A_number_the_field_cannot_hold_is_named_as_such_not_as_a_quoted_number(string cost)
    {
        var user = Ids.User();

        var problem = (await Api.Post("/v1/acquire", $"{{\"user\":\"{user}\",\"cost\":{cost}}}")).ExpectProblem(HttpStatusCode.BadRequest, "cost");

        var detail = problem["detail"]!.GetValue<string>();
        Assert.Contains("must be a whole number", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("quotes", detail, StringComparison.Ordinal);
        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("5")]
    [InlineData("\"user\"")]
    public async Task Well_formed_json_that_is_not_an_object_is_named_as_such(string body)
    {
        var problem = (await Api.Post("/v1/acquire", body)).ExpectProblem(HttpStatusCode.BadRequest, "body");

        Assert.StartsWith("body: must be a JSON object", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Settle_release_and_feedback_read_strictly()
    {
        (await Api.Post("/v1/settle", "{\"leaseId\":\"x\",\"actualCost\":\"1\"}")).ExpectProblem(HttpStatusCode.BadRequest, "actualCost");
        (await Api.Post("/v1/settle", "{\"LeaseId\":\"x\",\"actualCost\":1}")).ExpectProblem(HttpStatusCode.BadRequest, "LeaseId");
        (await Api.Post("/v1/release", "{\"LeaseID\":\"x\"}")).ExpectProblem(HttpStatusCode.BadRequest, "LeaseID");
        (await Api.Post("/v1/feedback", "{\"upstream\":\"a\",\"token\":\"b\",\"status\":\"429\"}")).ExpectProblem(HttpStatusCode.BadRequest, "status");
    }

    [Fact]
    public async Task Admin_bodies_read_strictly_and_store_nothing_when_refused()
    {
        var user = Ids.User();

        (await Api.Put($"/v1/admin/users/{user}", "{\"Policies\":[{\"name\":\"p\",\"algorithm\":\"fixed-window\",\"limit\":5,\"window\":\"00:01:00\"}]}"))
            .ExpectProblem(HttpStatusCode.BadRequest, "Policies");
        (await Api.Put($"/v1/admin/users/{user}", "{\"policies\":[{\"name\":\"p\",\"algorithm\":\"fixed-window\",\"limit\":\"5\",\"window\":\"00:01:00\"}]}"))
            .ExpectProblem(HttpStatusCode.BadRequest, "policies[0].limit");

        Assert.False((await Api.GetUser(user)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Key_registration_reads_a_chunked_body()
    {
        var user = Ids.User();
        var key = Ids.New("chunked-key-");
        var body = $"{{\"key\":\"{key}\"}}";
        var head = string.Join("\r\n",
            $"POST /v1/admin/users/{user}/keys HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
            $"Authorization: Bearer {AdminSilo.Token}", "Transfer-Encoding: chunked", "Connection: close");

        var reply = await RawHttp.SendAsync(host.BaseAddress, head, $"{body.Length:x}\r\n{body}\r\n0\r\n\r\n");

        Assert.True(reply.Status == 201, $"{reply.Status}: {reply.Body}");
        Assert.Equal(key, JsonNode.Parse(reply.Body)!["key"]!.GetValue<string>());
        (await Api.Acquire(new { apiKey = key })).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_chunked_key_registration_body_is_checked_like_any_other()
    {
        var user = Ids.User();
        const string body = "{\"key\":\"short\"}";
        var head = string.Join("\r\n",
            $"POST /v1/admin/users/{user}/keys HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
            $"Authorization: Bearer {AdminSilo.Token}", "Transfer-Encoding: chunked", "Connection: close");

        var reply = await RawHttp.SendAsync(host.BaseAddress, head, $"{body.Length:x}\r\n{body}\r\n0\r\n\r\n");

        reply.ExpectProblem(HttpStatusCode.BadRequest, "key");
        Assert.Empty((await Api.Get($"/v1/admin/users/{user}/keys")).Expect(HttpStatusCode.OK).Json["keys"]!.AsArray());
    }

    [Theory]
    [InlineData("maybe")]
    [InlineData("1")]
    [InlineData("")]
    [InlineData("true&dryRun=false")]
    public async Task A_dry_run_flag_that_is_not_true_or_false_is_a_problem_naming_it(string value)
    {
        var user = Ids.User();
        var document = $"{{\"users\":{{\"{user}\":{{\"policies\":[{{\"name\":\"p\",\"algorithm\":\"fixed-window\",\"limit\":5,\"window\":\"00:01:00\"}}]}}}}}}";

        var problem = (await Api.PostText($"/v1/admin/apply?dryRun={value}", document, "application/json")).ExpectProblem(HttpStatusCode.BadRequest, "dryRun");

        Assert.Contains("must be true or false", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.False((await Api.GetUser(user)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
    }

    [Fact]
    public async Task A_dry_run_flag_of_true_plans_and_applies_nothing()
    {
        var user = Ids.User();
        var document = $"{{\"users\":{{\"{user}\":{{\"policies\":[{{\"name\":\"p\",\"algorithm\":\"fixed-window\",\"limit\":5,\"window\":\"00:01:00\"}}]}}}}}}";

        var reply = (await Api.PostText("/v1/admin/apply?dryRun=true", document, "application/json")).Expect(HttpStatusCode.OK);

        Assert.True(reply.Json["dryRun"]!.GetValue<bool>());
        Assert.False((await Api.GetUser(user)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
    }
}
