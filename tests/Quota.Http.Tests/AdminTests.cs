using System.Net;
using System.Text.RegularExpressions;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>Admin round trips: users, resources and keys, set, read back, used by decisions, and removed.</summary>
[Collection(AdminHostCollection.Name)]
public sealed partial class AdminTests(AdminSilo host) : HostTest(host)
{
    private const string DefaultUserPolicies = "[{\"name\":\"per-minute\",\"algorithm\":\"sliding-window\",\"limit\":100,\"window\":\"00:01:00\"}]";
    private const string TwoPolicies =
        "[{\"name\":\"m\",\"algorithm\":\"fixed-window\",\"limit\":5,\"window\":\"00:01:00\"}," +
        "{\"name\":\"b\",\"algorithm\":\"token-bucket\",\"limit\":10,\"window\":\"00:00:01\",\"burst\":20}]";

    [Fact]
    public async Task User_policies_round_trip_and_delete_returns_to_the_defaults()
    {
        var user = Ids.User();
        Assert.Equal(View(user, "user", own: false, DefaultUserPolicies), (await Api.GetUser(user)).Expect(HttpStatusCode.OK).Body);

        var put = (await Api.PutUser(user, Policies.FixedWindow("m", 5), Policies.TokenBucket("b", 10, "00:00:01", burst: 20))).Expect(HttpStatusCode.OK);
        Assert.Equal(View(user, "user", own: true, TwoPolicies), put.Body);
        Assert.Equal(put.Body, (await Api.GetUser(user)).Expect(HttpStatusCode.OK).Body);
        Assert.Contains(user, await Api.List("/v1/admin/users", "users"));

        // The decision side sees the new policies at once.
        var usage = (await Api.Usage("user", user)).Expect(HttpStatusCode.OK);
        Assert.Equal(5, Reply.Policy(usage.Json, $"user:{user}", "m")["remaining"]!.GetValue<long>());
        Assert.Equal(20, Reply.Policy(usage.Json, $"user:{user}", "b")["remaining"]!.GetValue<long>());

        var deleted = (await Api.DeleteUser(user)).Expect(HttpStatusCode.OK);
        Assert.Equal(View(user, "user", own: false, DefaultUserPolicies), deleted.Body);
        Assert.Equal(deleted.Body, (await Api.GetUser(user)).Expect(HttpStatusCode.OK).Body);
        Assert.DoesNotContain(user, await Api.List("/v1/admin/users", "users"));
        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
    }

    [Fact]
    public async Task Token_bucket_without_burst_is_echoed_with_its_burst()
    {
        var user = Ids.User();

        var put = (await Api.PutUser(user, Policies.TokenBucket("b", 7, "00:00:10"))).Expect(HttpStatusCode.OK);

        Assert.Equal(View(user, "user", own: true, "[{\"name\":\"b\",\"algorithm\":\"token-bucket\",\"limit\":7,\"window\":\"00:00:10\",\"burst\":7}]"), put.Body);
    }

    [Fact]
    public async Task Resource_created_by_put_round_trips_and_delete_makes_it_unknown_again()
    {
        var resource = Ids.New("adm-res-");
        (await Api.GetResource(resource)).ExpectProblem(HttpStatusCode.NotFound, "name");
        (await Api.Acquire(new { resources = new[] { resource } })).ExpectProblem(HttpStatusCode.NotFound, "resources[0]");

        var put = (await Api.PutResource(resource, Policies.FixedWindow("m", 5), Policies.TokenBucket("b", 10, "00:00:01", burst: 20))).Expect(HttpStatusCode.OK);
        Assert.Equal(View(resource, "resource", own: true, TwoPolicies), put.Body);
        Assert.Equal(put.Body, (await Api.GetResource(resource)).Expect(HttpStatusCode.OK).Body);
        Assert.Contains(resource, await Api.List("/v1/admin/resources", "own"));
        var acquired = (await Api.Acquire(new { resources = new[] { resource } })).Expect(HttpStatusCode.OK);
        Assert.Equal($"\"resource:{resource}/m\";q=5;w=60, \"resource:{resource}/b\";q=20;w=1", acquired.Header("RateLimit-Policy"));

        var deleted = (await Api.DeleteResource(resource)).Expect(HttpStatusCode.OK);
        Assert.Equal(View(resource, "resource", own: false, "[]"), deleted.Body);
        (await Api.GetResource(resource)).ExpectProblem(HttpStatusCode.NotFound, "name");
        Assert.DoesNotContain(resource, await Api.List("/v1/admin/resources", "own"));
        (await Api.Acquire(new { resources = new[] { resource } })).ExpectProblem(HttpStatusCode.NotFound, "resources[0]");
    }

