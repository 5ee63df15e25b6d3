using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Quota.Abstractions;
using Quota.AspNetCore;
using Quota.Integrations.Tests.Infrastructure;

namespace Quota.Integrations.Tests;

/// <summary>
/// A real ASP.NET Core app on loopback (Kestrel) with Quota as the global limiter and an endpoint policy naming two
/// subjects, against a real silo; and a policy whose requests each get the priority the app chooses from the request
/// (while they wait in Quota's queue for one concurrency slot, the high one is served before the low one that queued first).
/// </summary>
public sealed class AspNetCorePolicyTests(QuotaClusterFixture fixture) : IClassFixture<QuotaClusterFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheGlobalLimiterAndAnEndpointPolicyDecideEverySubjectAllOrNothing()
    {
        var shop = $"shop-{Guid.NewGuid():N}";
        var user = $"buyer-{Guid.NewGuid():N}";
        await fixture.Cluster.PutResourceAsync(shop, new { name = "per-minute", algorithm = "fixed-window", limit = 1, window = "00:01:00" });
        await using var app = await StartAppAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        using var admitted = await http.SendAsync(Orders(shop, user), Token);
        Assert.Equal(HttpStatusCode.OK, admitted.StatusCode);
        Assert.Equal($"orders of {shop}", await admitted.Content.ReadAsStringAsync(Token));
        var policy = Assert.Single(admitted.Headers.GetValues("RateLimit-Policy"));
        Assert.Contains($"\"user:{user}/per-minute\";q=100;w=60", policy, StringComparison.Ordinal);
        Assert.Contains($"\"resource:{shop}/per-minute\";q=1;w=60", policy, StringComparison.Ordinal);

        using var refused = await http.SendAsync(Orders(shop, user), Token);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        using var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync(Token));
        Assert.Equal($"resource:{shop}/per-minute", problem.RootElement.GetProperty("limitedBy").GetString());
        Assert.True(refused.Headers.Contains("Retry-After"));

        // Two requests through the global limiter (the user twice) and one admitted by the endpoint policy (user and
        // shop once): the refused endpoint decision took nothing from the user.
        var usage = await fixture.Cluster.Client.GetUsageAsync(SubjectKind.User, user, Token);
        Assert.Equal(97, Assert.Single(usage.Policies).Remaining);
    }

    [Fact]
    public async Task AnUnregisteredApiKeyIsRefusedWith401WithoutEchoingTheKey()
    {
        await using var app = await StartAppAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        var key = $"secret-key-{Guid.NewGuid():N}";
        using var request = new HttpRequestMessage(HttpMethod.Get, "/keyed");
        request.Headers.Add("X-User", $"keyholder-{Guid.NewGuid():N}");
        request.Headers.Add("X-Api-Key", key);

        using var response = await http.SendAsync(request, Token);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync(Token);
        Assert.DoesNotContain(key, body, StringComparison.Ordinal);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal(401, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("The API key is not registered.", problem.RootElement.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_request_the_app_ranks_high_is_served_before_a_low_one_that_queued_first()
    {
        var slot = $"slot-{Guid.NewGuid():N}";
        await fixture.Cluster.PutResourceAsync(slot, new { name = "in-flight", algorithm = "concurrency", limit = 1, leaseTtl = "00:10:00" });
        var served = new ConcurrentQueue<string>();
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holderIn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        await using var app = await StartAppAsync(
            options => options.AddQuotaPolicy("slot", p => p
                .Resource(slot)
                .Priority(c => c.Request.Query["plan"] == "gold" ? Priority.High : Priority.Low)
                .Configure(o => o.MaxWait = TimeSpan.FromSeconds(20))),
            app => app.MapGet("/work/{name}", async (string name) =>
            {
                served.Enqueue(name);
                if (name == "holder")
                {
                    holderIn.SetResult();
                    await holding.Task;
                }

                return name;
            }).RequireRateLimiting("slot"));
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(60) };

        var holder = http.GetAsync("/work/holder?plan=gold", Token);
        await holderIn.Task.WaitAsync(TimeSpan.FromSeconds(15), Token);
        var low = http.GetAsync("/work/low?plan=free", Token);
        await fixture.Cluster.UsageWhenAsync(SubjectKind.Resource, slot, u => u.Waiting == 1);
        var high = http.GetAsync("/work/high?plan=gold", Token);
        await fixture.Cluster.UsageWhenAsync(SubjectKind.Resource, slot, u => u.Waiting == 2);

        holding.SetResult();
        using var answers = new Disposables(await Task.WhenAll(holder, low, high));

        Assert.All(answers.Items, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(["holder", "high", "low"], served.ToArray());
    }

    private static HttpRequestMessage Orders(string shop, string user)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/shops/{shop}/orders");
        request.Headers.Add("X-User", user);
        return request;
    }

    private Task<WebApplication> StartAppAsync() => StartAppAsync(
        options =>
        {
            options.AddQuotaGlobalLimiter(p => p.UserFromHeader("X-User"));
            options.AddQuotaPolicy("orders", p => p.UserFromHeader("X-User").Resource("{shopId}"));
            options.AddQuotaPolicy("keyed", p => p.ApiKeyFromHeader("X-Api-Key"));
        },
        app =>
        {
            app.MapGet("/shops/{shopId}/orders", (string shopId) => $"orders of {shopId}").RequireRateLimiting("orders");
            app.MapGet("/keyed", () => "in").RequireRateLimiting("keyed");
        });

    /// <summary>An app on a free loopback port over the fixture's cluster, with these limiters and endpoints, started.</summary>
    private async Task<WebApplication> StartAppAsync(Action<RateLimiterOptions> limiters, Action<WebApplication> endpoints)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(fixture.Cluster.Client);
        builder.AddQuotaRateLimiting(o => o.DecisionTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddRateLimiter(limiters);
        var app = builder.Build();
        app.UseRateLimiter();
        endpoints(app);
        await app.StartAsync(Token);
        return app;
    }

    private sealed class Disposables(HttpResponseMessage[] items) : IDisposable
    {
        public HttpResponseMessage[] Items => items;

        public void Dispose()
        {
            foreach (var item in items)
            {
                item.Dispose();
            }
        }
    }
}
