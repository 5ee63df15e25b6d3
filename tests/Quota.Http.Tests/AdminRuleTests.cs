using System.Net;
using Quota.Http.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.Http.Tests;

/// <summary>
/// <c>Quota:Admin:AllowLoopback=false</c> without a token: nobody may administer, not even from this machine (the case
/// behind a reverse proxy or sidecar, where every caller is loopback), and the silo says so at start.
/// </summary>
public sealed class AdminRuleTests
{
    [Fact]
    public async Task With_the_loopback_rule_off_and_no_token_nobody_administers_and_the_silo_says_so()
    {
        await using var host = await SiloProcess.StartAsync(["--Quota:Admin:AllowLoopback=false"]);
        var api = new QuotaApi(host.Http);

        var line = await StartLog.Line(host, "Admin rule:");
        Assert.Contains("Admin rule: nobody.", line, StringComparison.Ordinal);

        var user = Ids.User();
        var refused = (await api.PutUser(user, Policies.FixedWindow("m", 1))).Expect(HttpStatusCode.Forbidden);
        Assert.Equal("Nobody may administer this silo: no Quota:Admin:Token is configured and Quota:Admin:AllowLoopback is false. Set a token to administer.", refused.Json["detail"]!.GetValue<string>());
        (await api.Get("/v1/admin/users")).Expect(HttpStatusCode.Forbidden);
        (await api.Get("/dashboard/")).Expect(HttpStatusCode.Forbidden);
        (await api.Get("/v1/upstreams/acme/allocation")).Expect(HttpStatusCode.Forbidden);
        (await api.Acquire(new { user, includeSecret = true })).ExpectProblem(HttpStatusCode.Forbidden, "includeSecret");
        (await api.Post("/dashboard/sign-in", new FormUrlEncodedContent([new("token", "anything")]))).Expect(HttpStatusCode.NotFound);

        // Decisions do not need an admin.
        (await api.Acquire(new { user })).Expect(HttpStatusCode.OK);
    }
}
