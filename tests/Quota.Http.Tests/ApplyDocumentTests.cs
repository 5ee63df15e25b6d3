using System.Text.Json;
using Quota.Abstractions;
using Quota.Server.Admin;

namespace Quota.Http.Tests;

/// <summary>
/// The tenancy part of an apply document, read without a silo: YAML and JSON give the same change, every value
/// typed as in the contracts, and entries that would mean "remove" are refused with their path.
/// </summary>
public sealed class ApplyDocumentTests
{
    private const string Yaml = """
        upstreams:
          baselinker:
            bufferPercent: 7.5
            window: "00:02:00"
            tokens:
              bl-1:
                secret: "s3cr3t: with a colon"
                policies:
                  - { name: per-minute, algorithm: fixed-window, limit: 100, window: "00:01:00" }
              bl-2:
                policies:
                  - { name: per-minute, algorithm: fixed-window, limit: 50, window: "00:01:00" }
                dedicatedTo: null
                successor: bl-1
              bl-3:
                policies: []
                dedicatedTo: acme
          empty: {}
        tenants:
          acme: { tier: premium, upstream: baselinker, reserved: 30, burst: 10, weight: 1.5, strategy: hybrid, priority: 2, adaptive: { enabled: false, minimum: 20, maximum: 60 } }
          bare: { upstream: empty, adaptive: { enabled: True } }
        """;

    private const string Json = """
        { "upstreams": {
            "baselinker": { "bufferPercent": 7.5, "window": "00:02:00", "tokens": {
              "bl-1": { "secret": "s3cr3t: with a colon", "policies": [ { "name": "per-minute", "algorithm": "fixed-window", "limit": 100, "window": "00:01:00" } ] },
              "bl-2": { "policies": [ { "name": "per-minute", "algorithm": "fixed-window", "limit": 50, "window": "00:01:00" } ], "dedicatedTo": null, "successor": "bl-1" },
              "bl-3": { "policies": [], "dedicatedTo": "acme" } } },
            "empty": {} },
          "tenants": {
            "acme": { "tier": "premium", "upstream": "baselinker", "reserved": 30, "burst": 10, "weight": 1.5, "strategy": "hybrid", "priority": 2,
                      "adaptive": { "enabled": false, "minimum": 20, "maximum": 60 } },
            "bare": { "upstream": "empty", "adaptive": { "enabled": true } } } }
        """;

    [Fact]
    public void Yaml_and_json_give_the_same_tenancy_change()
    {
        var fromYaml = Change(Yaml);
        var fromJson = Change(Json);

        Assert.Equal(JsonSerializer.Serialize(fromJson), JsonSerializer.Serialize(fromYaml));
        Assert.Equal("apply", fromYaml.Source);
        Assert.Equal(new UpstreamSpec { BufferPercent = 7.5, Window = TimeSpan.FromMinutes(2) }, fromYaml.Upstreams["baselinker"]);
        Assert.Equal(new UpstreamSpec(), fromYaml.Upstreams["empty"]);
        Assert.Equal(["bl-1", "bl-2", "bl-3"], fromYaml.Tokens.Select(t => t.Id));
        Assert.All(fromYaml.Tokens, t => Assert.Equal("baselinker", t.Upstream));
        Assert.Equal("s3cr3t: with a colon", fromYaml.Tokens[0].Spec!.Secret);
        Assert.Null(fromYaml.Tokens[1].Spec!.Secret);
        Assert.Null(fromYaml.Tokens[1].Spec!.DedicatedTo);
        Assert.Equal("bl-1", fromYaml.Tokens[1].Spec!.Successor);
        Assert.Null(fromYaml.Tokens[0].Spec!.Successor);
        Assert.Equal("acme", fromYaml.Tokens[2].Spec!.DedicatedTo);
        Assert.Equal(100, fromYaml.Tokens[0].Spec!.Policies![0].Limit);
        var acme = fromYaml.Tenants["acme"]!;
        Assert.Equal(new AdaptiveSpec { Enabled = false, Minimum = 20, Maximum = 60 }, acme.Adaptive);
        Assert.Equal(
            new TenantSpec { Tier = "premium", Upstream = "baselinker", Reserved = 30, Burst = 10, Weight = 1.5, Strategy = "hybrid", Priority = 2, Adaptive = acme.Adaptive },
            acme);
        Assert.Equal(new TenantSpec { Upstream = "empty", Adaptive = new AdaptiveSpec { Enabled = true } }, fromYaml.Tenants["bare"]);
    }

