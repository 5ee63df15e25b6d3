using System.Net;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>POST /v1/admin/apply with upstreams, tokens and tenants: planned, applied, idempotent, rejected whole.</summary>
[Collection(AdminHostCollection.Name)]
public sealed class TenancyApplyTests(AdminSilo host) : HostTest(host)
{
    [Fact]
    public async Task Dry_run_lists_the_tenancy_changes_and_applies_nothing()
    {
        var (upstream, tenant) = (Ids.New("up-"), Ids.New("ten-"));
        var before = await Api.LastChange();

        var plan = (await Api.Apply(Yaml(upstream, tenant, Ids.New("secret-")), dryRun: true, mediaType: "application/yaml")).Expect(HttpStatusCode.OK).Json;

        Assert.True(plan["dryRun"]!.GetValue<bool>());
        var subjects = plan["changes"]!.AsArray().Select(c => c!["subject"]!.GetValue<string>()).ToList();
        Assert.Contains(subjects, s => s.Contains(upstream, StringComparison.Ordinal));
        Assert.Contains(subjects, s => s.Contains(tenant, StringComparison.Ordinal));
        Assert.DoesNotContain(plan["changes"]!.AsArray(), c => c!["action"]!.GetValue<string>() == "unchanged");
        (await Api.GetUpstream(upstream)).ExpectProblem(HttpStatusCode.NotFound, "name");
        (await Api.GetTenant(tenant)).ExpectProblem(HttpStatusCode.NotFound, "id");
        Assert.Equal(before, await Api.LastChange());
    }