    [Fact]
    public async Task Instance_of_a_configured_pattern_is_overridden_and_delete_returns_to_the_pattern_defaults()
    {
        var chat = Ids.New("telegram:chat:");
        var defaults = View(chat, "resource", own: false, "[{\"name\":\"per-minute\",\"algorithm\":\"sliding-window\",\"limit\":20,\"window\":\"00:01:00\"}]");
        Assert.Equal(defaults, (await Api.GetResource(chat)).Expect(HttpStatusCode.OK).Body);

        var put = (await Api.PutResource(chat, Policies.FixedWindow("m", 5))).Expect(HttpStatusCode.OK);
        Assert.Equal(View(chat, "resource", own: true, "[{\"name\":\"m\",\"algorithm\":\"fixed-window\",\"limit\":5,\"window\":\"00:01:00\"}]"), put.Body);
        Assert.Equal(put.Body, (await Api.GetResource(chat)).Expect(HttpStatusCode.OK).Body);

        Assert.Equal(defaults, (await Api.DeleteResource(chat)).Expect(HttpStatusCode.OK).Body);
        Assert.Equal(defaults, (await Api.GetResource(chat)).Expect(HttpStatusCode.OK).Body);
    }

    [Fact]
    public async Task Configured_resources_are_listed_apart_from_those_with_own_policies()
    {
        var resource = Ids.New("adm-res-");
        (await Api.PutResource(resource, Policies.FixedWindow("m", 5))).Expect(HttpStatusCode.OK);

        var list = (await Api.Get("/v1/admin/resources")).Expect(HttpStatusCode.OK).Json;

        Assert.Equal("[\"telegram\",\"telegram:chat:*\"]", list["configured"]!.ToJsonString());
        Assert.Contains(resource, list["own"]!.AsArray().Select(n => n!.GetValue<string>()));
    }

    [Fact]
    public async Task Put_with_invalid_policies_lists_every_problem_by_body_field_and_changes_nothing()
    {
        var user = Ids.User();

        var json = (await Api.PutJson($"/v1/admin/users/{user}", new
        {
            policies = new object[]
            {
                new { name = "m", algorithm = "fixed-window", limit = 0, window = "00:01:00" },
                new { name = "x", algorithm = "nope", limit = 1 },
            },
        })).ExpectProblem(HttpStatusCode.BadRequest, "policies[0].limit");

        Assert.Equal(["policies[0].limit", "policies[1].algorithm"], Fields(json));
        Assert.Equal(View(user, "user", own: false, DefaultUserPolicies), (await Api.GetUser(user)).Expect(HttpStatusCode.OK).Body);
        Assert.Empty(await Api.Changes($"user:{user}"));
    }

    [Fact]
    public async Task Put_without_policies_and_with_a_pattern_name_are_rejected()
    {
        (await Api.Put($"/v1/admin/users/{Ids.User()}", "{}")).ExpectProblem(HttpStatusCode.BadRequest, "policies");
        (await Api.PutJson($"/v1/admin/users/{Ids.User()}", new { policies = Array.Empty<object>() })).ExpectProblem(HttpStatusCode.BadRequest, "policies");
        (await Api.PutResource("adm-pattern:*", Policies.FixedWindow("m", 5))).ExpectProblem(HttpStatusCode.BadRequest, "name");
    }