    [Theory]
    [InlineData("tenants:\n  acme: { upstream: bl, adaptive: { enabled: sometimes } }\n", "tenants.acme.adaptive.enabled")]
    [InlineData("{ \"tenants\": { \"acme\": { \"upstream\": \"bl\", \"adaptive\": { \"enabled\": 1 } } } }", "tenants.acme.adaptive.enabled")]
    [InlineData("tenants:\n  acme: { upstream: bl, adaptive: { maximun: 5 } }\n", "tenants.acme.adaptive.maximun")]
    [InlineData("upstreams:\n  bl:\n    tokens:\n      t1: { policies: [], succesor: t2 }\n", "upstreams.bl.tokens.t1.succesor")]
    public void Unreadable_scheduler_settings_are_named_by_their_path(string text, string field)
    {
        Assert.Null(ApplyPlanner.Parse(text, FormatOf(text), out var problem));

        Assert.Equal(field, problem!.Field);
    }

    [Fact]
    public void A_document_without_tenancy_makes_no_tenancy_change()
    {
        var document = ApplyPlanner.Parse("users: {}\nupstreams: {}\ntenants: {}\n", DocumentFormat.Yaml, out var problem);

        Assert.Null(problem);
        var problems = new List<FieldProblem>();
        Assert.Null(ApplyPlanner.TenancyOf(document!, problems));
        Assert.Empty(problems);
    }

    [Fact]
    public void Null_entries_are_problems_naming_their_path_and_the_rest_is_still_checked()
    {
        var document = ApplyPlanner.Parse("""
            upstreams:
              gone:
              kept:
                tokens:
                  t1:
                  t2: { policies: [] }
            tenants:
              nobody: null
              somebody: { upstream: kept }
            """, DocumentFormat.Yaml, out var parseProblem);
        Assert.Null(parseProblem);

        var problems = new List<FieldProblem>();
        var change = ApplyPlanner.TenancyOf(document!, problems);

        Assert.Equal(["upstreams.gone", "upstreams.kept.tokens.t1", "tenants.nobody"], problems.Select(p => p.Field));
        Assert.Equal(["kept"], change!.Upstreams.Keys);
        Assert.Equal(["t2"], change.Tokens.Select(t => t.Id));
        Assert.Equal(["somebody"], change.Tenants.Keys);
        Assert.DoesNotContain(change.Upstreams.Values, v => v is null);
    }

    [Theory]
    [InlineData("upstreams.bl.bufferPercent", "bufferPercent")]
    [InlineData("upstreams.bl", "name")]
    [InlineData("upstreams.bl.tokens.t1.policies[0].limit", "upstreams.bl.tokens.t1.policies[0].limit")]
    [InlineData("upstreams.blx.window", "upstreams.blx.window")]
    [InlineData("tenants.acme.reserved", "tenants.acme.reserved")]
    public void Upstream_problems_are_named_as_in_the_body(string field, string expected)
    {
        Assert.Equal(expected, TenancyEndpoints.Relative(field, "upstreams.bl", "name"));
    }

    [Theory]
    [InlineData("upstreams.bl.tokens.t1.policies[0].limit", "policies[0].limit")]
    [InlineData("upstreams.bl.tokens.t1.dedicatedTo", "dedicatedTo")]
    [InlineData("upstreams.bl.tokens.t1", "id")]
    [InlineData("upstreams.bl.tokens.t10.dedicatedTo", "upstreams.bl.tokens.t10.dedicatedTo")]
    [InlineData("upstreams.bl", "upstreams.bl")]
    public void Token_problems_are_named_as_in_the_body(string field, string expected)
    {
        Assert.Equal(expected, TenancyEndpoints.Relative(field, "upstreams.bl.tokens.t1", "id"));
    }

    private static DocumentFormat FormatOf(string text) => text.StartsWith('{') ? DocumentFormat.Json : DocumentFormat.Yaml;

    private static TenancyChange Change(string text)
    {
        var document = ApplyPlanner.Parse(text, FormatOf(text), out var problem);
        Assert.Null(problem);
        var problems = new List<FieldProblem>();
        var change = ApplyPlanner.TenancyOf(document!, problems);
        Assert.Empty(problems);
        return change!;
    }
}