    [Fact]
    public async Task Apply_creates_upstreams_tokens_and_tenants_and_applying_again_changes_nothing()
    {
        var (upstream, tenant, secret) = (Ids.New("up-"), Ids.New("ten-"), Ids.New("secret-"));
        var user = Ids.User();
        var document = Yaml(upstream, tenant, secret) + $$"""

            users:
              {{user}}:
                policies:
                  - { name: m, algorithm: fixed-window, limit: 5, window: "00:01:00" }
            """;

        var applied = (await Api.Apply(document, mediaType: "application/yaml")).Expect(HttpStatusCode.OK);
        Assert.DoesNotContain(secret, applied.Body, StringComparison.Ordinal);
        Assert.Contains(applied.Json["changes"]!.AsArray(), c => c!["subject"]!.GetValue<string>() == $"user:{user}");

        var view = (await Api.GetUpstream(upstream)).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(10, view["bufferPercent"]!.GetValue<double>());
        Assert.Equal(["bl-1", "bl-2"], view["tokens"]!.AsArray().Select(t => t!["id"]!.GetValue<string>()).Order());
        Assert.Equal(180, view["capacity"]!.GetValue<long>());
        Assert.True(view["tokens"]![0]!["hasSecret"]!.GetValue<bool>());
        var tenantView = (await Api.GetTenant(tenant)).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(upstream, tenantView["upstream"]!.GetValue<string>());
        Assert.Equal(30, tenantView["reserved"]!.GetValue<long>());
        Assert.Equal("premium", tenantView["tier"]!.GetValue<string>());
        Assert.True((await Api.GetUser(user)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());

        var before = await Api.LastChange();
        var again = (await Api.Apply(document, mediaType: "application/yaml")).Expect(HttpStatusCode.OK).Json;
        Assert.All(again["changes"]!.AsArray(), c => Assert.Equal("unchanged", c!["action"]!.GetValue<string>()));
        Assert.Equal(before, await Api.LastChange());

        // The same document in JSON is the same configuration.
        var json = $$"""
            { "upstreams": { "{{upstream}}": { "bufferPercent": 10, "window": "00:01:00", "tokens": {
                "bl-1": { "secret": "{{secret}}", "policies": [ { "name": "per-minute", "algorithm": "fixed-window", "limit": 100, "window": "00:01:00" } ] },
                "bl-2": { "secret": "{{secret}}", "policies": [ { "name": "per-minute", "algorithm": "fixed-window", "limit": 100, "window": "00:01:00" } ], "dedicatedTo": null } } } },
              "tenants": { "{{tenant}}": { "tier": "premium", "upstream": "{{upstream}}", "reserved": 30, "strategy": "shared" } } }
            """;
        var viaJson = (await Api.Apply(json)).Expect(HttpStatusCode.OK).Json;
        Assert.All(viaJson["changes"]!.AsArray(), c => Assert.Equal("unchanged", c!["action"]!.GetValue<string>()));
        Assert.Equal(before, await Api.LastChange());
    }

    [Fact]
    public async Task A_document_with_tenancy_problems_is_rejected_whole_with_every_problem()
    {
        var (upstream, tenant, user) = (Ids.New("up-"), Ids.New("ten-"), Ids.User());
        var before = await Api.LastChange();

        var problem = (await Api.Apply($$"""
            users:
              {{user}}:
                policies:
                  - { name: m, algorithm: fixed-window, limit: 0, window: "00:01:00" }
            upstreams:
              {{upstream}}:
                bufferPercent: 80
                tokens:
                  t1:
                    policies:
                      - { name: m, algorithm: fixed-window, limit: 0, window: "00:01:00" }
            tenants:
              {{tenant}}:
                upstream: {{Ids.New("no-such-upstream-")}}
            """, mediaType: "application/yaml")).Expect(HttpStatusCode.BadRequest).Json;

        var fields = TenancyApi.Fields(problem);
        Assert.Contains($"users.{user}.policies[0].limit", fields);
        Assert.Contains($"upstreams.{upstream}.bufferPercent", fields);
        Assert.Contains($"upstreams.{upstream}.tokens.t1.policies[0].limit", fields);
        Assert.Contains($"tenants.{tenant}.upstream", fields);
        (await Api.GetUpstream(upstream)).ExpectProblem(HttpStatusCode.NotFound, "name");
        Assert.Equal(before, await Api.LastChange());
    }

    [Fact]
    public async Task A_valid_user_in_a_document_with_an_invalid_tenant_is_not_applied()
    {
        var (tenant, user) = (Ids.New("ten-"), Ids.User());

        var problem = (await Api.Apply($$"""
            { "users": { "{{user}}": { "policies": [ { "name": "m", "algorithm": "fixed-window", "limit": 5, "window": "00:01:00" } ] } },
              "tenants": { "{{tenant}}": { "reserved": 5 } } }
            """)).Expect(HttpStatusCode.BadRequest).Json;

        Assert.Contains(TenancyApi.Fields(problem), f => f.StartsWith($"tenants.{tenant}", StringComparison.Ordinal));
        Assert.False((await Api.GetUser(user)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
    }

    [Theory]
    [InlineData("{\"tenants\":{\"t\":null}}", "tenants.t")]
    [InlineData("{\"upstreams\":{\"u\":null}}", "upstreams.u")]
    [InlineData("{\"upstreams\":{\"u\":{\"tokens\":{\"k\":null}}}}", "upstreams.u.tokens.k")]
    [InlineData("{\"upstreams\":{\"u\":{\"buffer\":5}}}", "upstreams.u.buffer")]
    [InlineData("{\"tenants\":{\"t\":{\"reserved\":\"many\"}}}", "tenants.t.reserved")]
    public async Task Malformed_tenancy_entries_are_named_by_their_path(string document, string field)
    {
        var problem = (await Api.Apply(document)).Expect(HttpStatusCode.BadRequest).Json;

        Assert.Equal(field, problem["field"]!.GetValue<string>());
    }

    private static string Yaml(string upstream, string tenant, string secret) => $$"""
        upstreams:
          {{upstream}}:
            bufferPercent: 10
            window: "00:01:00"
            tokens:
              bl-1:
                secret: "{{secret}}"
                policies:
                  - { name: per-minute, algorithm: fixed-window, limit: 100, window: "00:01:00" }
              bl-2:
                secret: "{{secret}}"
                policies:
                  - { name: per-minute, algorithm: fixed-window, limit: 100, window: "00:01:00" }
                dedicatedTo: null
        tenants:
          {{tenant}}:
            tier: premium
            upstream: {{upstream}}
            reserved: 30
            strategy: shared
        """;
}
