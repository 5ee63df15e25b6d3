using System.Net;
using System.Text.Json.Nodes;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>GET /v1/admin/changes: every change with its subject, action, old and new value, newest first.</summary>
[Collection(AdminHostCollection.Name)]
public sealed class ChangeLogTests(AdminSilo host) : HostTest(host)
{
    private const string Defaults = "{\"own\":false,\"policies\":[{\"name\":\"per-minute\",\"algorithm\":\"sliding-window\",\"limit\":100,\"window\":\"00:01:00\"}]}";

    [Fact]
    public async Task User_changes_are_recorded_with_old_and_new_newest_first()
    {
        var user = Ids.User();
        var subject = $"user:{user}";
        var before = await Api.LastChange();

        (await Api.PutUser(user, Policies.FixedWindow("m", 5))).Expect(HttpStatusCode.OK);
        (await Api.PutUser(user, Policies.FixedWindow("m", 5))).Expect(HttpStatusCode.OK); // the same: not a change
        (await Api.PutUser(user, Policies.FixedWindow("m", 7))).Expect(HttpStatusCode.OK);
        (await Api.DeleteUser(user)).Expect(HttpStatusCode.OK);
        (await Api.DeleteUser(user)).Expect(HttpStatusCode.OK); // already on the defaults: not a change

        var changes = await Api.Changes(subject);

        Assert.Equal(3, changes.Count);
        AssertChange(changes[0], subject, "reset", Own(7), Defaults);
        AssertChange(changes[1], subject, "set", Own(5), Own(7));
        AssertChange(changes[2], subject, "set", Defaults, Own(5));
        var sequences = changes.Select(c => c!["sequence"]!.GetValue<long>()).ToArray();
        Assert.Equal([before + 3, before + 2, before + 1], sequences);
        var times = changes.Select(c => c!["at"]!.GetValue<DateTimeOffset>()).ToArray();
        Assert.True(times[0] >= times[1] && times[1] >= times[2], $"Times are not newest first: {string.Join(", ", times)}");
        Assert.InRange(times[0], DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.Equal(before + 3, await Api.LastChange());
    }

    [Fact]
    public async Task Limit_returns_the_newest_changes_and_subject_filters()
    {
        var first = Ids.User();
        var second = Ids.User();
        for (var limit = 1; limit <= 3; limit++)
        {
            (await Api.PutUser(first, Policies.FixedWindow("m", limit))).Expect(HttpStatusCode.OK);
            (await Api.PutUser(second, Policies.FixedWindow("m", limit))).Expect(HttpStatusCode.OK);
        }

        var newestTwo = await Api.Changes($"user:{first}", limit: 2);
        Assert.Equal(2, newestTwo.Count);
        AssertChange(newestTwo[0], $"user:{first}", "set", Own(2), Own(3));
        AssertChange(newestTwo[1], $"user:{first}", "set", Own(1), Own(2));
        Assert.Equal(3, (await Api.Changes($"user:{first}")).Count);

        var newestOverall = await Api.Changes(limit: 2);
        Assert.Equal([$"user:{second}", $"user:{first}"], newestOverall.Select(c => c!["subject"]!.GetValue<string>()));
        AssertChange(newestOverall[0], $"user:{second}", "set", Own(2), Own(3));

        Assert.Empty(await Api.Changes($"user:{Ids.User()}"));
        Assert.Empty(await Api.Changes(first)); // subjects are labels: user:{id}
    }

    [Fact]
    public async Task Key_registration_and_revocation_are_recorded_by_label_without_the_raw_key()
    {
        var user = Ids.User();
        var registered = (await Api.RegisterKey(user, new { policies = new[] { Policies.TokenBucket("k", 3, "00:01:00") } })).Expect(HttpStatusCode.Created).Json;
        var keyId = registered["keyId"]!.GetValue<string>();
        var raw = registered["key"]!.GetValue<string>();
        (await Api.PutJson($"/v1/admin/keys/{keyId}", new { policies = new[] { Policies.FixedWindow("k", 1) } })).Expect(HttpStatusCode.OK);
        (await Api.RevokeKey(keyId)).Expect(HttpStatusCode.NoContent);

        var label = $"key:{keyId[..12]}";
        var changes = await Api.Changes(label);

        Assert.Equal(3, changes.Count);
        var fixedWindow = $"{{\"owner\":\"{user}\",\"policies\":[{{\"name\":\"k\",\"algorithm\":\"fixed-window\",\"limit\":1,\"window\":\"00:01:00\"}}]}}";
        var tokenBucket = $"{{\"owner\":\"{user}\",\"policies\":[{{\"name\":\"k\",\"algorithm\":\"token-bucket\",\"limit\":3,\"window\":\"00:01:00\",\"burst\":3}}]}}";
        AssertChange(changes[0], label, "revoke", fixedWindow, null);
        AssertChange(changes[1], label, "set", tokenBucket, fixedWindow);
        AssertChange(changes[2], label, "register", null, tokenBucket);
        Assert.DoesNotContain(raw, (await Api.Get("/v1/admin/changes")).Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resource_changes_are_recorded()
    {
        var resource = Ids.New("adm-log-");
        (await Api.PutResource(resource, Policies.FixedWindow("m", 5))).Expect(HttpStatusCode.OK);
        (await Api.DeleteResource(resource)).Expect(HttpStatusCode.OK);

        var changes = await Api.Changes($"resource:{resource}");

        Assert.Equal(2, changes.Count);
        AssertChange(changes[0], $"resource:{resource}", "reset", Own(5), "{\"own\":false,\"policies\":[]}");
        AssertChange(changes[1], $"resource:{resource}", "set", "{\"own\":false,\"policies\":[]}", Own(5));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("10001")]
    [InlineData("abc")]
    public async Task Limit_outside_1_to_10000_is_a_400_on_limit(string limit)
    {
        (await Api.Get($"/v1/admin/changes?limit={limit}")).ExpectProblem(HttpStatusCode.BadRequest, "limit");
    }

    private static string Own(long limit) =>
        $"{{\"own\":true,\"policies\":[{{\"name\":\"m\",\"algorithm\":\"fixed-window\",\"limit\":{limit},\"window\":\"00:01:00\"}}]}}";

    /// <summary>One change: subject, action, source api, and old and new as JSON values (not strings).</summary>
    private static void AssertChange(JsonNode? change, string subject, string action, string? old, string? @new)
    {
        Assert.NotNull(change);
        Assert.Equal(subject, change["subject"]!.GetValue<string>());
        Assert.Equal(action, change["action"]!.GetValue<string>());
        Assert.Equal("api", change["source"]!.GetValue<string>());
        Assert.Equal(old ?? "null", change["old"]?.ToJsonString() ?? "null");
        Assert.Equal(@new ?? "null", change["new"]?.ToJsonString() ?? "null");
    }
}
