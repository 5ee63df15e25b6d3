using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Polly;
using Quota.Client;
using Quota.Samples.Worker;

namespace Quota.Outbound.Tests;

/// <summary>
/// The handler as apps wire it (<c>AddHttpClient(...).AddQuotaUpstream(...)</c>), with IHttpClientFactory's own logging
/// and the standard resilience handler: where it sits decides whether every attempt is paced and reported.
/// </summary>
public sealed class PipelineTests(OutboundFixture fixture) : IClassFixture<OutboundFixture>
{
    [Fact]
    public async Task AfterTheStandardResilienceHandlerEveryAttemptAcquiresAndReports()
    {
        var (upstream, fake) = await SetUpAsync("inner");
        await using var _ = fake;
        fake.Inject("t1", 503);
        fake.Inject("t1", 503);
        using var services = Services(fake, http =>
        {
            http.AddStandardResilienceHandler(FastRetries);
            http.AddQuotaUpstream(upstream);
        });

        using var response = await services.GetRequiredService<IHttpClientFactory>().CreateClient("api").GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var counts = fake.Counts()["t1"];
        Assert.Equal((2, 1), (counts.Injected, counts.Admitted));

        // Three attempts, three permits, three reports: two failures, then a success that reset the count.
        var token = await fixture.TokenAsync(upstream, "t1");
        Assert.Equal(3, token.Used);
        Assert.Equal(0, token.Health.ConsecutiveFailures);
    }

    [Fact]
    public async Task BeforeTheStandardResilienceHandlerRetriesAreNeitherPacedNorReported()
    {
        var (upstream, fake) = await SetUpAsync("outer");
        await using var _ = fake;
        fake.Inject("t1", 503);
        fake.Inject("t1", 503);
        using var services = Services(fake, http =>
        {
            http.AddQuotaUpstream(upstream);
            http.AddStandardResilienceHandler(FastRetries);
        });

        using var response = await services.GetRequiredService<IHttpClientFactory>().CreateClient("api").GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken);

        // The upstream answered three times, but Quota paced one request and heard one answer (the last).
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var counts = fake.Counts()["t1"];
        Assert.Equal((2, 1), (counts.Injected, counts.Admitted));
        Assert.Equal(1, (await fixture.TokenAsync(upstream, "t1")).Used);
    }

    [Fact]
    public async Task NoSecretReachesTheLogsAtTraceLevel()
    {
        var upstream = OutboundFixture.NewUpstream("logs");
        var secrets = new Dictionary<string, string> { ["t1"] = OutboundFixture.NewSecret("t1"), ["t2"] = OutboundFixture.NewSecret("t2") };
        await fixture.ConfigureAsync(upstream, secrets, limit: 5, TimeSpan.FromMinutes(1));
        await using var fake = await FakeUpstream.StartAsync(secrets, 5, TimeSpan.FromMinutes(1));
        fake.Inject("t1", 429, "1");
        fake.Inject("t2", 500);
        using var services = Services(fake, http => http.AddQuotaUpstream(upstream), "api");
        using var query = Services(fake, http => http.AddQuotaUpstream(upstream, o => o.Placement = CredentialPlacement.Query), "query");
        var statuses = new List<string>();
        // 12 requests for 10 permits (fewer once the 429 halves t1's limit): some are denied.
        foreach (var (client, requests) in new[] { (query.GetRequiredService<IHttpClientFactory>().CreateClient("query"), 4), (services.GetRequiredService<IHttpClientFactory>().CreateClient("api"), 8) })
        {
            for (var i = 0; i < requests; i++)
            {
                try
                {
                    using var response = await client.GetAsync(new Uri("orders?page=1", UriKind.Relative), TestContext.Current.CancellationToken);
                    statuses.Add(((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
                catch (QuotaUpstreamRejectedException denied)
                {
                    statuses.Add(denied.Cause.ToString());
                }
            }
        }

        // Successes, an upstream 429 and 500, and denials all went through the handler and the factory's loggers.
        Assert.Contains("200", statuses);
        Assert.Contains("429", statuses);
        Assert.Contains("500", statuses);
        Assert.Contains(statuses, s => !char.IsAsciiDigit(s[0]));
        // Each attempt is logged without its query; the factory's own loggers, which pass raw header values to
        // structured sinks at Trace level, are replaced.
        Assert.NotEmpty(fixture.Logs.Containing($"Quota.Outbound.HttpClient.query Information GET {fake.BaseAddress}orders?* answered 200"));
        Assert.NotEmpty(fixture.Logs.Containing($"Quota.Outbound.HttpClient.api Information GET {fake.BaseAddress}orders?* answered 200"));
        Assert.NotEmpty(fixture.Logs.Containing($"GET {fake.BaseAddress}orders?* answered 429"));
        Assert.Empty(fixture.Logs.Containing("System.Net.Http.HttpClient.api."));
        Assert.NotEmpty(fixture.Logs.Containing($"of upstream {upstream}"));
        foreach (var secret in secrets.Values)
        {
            var leaks = fixture.Logs.Containing(secret);
            Assert.True(leaks.Count == 0, $"the secret was logged:{Environment.NewLine}{string.Join(Environment.NewLine, leaks)}");
        }
    }

    private static void FastRetries(HttpStandardResilienceOptions options)
    {
        options.Retry.Delay = TimeSpan.FromMilliseconds(1);
        options.Retry.BackoffType = DelayBackoffType.Constant;
        options.Retry.UseJitter = false;
    }

    private async Task<(string Upstream, FakeUpstream Fake)> SetUpAsync(string prefix)
    {
        var upstream = OutboundFixture.NewUpstream(prefix);
        var secrets = new Dictionary<string, string> { ["t1"] = OutboundFixture.NewSecret("t1") };
        await fixture.ConfigureAsync(upstream, secrets, limit: 100, TimeSpan.FromMinutes(1));
        return (upstream, await FakeUpstream.StartAsync(secrets, 100, TimeSpan.FromMinutes(1)));
    }

    /// <summary>A container with the fixture's Quota client, every log captured at Trace, and one named client wired by <paramref name="wire"/>.</summary>
    private ServiceProvider Services(FakeUpstream fake, Action<IHttpClientBuilder> wire, string name = "api")
    {
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.AddProvider(fixture.Logs).SetMinimumLevel(LogLevel.Trace));
        services.AddSingleton<IQuotaClient>(fixture.Quota);
        wire(services.AddHttpClient(name, client => client.BaseAddress = fake.BaseAddress));
        return services.BuildServiceProvider();
    }
}
