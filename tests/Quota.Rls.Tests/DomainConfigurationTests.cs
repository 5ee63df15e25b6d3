using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Quota.Rls.Tests;

/// <summary>
/// The descriptor configuration through <c>/v1/admin/domains/{domain}</c> and <c>apply</c>'s <c>domains:</c>: stored,
/// echoed, planned and recorded like the rest of the configuration; hostile input is a 400 problem naming the field and
/// stores nothing.
/// </summary>
[Collection(RlsCollection.Name)]
public sealed class DomainConfigurationTests(RlsSilo silo)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(HttpStatusCode Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, string? body = null, string mediaType = "application/json")
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, mediaType);
        }

        using var response = await silo.Http.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private static string[] Fields(JsonNode? problem) => [.. problem!["errors"]!.AsArray().Select(e => e!["field"]!.GetValue<string>())];

    [Fact]
    public async Task ADomainIsStoredEchoedListedAndDeleted()
    {
        var domain = RlsSilo.NewDomain("admin");
        var put = await SendAsync(HttpMethod.Put, $"/v1/admin/domains/{domain}", """{ "descriptors": [ { "key": "remote_address", "rate_limit": { "unit": "second", "requests_per_unit": 5 } } ] }""");
        var get = await SendAsync(HttpMethod.Get, $"/v1/admin/domains/{domain}");
        var list = await SendAsync(HttpMethod.Get, "/v1/admin/domains");
        var changes = await SendAsync(HttpMethod.Get, $"/v1/admin/changes?subject=domain:{domain}");
        var delete = await SendAsync(HttpMethod.Delete, $"/v1/admin/domains/{domain}");
        var gone = await SendAsync(HttpMethod.Get, $"/v1/admin/domains/{domain}");

        Assert.Equal(HttpStatusCode.OK, put.Status);
        Assert.Equal("""{"domain":"DOMAIN","descriptors":[{"key":"remote_address","rate_limit":{"unit":"second","requests_per_unit":5}}]}""".Replace("DOMAIN", domain, StringComparison.Ordinal), get.Body!.ToJsonString());
        Assert.Contains(domain, list.Body!["domains"]!.AsArray().Select(d => d!.GetValue<string>()));
        Assert.Equal("set", changes.Body!["changes"]![0]!["action"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NoContent, delete.Status);
        Assert.Equal(HttpStatusCode.NotFound, gone.Status);
        Assert.Equal(["domain"], Fields(gone.Body));
    }

    [Theory]
    [InlineData("""{ "descriptors": [ { "key": "k", "rate_limit": { "unit": "fortnight", "requests_per_unit": 5 } } ] }""", "descriptors[0].rate_limit.unit")]
    [InlineData("""{ "descriptors": [ { "key": "k", "rate_limit": { "unit": "minute", "requests_per_unit": 10000000000000 } } ] }""", "descriptors[0].rate_limit.requests_per_unit")]
    [InlineData("""{ "descriptors": [ { "key": "k", "rate_limit": { "unit": "minute", "requests_per_unit": 0 } } ] }""", "descriptors[0].rate_limit.requests_per_unit")]
    [InlineData("""{ "descriptors": [ { "key": "", "rate_limit": { "unit": "minute", "requests_per_unit": 1 } } ] }""", "descriptors[0].key")]
    [InlineData("""{ "descriptors": [ { "key": "k", "value": "a*b", "rate_limit": { "unit": "minute", "requests_per_unit": 1 } } ] }""", "descriptors[0].value")]
    [InlineData("""{ "descriptors": [ { "key": "k" } ] }""", "descriptors[0]")]
    [InlineData("""{ "descriptors": [] }""", "descriptors")]
    [InlineData("""{ "descriptors": [ { "key": "k", "policy": { "name": "c", "algorithm": "concurrency", "limit": 2, "leaseTtl": "00:01:00" } } ] }""", "descriptors[0].policy.algorithm")]
    [InlineData("""{ "descriptors": [ { "key": "k", "rate_limit": { "unit": "minute", "requests_per_unit": 1 } }, { "key": "k", "rate_limit": { "unit": "hour", "requests_per_unit": 1 } } ] }""", "descriptors[1].key")]
    [InlineData("""{ "descriptors": [ { "key": "k", "rate_limit": { "unit": "minute", "requests_per_unit": 1, "burst": 3 } } ] }""", "descriptors[0].rate_limit.burst")]
    public async Task HostileDomainsAreRefusedNamingTheFieldAndNothingIsStored(string body, string field)
    {
        var domain = RlsSilo.NewDomain("hostile");

        var put = await SendAsync(HttpMethod.Put, $"/v1/admin/domains/{domain}", body);
        var get = await SendAsync(HttpMethod.Get, $"/v1/admin/domains/{domain}");

        Assert.Equal(HttpStatusCode.BadRequest, put.Status);
        Assert.Contains(field, Fields(put.Body));
        Assert.Equal(HttpStatusCode.NotFound, get.Status);
    }

    [Fact]
    public async Task NestingDeeperThanEightLevelsIsRefused()
    {
        var rule = """{ "key": "k8", "rate_limit": { "unit": "minute", "requests_per_unit": 1 } }""";
        for (var i = 7; i >= 0; i--)
        {
            rule = $$"""{ "key": "k{{i}}", "descriptors": [ {{rule}} ] }""";
        }

        var domain = RlsSilo.NewDomain("deep");
        var put = await SendAsync(HttpMethod.Put, $"/v1/admin/domains/{domain}", $$"""{ "descriptors": [ {{rule}} ] }""");

        Assert.Equal(HttpStatusCode.BadRequest, put.Status);
        Assert.Equal(["descriptors[0].descriptors[0].descriptors[0].descriptors[0].descriptors[0].descriptors[0].descriptors[0].descriptors[0].descriptors"], Fields(put.Body));
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, $"/v1/admin/domains/{domain}")).Status);
    }

    [Fact]
    public async Task ApplyPlansCreatesAndThenLeavesADomainUnchanged()
    {
        var domain = RlsSilo.NewDomain("apply");
        var yaml = $"""
            domains:
              {domain}:
                descriptors:
                  - key: remote_address
                    rate_limit: {"{"} unit: minute, requests_per_unit: 1 {"}"}
                  - key: path
                    value: "/login"
                    descriptors:
                      - key: user
                        policy: {"{"} name: per-day, algorithm: calendar, limit: 3, period: day, timeZone: UTC {"}"}
            """;

        var dryRun = await SendAsync(HttpMethod.Post, "/v1/admin/apply?dryRun=true", yaml, "application/yaml");
        var afterDryRun = await SendAsync(HttpMethod.Get, $"/v1/admin/domains/{domain}");
        var applied = await SendAsync(HttpMethod.Post, "/v1/admin/apply", yaml, "application/yaml");
        var again = await SendAsync(HttpMethod.Post, "/v1/admin/apply", yaml, "application/yaml");

        Assert.Equal(HttpStatusCode.OK, dryRun.Status);
        Assert.Equal("create", dryRun.Body!["changes"]!.AsArray().Single(c => c!["subject"]!.GetValue<string>() == $"domain:{domain}")!["action"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, afterDryRun.Status);
        Assert.Equal("create", applied.Body!["changes"]!.AsArray().Single(c => c!["subject"]!.GetValue<string>() == $"domain:{domain}")!["action"]!.GetValue<string>());
        Assert.Equal("unchanged", again.Body!["changes"]!.AsArray().Single(c => c!["subject"]!.GetValue<string>() == $"domain:{domain}")!["action"]!.GetValue<string>());

        // The applied rules decide.
        var login = Descriptor(("path", "/login"), ("user", "alice"));
        var first = await silo.Rls.ShouldRateLimitAsync(For(domain, login), cancellationToken: Ct);
        Assert.Equal(Code.Ok, first.OverallCode);
        Assert.Equal(3u, first.Statuses[0].CurrentLimit.RequestsPerUnit);
        Assert.Equal(Unit.Day, first.Statuses[0].CurrentLimit.Unit);
        Assert.Equal(2u, first.Statuses[0].LimitRemaining);
    }

    [Fact]
    public async Task AnInvalidDomainInADocumentRejectsTheWholeDocument()
    {
        var domain = RlsSilo.NewDomain("bad");
        var user = $"rls-user-{Guid.NewGuid():N}";
        var json = $$"""
            { "users": { "{{user}}": { "policies": [ { "name": "per-minute", "algorithm": "fixed-window", "limit": 5, "window": "00:01:00" } ] } },
              "domains": { "{{domain}}": { "descriptors": [ { "key": "k", "rate_limit": { "unit": "decade", "requests_per_unit": 1 } } ] } } }
            """;

        var applied = await SendAsync(HttpMethod.Post, "/v1/admin/apply", json);
        var stored = await SendAsync(HttpMethod.Get, $"/v1/admin/domains/{domain}");
        var userNow = await SendAsync(HttpMethod.Get, $"/v1/admin/users/{user}");

        Assert.Equal(HttpStatusCode.BadRequest, applied.Status);
        Assert.Equal([$"domains.{domain}.descriptors[0].rate_limit.unit"], Fields(applied.Body));
        Assert.Equal(HttpStatusCode.NotFound, stored.Status);
        Assert.False(userNow.Body!["own"]!.GetValue<bool>());
    }

    [Fact]
    public async Task TheDocumentedExampleApplies()
    {
        var doc = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "docs", "envoy.md"), Ct);
        var marker = doc.IndexOf("<!-- envoy-apply-example", StringComparison.Ordinal);
        var start = doc.IndexOf("```yaml\n", marker, StringComparison.Ordinal) + "```yaml\n".Length;
        var yaml = doc[start..doc.IndexOf("```", start, StringComparison.Ordinal)];

        var applied = await SendAsync(HttpMethod.Post, "/v1/admin/apply", yaml, "application/yaml");
        var vip = await silo.Rls.ShouldRateLimitAsync(For("edge_proxy_per_ip", Descriptor(("remote_address", "50.0.0.5"))), cancellationToken: Ct);
        var free = await silo.Rls.ShouldRateLimitAsync(For("edge_proxy_per_ip", Descriptor(("plan", "free"))), cancellationToken: Ct);
        var partner = await silo.Rls.ShouldRateLimitAsync(For("edge_proxy_per_ip", Descriptor(("api_key", "partner-7"))), cancellationToken: Ct);

        Assert.Equal(HttpStatusCode.OK, applied.Status);
        Assert.Equal((100u, Unit.Second), (vip.Statuses[0].CurrentLimit.RequestsPerUnit, vip.Statuses[0].CurrentLimit.Unit));
        Assert.Equal((10000u, Unit.Month, 9999u), (free.Statuses[0].CurrentLimit.RequestsPerUnit, free.Statuses[0].CurrentLimit.Unit, free.Statuses[0].LimitRemaining));
        Assert.Equal((50u, Unit.Second, 99u), (partner.Statuses[0].CurrentLimit.RequestsPerUnit, partner.Statuses[0].CurrentLimit.Unit, partner.Statuses[0].LimitRemaining));
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Quota.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Quota.sln was not found above the test's directory.");
    }
}
