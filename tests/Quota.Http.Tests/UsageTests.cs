using System.Net;
using Quota.Abstractions;
using Quota.Http.Tests.Infrastructure;
using static Quota.Http.Tests.Infrastructure.ConfiguredSilo;

namespace Quota.Http.Tests;

/// <summary>GET /v1/usage/{kind}/{id}.</summary>
[Collection(ConfiguredHostCollection.Name)]
public sealed class UsageTests(ConfiguredSilo host) : HostTest(host)
{
    [Fact]
    public async Task Usage_of_a_resource_lists_its_policies_and_waiters()
    {
        var burst = NewBurst();
        (await Api.Acquire(new { resources = new[] { burst } })).Expect(HttpStatusCode.OK);

        var reply = (await Api.Usage("resource", burst)).Expect(HttpStatusCode.OK);

        Assert.Equal("application/json", reply.MediaType);
        var body = reply.Json;
        Assert.Equal(["known", "policies", "subject", "waiting"], body.Select(p => p.Key).Order());
        Assert.Equal($"resource:{burst}", body["subject"]!.GetValue<string>());
        Assert.True(body["known"]!.GetValue<bool>());
        Assert.Equal(0, body["waiting"]!.GetValue<int>());
        var policy = Assert.Single(body["policies"]!.AsArray())!;
        Assert.Equal(BurstPolicy, policy["policy"]!.GetValue<string>());
        Assert.Equal("token-bucket", policy["algorithm"]!.GetValue<string>());
        Assert.Equal(3, policy["limit"]!.GetValue<long>());
        Assert.Equal(2, policy["remaining"]!.GetValue<long>());
        Assert.Equal(3600, policy["windowSeconds"]!.GetValue<long>());
        Assert.InRange(policy["resetAfterMs"]!.GetValue<long>(), 1_100_000, 1_200_000);

        // Usage is a read: asking does not take.
        Assert.Equal(2, await Api.Remaining("resource", burst, BurstPolicy));
    }

    [Fact]
    public async Task Usage_of_a_concurrency_resource_has_no_window()
    {
        var slots = NewSlots();

        var policy = Assert.Single((await Api.Usage("resource", slots)).Expect(HttpStatusCode.OK).Json["policies"]!.AsArray())!;

        Assert.Equal("concurrency", policy["algorithm"]!.GetValue<string>());
        Assert.Equal(1, policy["remaining"]!.GetValue<long>());
        Assert.Null(policy["windowSeconds"]);
        Assert.Equal(0, policy["resetAfterMs"]!.GetValue<long>());
    }

    [Fact]
    public async Task Usage_of_a_new_user_is_the_full_built_in_policy()
    {
        var user = Ids.User();

        var body = (await Api.Usage("user", user)).Expect(HttpStatusCode.OK).Json;

        Assert.Equal($"user:{user}", body["subject"]!.GetValue<string>());
        var policy = Assert.Single(body["policies"]!.AsArray())!;
        Assert.Equal("per-minute", policy["policy"]!.GetValue<string>());
        Assert.Equal(100, policy["remaining"]!.GetValue<long>());
        Assert.Equal(0, policy["resetAfterMs"]!.GetValue<long>());
    }

    [Fact]
    public async Task Usage_kind_is_case_insensitive()
    {
        (await Api.Usage("RESOURCE", "telegram")).Expect(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("users")]
    [InlineData("resources")]
    [InlineData("apikey")]
    [InlineData("bogus")]
    public async Task Unknown_kind_is_a_400_on_kind(string kind)
    {
        (await Api.Usage(kind, "telegram")).ExpectProblem(HttpStatusCode.BadRequest, "kind");
    }

    [Fact]
    public async Task Unknown_resource_is_a_404_on_id()
    {
        var json = (await Api.Usage("resource", "no-such-resource")).ExpectProblem(HttpStatusCode.NotFound, "id");

        Assert.Contains("resource:no-such-resource", json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bare_pattern_prefix_is_not_a_resource()
    {
        // "test-burst:*" matches names longer than its prefix, not the prefix itself.
        (await Api.Usage("resource", "test-burst:")).ExpectProblem(HttpStatusCode.NotFound, "id");
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("sk_live_raw_key_not_a_key_id")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde")] // 63 hex digits
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0")] // 65 hex digits
    [InlineData("0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF")] // upper case
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg")] // not hex
    public async Task Key_id_that_is_not_64_lower_case_hex_digits_is_a_400_on_id(string id)
    {
        (await Api.Usage("key", id)).ExpectProblem(HttpStatusCode.BadRequest, "id");
    }

    [Fact]
    public async Task Unregistered_key_id_is_a_404_on_id()
    {
        (await Api.Usage("key", new string('a', 64))).ExpectProblem(HttpStatusCode.NotFound, "id");
    }

    [Theory]
    [InlineData("tenant")]
    [InlineData("token")]
    public async Task Unconfigured_tenants_and_tokens_are_404_on_id(string kind)
    {
        (await Api.Usage(kind, kind == "token" ? "no-such-upstream/t1" : "no-such-tenant")).ExpectProblem(HttpStatusCode.NotFound, "id");
    }

    [Fact]
    public async Task Id_with_a_control_character_or_over_256_characters_is_a_400_on_id()
    {
        (await Api.Usage("user", "a\u0001b")).ExpectProblem(HttpStatusCode.BadRequest, "id");
        (await Api.Usage("user", new string('u', RequestRules.MaxNameLength + 1))).ExpectProblem(HttpStatusCode.BadRequest, "id");
        (await Api.Usage("user", new string('u', RequestRules.MaxNameLength))).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Health_readiness_and_the_front_page_answer()
    {
        var health = (await Api.Get("/healthz")).Expect(HttpStatusCode.OK);
        Assert.Equal("text/plain", health.MediaType);
        Assert.Equal("ok\n", health.Body);

        var ready = (await Api.Get("/readyz")).Expect(HttpStatusCode.OK);
        Assert.Equal("ready\n", ready.Body);

        var root = (await Api.Get("/")).Expect(HttpStatusCode.OK);
        Assert.Equal("application/json", root.MediaType);
        Assert.Contains("\"dashboard\":\"/dashboard\"", root.Body, StringComparison.Ordinal);
        Assert.Contains("\"metrics\":\"/metrics\"", root.Body, StringComparison.Ordinal);

        // Every route the root lists is one the API serves: each is in the OpenAPI document under its method.
        var paths = (await Api.Get("/openapi/v1.json")).Expect(HttpStatusCode.OK).Json["paths"]!.AsObject();
        var listed = root.Json["decisions"]!.AsArray().Concat(root.Json["queues"]!.AsArray()).Select(e => e!.GetValue<string>()).ToArray();
        Assert.Contains("POST /v1/plan", listed);
        foreach (var route in listed)
        {
            var (methods, path) = (route.Split(' ')[0].Split('|'), route.Split(' ')[1].Split('?')[0]);
            Assert.True(paths.ContainsKey(path), $"{route}: {path} is not in the OpenAPI document");
            Assert.All(methods, m => Assert.True(paths[path]!.AsObject().ContainsKey(m.ToLowerInvariant()), $"{route}: no {m} in the OpenAPI document"));
        }
    }

    [Fact]
    public async Task Wrong_method_and_unknown_path_are_not_decisions()
    {
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await Api.Get("/v1/acquire")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.Get("/v1/nothing-here")).Status);
    }
}
