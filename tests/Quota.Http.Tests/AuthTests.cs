using System.Net;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// The admin gate on a host with <c>Quota:Admin:Token</c>: the admin API and the dashboard need
/// <c>Authorization: Bearer {token}</c> (401 without, 403 when wrong); decisions, health and metrics never do.
/// </summary>
[Collection(AdminHostCollection.Name)]
public sealed class AuthTests(AdminSilo host) : HostTest(host)
{
    public static TheoryData<string, string> AdminRequests => new()
    {
        { "GET", "/v1/admin/users" },
        { "GET", "/v1/admin/users/alice" },
        { "PUT", "/v1/admin/users/alice" },
        { "DELETE", "/v1/admin/users/alice" },
        { "POST", "/v1/admin/users/alice/keys" },
        { "GET", $"/v1/admin/keys/{new string('a', 64)}" },
        { "GET", "/v1/admin/resources" },
        { "GET", "/v1/admin/changes" },
        { "POST", "/v1/admin/apply" },
        { "GET", "/v1/admin/tenants/acme" },
        { "PUT", "/v1/admin/upstreams/acme" },
        { "DELETE", "/v1/admin/upstreams/acme/tokens/t1" },
        { "GET", "/v1/upstreams/acme/allocation" },
        { "GET", "/v1/admin/scheduler" },
        { "POST", "/v1/admin/scheduler/run" },
        { "GET", "/v1/admin/scheduler/history" },
        { "GET", "/v1/admin/no-such-route" },
        { "POST", "/dashboard/" },
    };

    [Theory]
    [MemberData(nameof(AdminRequests))]
    public async Task Without_authorization_is_401_with_a_bearer_challenge(string method, string path)
    {
        var reply = await Api.WithAuthorization(null).Send(new HttpMethod(method), path);

        AssertGateProblem(reply, HttpStatusCode.Unauthorized, "Unauthorized", "Send the admin token as 'Authorization: Bearer <token>'.");
        Assert.Equal("Bearer realm=\"quota-admin\"", reply.Header("WWW-Authenticate"));
    }

    [Theory]
    [InlineData("Basic cXVvdGE6c2VjcmV0")]
    [InlineData("Bearer")]
    [InlineData(AdminSilo.Token)]
    public async Task Other_schemes_are_401(string authorization)
    {
        var reply = await Api.WithAuthorization(authorization).Get("/v1/admin/users");

        AssertGateProblem(reply, HttpStatusCode.Unauthorized, "Unauthorized", "Send the admin token as 'Authorization: Bearer <token>'.");
        Assert.Equal("Bearer realm=\"quota-admin\"", reply.Header("WWW-Authenticate"));
    }

    [Theory]
    [MemberData(nameof(AdminRequests))]
    public async Task Wrong_token_is_403(string method, string path)
    {
        var reply = await Api.WithAuthorization("Bearer not-the-token").Send(new HttpMethod(method), path);

        AssertGateProblem(reply, HttpStatusCode.Forbidden, "Forbidden", "The admin token is not valid.");
        Assert.Null(reply.Header("WWW-Authenticate"));
    }

    [Theory]
    [InlineData($"Bearer {AdminSilo.Token}x")]
    [InlineData($"Bearer {AdminSilo.Token}"+ " extra")]
    [InlineData("Bearer quota-test-admin-token-7c1e0d9")]
    public async Task Near_misses_are_403(string authorization)
    {
        var reply = await Api.WithAuthorization(authorization).Get("/v1/admin/users");

        AssertGateProblem(reply, HttpStatusCode.Forbidden, "Forbidden", "The admin token is not valid.");
    }

    [Theory]
    [InlineData($"Bearer {AdminSilo.Token}")]
    [InlineData($"bearer {AdminSilo.Token}")]
    [InlineData($"BEARER {AdminSilo.Token}  ")]
    public async Task Right_token_is_let_through(string authorization)
    {
        var api = Api.WithAuthorization(authorization);

        Assert.Equal("application/json", (await api.Get("/v1/admin/users")).Expect(HttpStatusCode.OK).MediaType);
        (await api.Get("/v1/admin/changes?limit=1")).Expect(HttpStatusCode.OK);
        var dashboard = (await api.Get("/dashboard/")).Expect(HttpStatusCode.OK);
        Assert.Equal("text/html", dashboard.MediaType);
    }

