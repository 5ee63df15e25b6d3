using System.Net;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>POST /v1/admin/apply: a whole document in JSON or YAML, planned (dry run), applied, idempotent, all or nothing.</summary>
[Collection(AdminHostCollection.Name)]
public sealed class ApplyTests(AdminSilo host) : HostTest(host)
{
    private const string FixedWindow5 = "[{\"name\":\"m\",\"algorithm\":\"fixed-window\",\"limit\":5,\"window\":\"00:01:00\"}]";
    private const string TokenBucket100 = "[{\"name\":\"tokens\",\"algorithm\":\"token-bucket\",\"limit\":100,\"window\":\"00:01:00\",\"burst\":100}]";
    private const string KeyBucket3 = "[{\"name\":\"k\",\"algorithm\":\"token-bucket\",\"limit\":3,\"window\":\"00:01:00\",\"burst\":3}]";

    [Fact]
    public async Task Dry_run_answers_the_plan_and_changes_nothing()
    {
        var (user, resource, rawKey) = (Ids.User(), Ids.New("adm-apply-"), Ids.New("raw-key-"));
        var before = await Api.LastChange();

        var plan = (await Api.Apply(Json(user, resource, rawKey), dryRun: true)).Expect(HttpStatusCode.OK).Json;

        Assert.True(plan["dryRun"]!.GetValue<bool>());
        var keyLabel = plan["changes"]![2]!["subject"]!.GetValue<string>();
        Assert.Matches("^key:[0-9a-f]{12}$", keyLabel);
        Assert.Equal(
            $"[{Planned($"user:{user}", "create", null, FixedWindow5)},{Planned($"resource:{resource}", "create", null, TokenBucket100)},{Planned(keyLabel, "register", null, KeyBucket3)}]",
            plan["changes"]!.ToJsonString());
        Assert.Equal("{\"create\":2,\"register\":1}", plan["summary"]!.ToJsonString());

        Assert.False((await Api.GetUser(user)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
        (await Api.GetResource(resource)).ExpectProblem(HttpStatusCode.NotFound, "name");
        (await Api.Acquire(new { apiKey = rawKey })).ExpectProblem(HttpStatusCode.NotFound, "apiKey");
        Assert.Equal(before, await Api.LastChange());
    }

    [Fact]
    public async Task Apply_applies_and_applying_again_is_unchanged_and_records_nothing()
    {
        var (user, resource, rawKey) = (Ids.User(), Ids.New("adm-apply-"), Ids.New("raw-key-"));
        var document = Json(user, resource, rawKey);

        var applied = (await Api.Apply(document)).Expect(HttpStatusCode.OK).Json;
        Assert.False(applied["dryRun"]!.GetValue<bool>());
        Assert.Equal("{\"create\":2,\"register\":1}", applied["summary"]!.ToJsonString());

        Assert.Equal(AdminTests.View(user, "user", own: true, FixedWindow5), (await Api.GetUser(user)).Expect(HttpStatusCode.OK).Body);
        Assert.Equal(AdminTests.View(resource, "resource", own: true, TokenBucket100), (await Api.GetResource(resource)).Expect(HttpStatusCode.OK).Body);
        var keyLabel = await KeyLabel(rawKey);
        var decision = (await Api.Acquire(new { apiKey = rawKey, resources = new[] { resource } })).Expect(HttpStatusCode.OK);
        Assert.Equal($"\"{keyLabel}/k\";q=3;w=60, \"user:{user}/m\";q=5;w=60, \"resource:{resource}/tokens\";q=100;w=60", decision.Header("RateLimit-Policy"));
        foreach (var subject in new[] { $"user:{user}", $"resource:{resource}", keyLabel })
        {
            var recorded = Assert.Single(await Api.Changes(subject));
            Assert.Equal("apply", recorded!["source"]!.GetValue<string>());
        }

        var before = await Api.LastChange();
        var again = (await Api.Apply(document)).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(
            $"[{Planned($"user:{user}", "unchanged", FixedWindow5, FixedWindow5)},{Planned($"resource:{resource}", "unchanged", TokenBucket100, TokenBucket100)},{Planned(keyLabel, "unchanged", KeyBucket3, KeyBucket3)}]",
            again["changes"]!.ToJsonString());
        Assert.Equal("{\"unchanged\":3}", again["summary"]!.ToJsonString());
        Assert.Equal(before, await Api.LastChange());

        // Usage survived the second apply.
        Assert.Equal(4, await Api.Remaining("user", user, "m"));
    }

    [Fact]
    public async Task Yaml_and_json_are_the_same_document()
    {
        var (user, resource, rawKey) = (Ids.User(), Ids.New("adm-apply-"), Ids.New("raw-key-"));

        var viaYaml = (await Api.Apply(Yaml(user, resource, rawKey), mediaType: "application/yaml")).Expect(HttpStatusCode.OK).Json;
        Assert.Equal("{\"create\":2,\"register\":1}", viaYaml["summary"]!.ToJsonString());
        Assert.Equal(AdminTests.View(user, "user", own: true, FixedWindow5), (await Api.GetUser(user)).Expect(HttpStatusCode.OK).Body);
        Assert.Equal(AdminTests.View(resource, "resource", own: true, TokenBucket100), (await Api.GetResource(resource)).Expect(HttpStatusCode.OK).Body);

        var viaJson = (await Api.Apply(Json(user, resource, rawKey))).Expect(HttpStatusCode.OK).Json;
        Assert.Equal("{\"unchanged\":3}", viaJson["summary"]!.ToJsonString());

        // And back as text/yaml; text/plain, which any web page may send, is refused (415) before it is read.
        var yamlAgain = (await Api.Apply(Yaml(user, resource, rawKey), mediaType: "text/yaml")).Expect(HttpStatusCode.OK).Json;
        Assert.Equal("{\"unchanged\":3}", yamlAgain["summary"]!.ToJsonString());
        (await Api.Apply(Yaml(user, resource, rawKey), mediaType: "text/plain")).Expect(HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task Changed_document_updates_only_what_changed_and_keeps_usage()
    {
        var (user, resource, rawKey) = (Ids.User(), Ids.New("adm-apply-"), Ids.New("raw-key-"));
        (await Api.Apply(Json(user, resource, rawKey))).Expect(HttpStatusCode.OK);
        (await Api.Acquire(new { user })).Expect(HttpStatusCode.OK);
        (await Api.Acquire(new { user })).Expect(HttpStatusCode.OK);

        var changed = Json(user, resource, rawKey).Replace("\"limit\": 5", "\"limit\": 8", StringComparison.Ordinal);
        var applied = (await Api.Apply(changed)).Expect(HttpStatusCode.OK).Json;

        var eight = FixedWindow5.Replace("\"limit\":5", "\"limit\":8", StringComparison.Ordinal);
        Assert.Equal(Planned($"user:{user}", "update", FixedWindow5, eight), applied["changes"]![0]!.ToJsonString());
        Assert.Equal("{\"update\":1,\"unchanged\":2}", applied["summary"]!.ToJsonString());
        Assert.Equal(6, await Api.Remaining("user", user, "m"));
        Assert.Equal(2, (await Api.Changes($"user:{user}")).Count);
    }

    [Fact]
    public async Task Registered_key_is_changed_by_key_id()
    {
        var user = Ids.User();
        var registered = (await Api.RegisterKey(user)).Expect(HttpStatusCode.Created).Json;
        var keyId = registered["keyId"]!.GetValue<string>();

        var applied = (await Api.Apply($$"""
            keys:
              - user: {{user}}
                keyId: {{keyId}}
                policies:
                  - { name: k, algorithm: token-bucket, limit: 3, window: "00:01:00" }
            """, mediaType: "application/yaml")).Expect(HttpStatusCode.OK).Json;

        Assert.Equal($"[{Planned($"key:{keyId[..12]}", "update", "[]", KeyBucket3)}]", applied["changes"]!.ToJsonString());
        Assert.Equal(KeyBucket3, (await Api.GetKey(keyId)).Expect(HttpStatusCode.OK).Json["policies"]!.ToJsonString());
    }

    [Fact]
    public async Task Invalid_document_is_rejected_whole_listing_every_error_with_its_path()
    {
        var (good, bad, resource, rawKey) = (Ids.User(), Ids.User(), Ids.New("adm-apply-"), Ids.New("raw-key-"));
        var owned = Ids.New("raw-key-");
        (await Api.RegisterKey(Ids.User(), new { key = owned })).Expect(HttpStatusCode.Created);
        var before = await Api.LastChange();

        var document = $$"""
            {
              "users": {
                "{{good}}": { "policies": [ { "name": "m", "algorithm": "fixed-window", "limit": 5, "window": "00:01:00" } ] },
                "{{bad}}": { "policies": [
                  { "name": "m", "algorithm": "fixed-window", "limit": 0, "window": "00:01:00" },
                  { "name": "m", "algorithm": "sliding-window", "limit": 5, "window": "00:01:00" } ] },
                "{{bad}}-none": { }
              },
              "resources": {
                "{{resource}}": { "policies": [ { "name": "x", "algorithm": "nope", "limit": 1 } ] },
                "adm-pattern:*": { "policies": [ { "name": "m", "algorithm": "fixed-window", "limit": 1, "window": "00:01:00" } ] }
              },
              "keys": [
                { "user": "{{good}}", "key": "{{rawKey}}" },
                { "user": "{{good}}", "key": "short" },
                { "key": "{{Ids.New("raw-key-")}}" },
                { "user": "{{good}}", "keyId": "not-a-key-id" },
                { "user": "{{good}}", "key": "{{owned}}" },
                { "user": "{{good}}", "key": "{{Ids.New("raw-key-")}}", "keyId": "{{new string('a', 64)}}" },
                { "user": "{{good}}", "key": "{{Ids.New("raw-key-")}}", "policies": [ { "name": "k", "algorithm": "calendar", "limit": 1, "period": "year" } ] }
              ]
            }
            """;

        var problem = (await Api.Apply(document)).ExpectProblem(HttpStatusCode.BadRequest, $"users.{bad}.policies[0].limit");

        Assert.Equal(
            [
                $"users.{bad}.policies[0].limit",
                $"users.{bad}.policies[1].name",
                $"users.{bad}-none.policies",
                $"resources.{resource}.policies[0].algorithm",
                "resources.adm-pattern:*",
                "keys[1].key",
                "keys[2].user",
                "keys[3].keyId",
                "keys[4].user",
                "keys[5].key",
                "keys[6].policies[0].period",
            ],
            AdminTests.Fields(problem));
        var detail = problem["detail"]!.GetValue<string>();
        Assert.Contains($"users.{bad}.policies[0].limit: must be at least 1 (got 0)", detail, StringComparison.Ordinal);
        Assert.Contains("keys[4].user: this key is registered to another user", detail, StringComparison.Ordinal);

        // Nothing of it was applied, not even the valid parts.
        Assert.False((await Api.GetUser(good)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
        (await Api.Acquire(new { apiKey = rawKey })).ExpectProblem(HttpStatusCode.NotFound, "apiKey");
        Assert.Equal(before, await Api.LastChange());
    }

    [Fact]
    public async Task Same_key_twice_in_a_document_is_rejected()
    {
        var (first, second, rawKey) = (Ids.User(), Ids.User(), Ids.New("raw-key-"));

        var problem = (await Api.Apply($$"""
            keys:
              - { user: {{first}}, key: {{rawKey}} }
              - { user: {{second}}, key: {{rawKey}} }
            """, mediaType: "application/yaml")).ExpectProblem(HttpStatusCode.BadRequest, "keys[1].key");

        Assert.Equal(["keys[1].key"], AdminTests.Fields(problem));
        (await Api.Acquire(new { apiKey = rawKey })).ExpectProblem(HttpStatusCode.NotFound, "apiKey");
    }

    [Theory]
    [InlineData("", "body")]
    [InlineData("   ", "body")]
    [InlineData("users: [a: b", "body")]
    [InlineData("{\"users\": {\"a\": {\"policies\": [{\"name\": \"m\", \"algorithm\": \"fixed-window\", \"limit\": \"many\"}]}}}", "users.a.policies[0].limit")]
    [InlineData("{\"userz\": {}}", "userz")]
    [InlineData("{ not json", "body")]
    public async Task Unreadable_document_is_a_400_naming_where(string document, string field)
    {
        var before = await Api.LastChange();

        (await Api.Apply(document)).ExpectProblem(HttpStatusCode.BadRequest, field);

        Assert.Equal(before, await Api.LastChange());
    }

    [Fact]
    public async Task Document_naming_nothing_changes_nothing()
    {
        var reply = (await Api.Apply("{}")).Expect(HttpStatusCode.OK);

        Assert.Equal("{\"dryRun\":false,\"changes\":[],\"summary\":{},\"adapted\":[]}", reply.Body);
    }

    private static string Json(string user, string resource, string rawKey) => $$"""
        {
          "users": { "{{user}}": { "policies": [ { "name": "m", "algorithm": "fixed-window", "limit": 5, "window": "00:01:00" } ] } },
          "resources": { "{{resource}}": { "policies": [ { "name": "tokens", "algorithm": "token-bucket", "limit": 100, "window": "00:01:00" } ] } },
          "keys": [ { "user": "{{user}}", "key": "{{rawKey}}", "policies": [ { "name": "k", "algorithm": "token-bucket", "limit": 3, "window": "00:01:00" } ] } ]
        }
        """;

    private static string Yaml(string user, string resource, string rawKey) => $$"""
        # The same document as Json(), in YAML.
        users:
          {{user}}:
            policies:
              - name: m
                algorithm: fixed-window
                limit: 5
                window: "00:01:00"
        resources:
          {{resource}}:
            policies:
              - { name: tokens, algorithm: token-bucket, limit: 100, window: "00:01:00" }
        keys:
          - user: {{user}}
            key: {{rawKey}}
            policies:
              - { name: k, algorithm: token-bucket, limit: 3, window: "00:01:00" }
        """;

    private static string Planned(string subject, string action, string? old, string @new) =>
        $"{{\"subject\":\"{subject}\",\"action\":\"{action}\",\"old\":{old ?? "null"},\"new\":{@new}}}";

    /// <summary>The label of a registered raw key (<c>key:</c> and 12 hex digits of its peppered hash), as a peek names it.</summary>
    private async Task<string> KeyLabel(string rawKey)
    {
        var decision = (await Api.Acquire(new { apiKey = rawKey, cost = 0 })).Expect(HttpStatusCode.OK).Json;
        return decision["policies"]!.AsArray().Select(p => p!["subject"]!.GetValue<string>()).Single(s => s.StartsWith("key:", StringComparison.Ordinal));
    }
}
