using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Quota.Abstractions;

namespace Quota.Outbound.Tests;

/// <summary>Options from configuration and code, checked when the host starts with every problem named.</summary>
public sealed class QuotaUpstreamOptionsTests
{
    [Fact]
    public void ConfigurationUnderTheClientsNameSetsTheOptionsAndCodeComesLast()
    {
        using var services = Build(
            new()
            {
                ["Quota:Outbound:baselinker:Tenant"] = "acme",
                ["Quota:Outbound:baselinker:Placement"] = "Query",
                ["Quota:Outbound:baselinker:QueryParameter"] = "api_key",
                ["Quota:Outbound:baselinker:MaxWait"] = "00:00:02",
                ["Quota:Outbound:baselinker:OnDenied"] = "TooManyRequests",
                ["Quota:Outbound:baselinker:Priority"] = "high",
                ["Quota:Outbound:other:Tenant"] = "globex",
            },
            http => http.AddQuotaUpstream("baselinker", o => o.Cost = 2));

        var options = services.GetRequiredService<IOptionsMonitor<QuotaUpstreamOptions>>().Get("baselinker");
        Assert.Equal(
            ("baselinker", "acme", CredentialPlacement.Query, "api_key", TimeSpan.FromSeconds(2), QuotaDenialBehavior.TooManyRequests, Priority.High, 2L),
            (options.Upstream, options.Tenant, options.Placement, options.QueryParameter, options.MaxWait, options.OnDenied, options.Priority, options.Cost));
    }

    [Fact]
    public void EveryProblemIsReportedAtOnceNamingItsSetting()
    {
        using var services = Build(
            new()
            {
                ["Quota:Outbound:baselinker:Tenant"] = " acme",
                ["Quota:Outbound:baselinker:Cost"] = "0",
                ["Quota:Outbound:baselinker:MaxWait"] = "-00:00:01",
                ["Quota:Outbound:baselinker:HeaderName"] = "X Token",
                ["Quota:Outbound:baselinker:HeaderFormat"] = "Bearer",
            },
            http => http.AddQuotaUpstream("baselinker"));

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptionsMonitor<QuotaUpstreamOptions>>().Get("baselinker"));
        Assert.Equal(
            [
                "Quota:Outbound:baselinker:Tenant starts or ends with whitespace (U+0020); remove it, since ' a' and 'a' would be two names that look the same.",
                "Quota:Outbound:baselinker:Cost must be 1 or more permits per request (got 0); a request that takes none would reach the upstream unpaced.",
                "Quota:Outbound:baselinker:MaxWait must be between 00:00:00 (deny at once) and 01:00:00 (got -00:00:01).",
                "Quota:Outbound:baselinker:HeaderName 'X Token' is not a header name: use letters, digits and !#$%&'*+-.^_`|~, e.g. Authorization or X-Api-Key.",
                "Quota:Outbound:baselinker:HeaderFormat must contain {secret} where the token's secret goes, e.g. 'Bearer {secret}' or '{secret}'.",
            ],
            error.Failures);
    }

    [Fact]
    public void AQueryPlacementNeedsAParameterNameAndAnUpstreamIsRequired()
    {
        using var services = Build(
            new() { ["Quota:Outbound:api:Placement"] = "Query", ["Quota:Outbound:api:QueryParameter"] = "a&b" },
            http => http.AddQuotaUpstream(""));

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptionsMonitor<QuotaUpstreamOptions>>().Get("api"));
        Assert.Equal(
            [
                "Quota:Outbound:api:Upstream is required: name the Quota upstream whose tokens this client uses (AddQuotaUpstream(\"baselinker\")).",
                "Quota:Outbound:api:QueryParameter 'a&b' must be a parameter name without whitespace, control characters or &=#?, e.g. token.",
            ],
            error.Failures);
    }

    [Fact]
    public async Task AHostWithInvalidOptionsDoesNotStart()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Quota:Outbound:baselinker:Cost"] = "-1" });
        builder.Services.AddHttpClient("baselinker").AddQuotaUpstream("baselinker");
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Equal(
            "Quota:Outbound:baselinker:Cost must be 1 or more permits per request (got -1); a request that takes none would reach the upstream unpaced.",
            Assert.Single(error.Failures));
    }

    private static ServiceProvider Build(Dictionary<string, string?> settings, Action<IHttpClientBuilder> wire)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        wire(services.AddHttpClient(settings.Keys.First().Split(':')[2]));
        return services.BuildServiceProvider();
    }
}
