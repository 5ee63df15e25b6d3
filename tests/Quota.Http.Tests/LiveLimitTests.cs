using System.Net;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>A limit changed mid-window applies at once and keeps what was already used.</summary>
[Collection(AdminHostCollection.Name)]
public sealed class LiveLimitTests(AdminSilo host) : HostTest(host)
{
    private const string Window = "3650.00:00:00";

    [Fact]
    public Task User_limit_changed_mid_window_keeps_usage() =>
        LimitChangedMidWindowKeepsUsage("user", Ids.User());

    [Fact]
    public Task Resource_limit_changed_mid_window_keeps_usage() =>
        LimitChangedMidWindowKeepsUsage("resource", Ids.New("adm-live-"));

    /// <summary>
    /// A fixed window of 5: use 3; limit 4 admits exactly 1 more; limit 2 admits none (4 used); limit 10 admits
    /// exactly 6 more. The host runs on the real clock, so the window is 3,650 days long: no boundary can fall inside
    /// the test (the next is in 2029), with no waiting for one.
    /// </summary>
    private async Task LimitChangedMidWindowKeepsUsage(string kind, string id)
    {
        var subject = $"{kind}:{id}";
        var body = kind == "user" ? (object)new { user = id } : new { resources = new[] { id } };
        var path = kind == "user" ? $"/v1/admin/users/{id}" : $"/v1/admin/resources/{id}";
        async Task Put(long limit) => (await Api.PutJson(path, new { policies = new[] { Policies.FixedWindow("m", limit, Window) } })).Expect(HttpStatusCode.OK);

        await Put(5);
        for (var i = 0; i < 3; i++)
        {
            (await Api.Acquire(body)).Expect(HttpStatusCode.OK);
        }

        Assert.Equal(2, await Api.Remaining(kind, id, "m"));

        await Put(4);
        Assert.Equal(1, await Api.Remaining(kind, id, "m"));
        var last = (await Api.Acquire(body)).Expect(HttpStatusCode.OK);
        Assert.Equal(0, last.Json["remaining"]!.GetValue<long>());
        Assert.Equal(4, last.Json["limit"]!.GetValue<long>());
        await ExpectDenied(body, subject, limit: 4);

        await Put(2);
        Assert.Equal(0, await Api.Remaining(kind, id, "m"));
        await ExpectDenied(body, subject, limit: 2);

        await Put(10);
        Assert.Equal(6, await Api.Remaining(kind, id, "m"));
        for (var i = 5; i >= 0; i--)
        {
            var allowed = (await Api.Acquire(body)).Expect(HttpStatusCode.OK);
            Assert.Equal(i, allowed.Json["remaining"]!.GetValue<long>());
        }

        await ExpectDenied(body, subject, limit: 10);
    }

    private async Task ExpectDenied(object body, string subject, long limit)
    {
        var denied = (await Api.Acquire(body)).Expect(HttpStatusCode.TooManyRequests);
        Assert.Equal($"{subject}/m", denied.Json["limitedBy"]!.GetValue<string>());
        Assert.Equal(limit, denied.Json["limit"]!.GetValue<long>());
        Assert.Equal(0, denied.Json["remaining"]!.GetValue<long>());
    }
}