    [Fact]
    public async Task Generated_key_is_shown_once_works_for_decisions_and_counts_against_its_user()
    {
        var user = Ids.User();

        var registered = (await Api.RegisterKey(user)).Expect(HttpStatusCode.Created).Json;
        var keyId = registered["keyId"]!.GetValue<string>();
        var raw = registered["key"]!.GetValue<string>();
        Assert.Matches(KeyIdPattern(), keyId);
        Assert.StartsWith("qk_", raw, StringComparison.Ordinal);
        Assert.Equal(user, registered["user"]!.GetValue<string>());
        Assert.Equal("[]", registered["policies"]!.ToJsonString());

        var info = (await Api.GetKey(keyId)).Expect(HttpStatusCode.OK);
        Assert.Equal($"{{\"keyId\":\"{keyId}\",\"label\":\"key:{keyId[..12]}\",\"user\":\"{user}\",\"policies\":[]}}", info.Body);
        Assert.DoesNotContain(raw, info.Body, StringComparison.Ordinal);

        var listed = (await Api.Get($"/v1/admin/users/{user}/keys")).Expect(HttpStatusCode.OK);
        Assert.Equal($"{{\"user\":\"{user}\",\"keys\":[{info.Body}]}}", listed.Body);

        var acquired = (await Api.Acquire(new { apiKey = raw })).Expect(HttpStatusCode.OK);
        Assert.Equal(99, Reply.Policy(acquired.Json, $"user:{user}", "per-minute")["remaining"]!.GetValue<long>());
        Assert.Equal(99, await Api.Remaining("user", user, "per-minute"));
        Assert.DoesNotContain(raw, acquired.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Given_key_with_own_policies_limits_on_both_the_key_and_its_user()
    {
        var user = Ids.User();
        var raw = Ids.New("raw-key-");
        (await Api.PutUser(user, Policies.FixedWindow("m", 5, "01:00:00"))).Expect(HttpStatusCode.OK);

        var registered = (await Api.RegisterKey(user, new { key = raw, policies = new[] { Policies.FixedWindow("k", 2, "01:00:00") } })).Expect(HttpStatusCode.Created).Json;
        var keyId = registered["keyId"]!.GetValue<string>();
        Assert.Equal(raw, registered["key"]!.GetValue<string>());
        Assert.Equal("[{\"name\":\"k\",\"algorithm\":\"fixed-window\",\"limit\":2,\"window\":\"01:00:00\"}]", registered["policies"]!.ToJsonString());

        (await Api.Acquire(new { apiKey = raw })).Expect(HttpStatusCode.OK);
        (await Api.Acquire(new { apiKey = raw })).Expect(HttpStatusCode.OK);
        var denied = (await Api.Acquire(new { apiKey = raw })).Expect(HttpStatusCode.TooManyRequests);
        Assert.Equal($"key:{keyId[..12]}/k", denied.Json["limitedBy"]!.GetValue<string>());
        Assert.Equal(3, await Api.Remaining("user", user, "m"));
        var keyUsage = (await Api.Usage("key", keyId)).Expect(HttpStatusCode.OK);
        Assert.Equal(0, Reply.Policy(keyUsage.Json, $"key:{keyId[..12]}", "k")["remaining"]!.GetValue<long>());
    }

    [Fact]
    public async Task Revoked_key_is_unknown_to_decisions_and_to_the_admin_api()
    {
        var user = Ids.User();
        var registered = (await Api.RegisterKey(user)).Expect(HttpStatusCode.Created).Json;
        var keyId = registered["keyId"]!.GetValue<string>();
        var raw = registered["key"]!.GetValue<string>();
        (await Api.Acquire(new { apiKey = raw })).Expect(HttpStatusCode.OK);

        var revoked = (await Api.RevokeKey(keyId)).Expect(HttpStatusCode.NoContent);
        Assert.Equal(string.Empty, revoked.Body);

        (await Api.Acquire(new { apiKey = raw })).ExpectProblem(HttpStatusCode.NotFound, "apiKey");
        (await Api.GetKey(keyId)).ExpectProblem(HttpStatusCode.NotFound, "keyId");
        (await Api.RevokeKey(keyId)).ExpectProblem(HttpStatusCode.NotFound, "keyId");
        Assert.Equal($"{{\"user\":\"{user}\",\"keys\":[]}}", (await Api.Get($"/v1/admin/users/{user}/keys")).Expect(HttpStatusCode.OK).Body);
    }

    [Fact]
    public async Task Same_raw_key_for_another_user_is_a_409_and_the_key_stays_with_its_owner()
    {
        var owner = Ids.User();
        var raw = Ids.New("raw-key-");
        var keyId = (await Api.RegisterKey(owner, new { key = raw })).Expect(HttpStatusCode.Created).Json["keyId"]!.GetValue<string>();

        (await Api.RegisterKey(Ids.User(), new { key = raw })).ExpectProblem(HttpStatusCode.Conflict, "key");

        Assert.Equal(owner, (await Api.GetKey(keyId)).Expect(HttpStatusCode.OK).Json["user"]!.GetValue<string>());
        var acquired = (await Api.Acquire(new { apiKey = raw })).Expect(HttpStatusCode.OK);
        Assert.Equal(99, Reply.Policy(acquired.Json, $"user:{owner}", "per-minute")["remaining"]!.GetValue<long>());
    }

    [Fact]
    public async Task Key_policies_are_replaced_by_key_id()
    {
        var user = Ids.User();
        var registered = (await Api.RegisterKey(user)).Expect(HttpStatusCode.Created).Json;
        var keyId = registered["keyId"]!.GetValue<string>();

        var put = (await Api.PutJson($"/v1/admin/keys/{keyId}", new { policies = new[] { Policies.FixedWindow("k", 1, "01:00:00") } })).Expect(HttpStatusCode.OK);
        Assert.Equal($"{{\"keyId\":\"{keyId}\",\"label\":\"key:{keyId[..12]}\",\"user\":\"{user}\",\"policies\":[{{\"name\":\"k\",\"algorithm\":\"fixed-window\",\"limit\":1,\"window\":\"01:00:00\"}}]}}", put.Body);

        var raw = registered["key"]!.GetValue<string>();
        (await Api.Acquire(new { apiKey = raw })).Expect(HttpStatusCode.OK);
        (await Api.Acquire(new { apiKey = raw })).Expect(HttpStatusCode.TooManyRequests);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF")]
    public async Task Key_id_that_is_not_64_lower_case_hex_digits_is_a_400_on_keyId(string keyId)
    {
        (await Api.GetKey(keyId)).ExpectProblem(HttpStatusCode.BadRequest, "keyId");
        (await Api.RevokeKey(keyId)).ExpectProblem(HttpStatusCode.BadRequest, "keyId");
    }

    [Fact]
    public async Task Unknown_key_id_is_a_404_on_keyId()
    {
        (await Api.GetKey(new string('b', 64))).ExpectProblem(HttpStatusCode.NotFound, "keyId");
        (await Api.PutJson($"/v1/admin/keys/{new string('b', 64)}", new { policies = new[] { Policies.FixedWindow("k", 1) } })).ExpectProblem(HttpStatusCode.NotFound, "keyId");
    }

    [Fact]
    public async Task Key_registration_body_is_checked()
    {
        var user = Ids.User();

        (await Api.RegisterKey(user, new { key = "too-short" })).ExpectProblem(HttpStatusCode.BadRequest, "key");
        (await Api.RegisterKey(user, new { user = "someone", key = Ids.New("raw-key-") })).ExpectProblem(HttpStatusCode.BadRequest, "user");
        (await Api.RegisterKey(user, new { key = Ids.New("raw-key-"), policies = new[] { new { name = "k", algorithm = "fixed-window", limit = 0, window = "00:01:00" } } }))
            .ExpectProblem(HttpStatusCode.BadRequest, "policies[0].limit");
        Assert.Equal($"{{\"user\":\"{user}\",\"keys\":[]}}", (await Api.Get($"/v1/admin/users/{user}/keys")).Expect(HttpStatusCode.OK).Body);
    }

    internal static string View(string id, string kind, bool own, string policies) =>
        $"{{\"id\":\"{id}\",\"subject\":\"{kind}:{id}\",\"own\":{(own ? "true" : "false")},\"policies\":{policies}}}";

    internal static string[] Fields(System.Text.Json.Nodes.JsonObject problem) =>
        [.. problem["errors"]!.AsArray().Select(e => e!["field"]!.GetValue<string>())];

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex KeyIdPattern();
}
