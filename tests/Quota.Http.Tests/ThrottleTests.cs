using System.Net;
using Quota.Http.Tests.Infrastructure;
using static Quota.Http.Tests.Infrastructure.ThrottledSilo;

namespace Quota.Http.Tests;

/// <summary>
/// Failed admin credentials are throttled per source address (<c>Quota:Admin:MaxFailures</c>, here
/// <see cref="MaxFailures"/> a minute): the source that failed is refused 429 with <c>Retry-After</c>, the token not
/// compared; other sources keep working. Each part runs from its own loopback address (127.0.0.x).
/// </summary>
[Collection(ThrottledHostCollection.Name)]
public sealed class ThrottleTests(ThrottledSilo host) : HostTest(host)
{
    [Fact]
    public async Task A_source_that_keeps_failing_is_locked_out_while_others_keep_working()
    {
        var guesser = Sources.From(host, "127.0.0.2", "Bearer not-the-token");
        for (var i = 0; i < MaxFailures; i++)
        {
            (await guesser.Get("/v1/admin/users")).Expect(HttpStatusCode.Forbidden);
        }

        var locked = (await guesser.Get("/v1/admin/users")).Expect(HttpStatusCode.TooManyRequests);
        AssertLockedOut(locked);

        // Not even the right token is compared from there, on the admin API, a secret or the sign-in.
        var right = Sources.From(host, "127.0.0.2", $"Bearer {Token}");
        AssertLockedOut((await right.Get("/v1/admin/users")).Expect(HttpStatusCode.TooManyRequests));
        AssertLockedOut((await right.Acquire(new { user = Ids.User(), includeSecret = true })).Expect(HttpStatusCode.TooManyRequests));
        AssertLockedOut((await right.WithAuthorization(null).Post("/dashboard/sign-in", new FormUrlEncodedContent([new("token", Token)]))).Expect(HttpStatusCode.TooManyRequests));

        // Decisions are not admin requests: the locked-out source still decides.
        (await right.Acquire(new { user = Ids.User() })).Expect(HttpStatusCode.OK);

        // Another source with the right token is not slowed.
        (await Sources.From(host, "127.0.0.3", $"Bearer {Token}").Get("/v1/admin/users")).Expect(HttpStatusCode.OK);
        (await Api.Get("/v1/admin/users")).Expect(HttpStatusCode.OK);

        // Wrong sign-ins count like wrong tokens.
        var signIns = Sources.From(host, "127.0.0.4", null);
        for (var i = 0; i < MaxFailures; i++)
        {
            (await signIns.Post("/dashboard/sign-in", new FormUrlEncodedContent([new("token", "wrong")]))).Expect(HttpStatusCode.Forbidden);
        }

        AssertLockedOut((await signIns.WithAuthorization($"Bearer {Token}").Get("/v1/admin/users")).Expect(HttpStatusCode.TooManyRequests));

        var metrics = (await Api.Get("/metrics")).Expect(HttpStatusCode.OK).Body;
        Assert.Contains("quota_security_refused_total{otel_scope_name=\"Quota\",reason=\"throttled\"} 5", metrics, StringComparison.Ordinal);
        Assert.Contains("quota_security_refused_total{otel_scope_name=\"Quota\",reason=\"wrong-token\"} " + (2 * MaxFailures), metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requests_without_credentials_are_not_failures()
    {
        var anonymous = Sources.From(host, "127.0.0.5", null);
        for (var i = 0; i < MaxFailures * 2; i++)
        {
            (await anonymous.Get("/v1/admin/users")).Expect(HttpStatusCode.Unauthorized);
        }

        (await anonymous.WithAuthorization($"Bearer {Token}").Get("/v1/admin/users")).Expect(HttpStatusCode.OK);
    }

    private static void AssertLockedOut(Reply reply)
    {
        Assert.Equal("application/problem+json", reply.MediaType);
        Assert.Equal(429, reply.Json["status"]!.GetValue<int>());
        Assert.Equal("Too many failed admin attempts", reply.Json["title"]!.GetValue<string>());
        Assert.Equal("https://www.rfc-editor.org/rfc/rfc6585#section-4", reply.Json["type"]!.GetValue<string>());
        Assert.Equal("Authorization", reply.Json["field"]!.GetValue<string>());
        Assert.Contains($"failed {MaxFailures} times from this address within 00:01:00", reply.Json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        var retryAfter = int.Parse(reply.Header("Retry-After")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 60);
    }
}