    [Fact]
    public async Task Refused_changes_change_nothing()
    {
        var user = Ids.User();
        var before = await Api.LastChange();
        var body = new { policies = new[] { Policies.FixedWindow("m", 1) } };

        Assert.Equal(HttpStatusCode.Unauthorized, (await Api.WithAuthorization(null).PutJson($"/v1/admin/users/{user}", body)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await Api.WithAuthorization("Bearer wrong").PutJson($"/v1/admin/users/{user}", body)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await Api.WithAuthorization("Bearer wrong").Apply($"{{\"users\":{{\"{user}\":{{\"policies\":[{{\"name\":\"m\",\"algorithm\":\"fixed-window\",\"limit\":1,\"window\":\"00:01:00\"}}]}}}}}}")).Status);

        Assert.False((await Api.GetUser(user)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
        Assert.Equal(before, await Api.LastChange());
    }

    [Fact]
    public async Task Decisions_health_readiness_and_metrics_need_no_token()
    {
        var anonymous = Api.WithAuthorization(null);
        var user = Ids.User();

        (await anonymous.Acquire(new { user })).Expect(HttpStatusCode.OK);
        Assert.Equal(99, await anonymous.Remaining("user", user, "per-minute"));
        var lease = (await anonymous.Acquire(new { user, reserve = true, cost = 2 })).Expect(HttpStatusCode.OK).Json["leaseId"]!.GetValue<string>();
        (await anonymous.Settle(new { leaseId = lease, actualCost = 1 })).Expect(HttpStatusCode.OK);
        Assert.Equal("ok\n", (await anonymous.Get("/healthz")).Expect(HttpStatusCode.OK).Body);
        Assert.Equal("ready\n", (await anonymous.Get("/readyz")).Expect(HttpStatusCode.OK).Body);
        (await anonymous.Get("/metrics")).Expect(HttpStatusCode.OK);
        (await anonymous.Get("/")).Expect(HttpStatusCode.OK);

        // A wrong token on a decision is not looked at either.
        (await Api.WithAuthorization("Bearer wrong").Acquire(new { user })).Expect(HttpStatusCode.OK);
    }

    private static void AssertGateProblem(Reply reply, HttpStatusCode status, string title, string detail)
    {
        reply.Expect(status);
        Assert.Equal("application/problem+json", reply.MediaType);
        Assert.Equal((int)status, reply.Json["status"]!.GetValue<int>());
        Assert.Equal(title, reply.Json["title"]!.GetValue<string>());
        Assert.Equal(detail, reply.Json["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_browser_signs_in_to_the_dashboard_with_the_token_and_then_holds_a_session_cookie_without_it()
    {
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = host.BaseAddress };
        var ct = TestContext.Current.CancellationToken;

        var page = await browser.GetAsync("/dashboard/", ct);
        Assert.Equal(HttpStatusCode.Unauthorized, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("action=\"/dashboard/sign-in\"", await page.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        AssertNoSniffingOrFraming(page);

        var wrong = await browser.PostAsync("/dashboard/sign-in", new FormUrlEncodedContent([new("token", "not-the-token")]), ct);
        Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
        Assert.False(wrong.Headers.Contains("Set-Cookie"));

        var right = await browser.PostAsync("/dashboard/sign-in", new FormUrlEncodedContent([new("token", AdminSilo.Token)]), ct);
        Assert.Equal(HttpStatusCode.Redirect, right.StatusCode);
        Assert.Equal("/dashboard/", right.Headers.Location?.OriginalString);
        AssertNoSniffingOrFraming(right);
        var setCookie = Assert.Single(right.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith("quota-dashboard=", setCookie, StringComparison.Ordinal);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/dashboard", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("max-age=28800", setCookie, StringComparison.OrdinalIgnoreCase);
        var cookie = setCookie.Split(';')[0];
        Assert.DoesNotContain(AdminSilo.Token, Uri.UnescapeDataString(cookie), StringComparison.Ordinal);

        var dashboard = await browser.SendAsync(WithCookie(HttpMethod.Get, "/dashboard/", cookie), ct);
        Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
        AssertNoSniffingOrFraming(dashboard);

        // The cookie opens only the dashboard, never the admin API.
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.SendAsync(WithCookie(HttpMethod.Get, "/v1/admin/users", cookie), ct)).StatusCode);

        // Signing out clears the cookie and ends the session: the old value no longer opens the dashboard.
        var signOut = await browser.SendAsync(WithCookie(HttpMethod.Post, "/dashboard/sign-out", cookie), ct);
        Assert.Equal(HttpStatusCode.Redirect, signOut.StatusCode);
        var cleared = Assert.Single(signOut.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith("quota-dashboard=;", cleared, StringComparison.Ordinal);
        Assert.Contains("expires=Thu, 01 Jan 1970", cleared, StringComparison.OrdinalIgnoreCase);
        var after = await browser.SendAsync(WithCookie(HttpMethod.Get, "/dashboard/", cookie), ct);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        Assert.Contains("action=\"/dashboard/sign-in\"", await after.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_forged_or_token_valued_cookie_opens_nothing()
    {
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = host.BaseAddress };

        foreach (var value in new[] { AdminSilo.Token, "a.99999999999.b", "x" })
        {
            var reply = await browser.SendAsync(WithCookie(HttpMethod.Get, "/dashboard/", $"quota-dashboard={value}"), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.Unauthorized, reply.StatusCode);
        }
    }

    [Fact]
    public async Task Signing_in_takes_only_a_form_from_the_silo_s_own_pages()
    {
        var form = new FormUrlEncodedContent([new("token", AdminSilo.Token)]);

        var foreign = await Api.WithAuthorization(null).WithHeader("Origin", "http://evil.example").Post("/dashboard/sign-in", form);
        foreign.ExpectProblem(HttpStatusCode.Forbidden, "Origin");
        Assert.Null(foreign.Header("Set-Cookie"));

        var json = await Api.WithAuthorization(null).PostJson("/dashboard/sign-in", new { token = AdminSilo.Token });
        Assert.Equal("""["application/x-www-form-urlencoded"]""", json.ExpectProblem(HttpStatusCode.UnsupportedMediaType, "Content-Type")["accepted"]!.ToJsonString());
    }

    [Fact]
    public async Task The_silo_says_at_start_that_the_token_rule_is_in_force()
    {
        var line = await StartLog.Line(host.Host, "Admin rule:");

        Assert.Contains("Admin rule: token.", line, StringComparison.Ordinal);
        Assert.DoesNotContain(AdminSilo.Token, string.Join('\n', host.Host.Output.Where(l => !l.StartsWith("$ ", StringComparison.Ordinal))), StringComparison.Ordinal);
    }

    private static HttpRequestMessage WithCookie(HttpMethod method, string path, string cookie)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("Cookie", cookie);
        return request;
    }

    private static void AssertNoSniffingOrFraming(HttpResponseMessage response)
    {
        Assert.Equal("nosniff", string.Join(", ", response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("DENY", string.Join(", ", response.Headers.GetValues("X-Frame-Options")));
        Assert.Equal("frame-ancestors 'none'", string.Join(", ", response.Headers.GetValues("Content-Security-Policy")));
    }
}
