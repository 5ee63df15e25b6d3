using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Quota.Abstractions;
using Quota.AspNetCore;
using Quota.Integrations.Tests.Infrastructure;

namespace Quota.Integrations.Tests;

/// <summary>
/// A policy whose requests each get the priority the app chooses from the request: while they wait in Quota's queue
/// for one concurrency slot, the high one is served before the low one that queued first.
/// </summary>
public sealed class PriorityPolicyTests(QuotaClusterFixture fixture) : IClassFixture<QuotaClusterFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_request_the_app_ranks_high_is_served_before_a_low_one_that_queued_first()
    {
        var slot = $"slot-{Guid.NewGuid():N}";
        await fixture.Cluster.PutResourceAsync(slot, new { name = "in-flight", algorithm = "concurrency", limit = 1, leaseTtl = "00:10:00" });
        var served = new ConcurrentQueue<string>();
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holderIn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(fixture.Cluster.Client);
        builder.AddQuotaRateLimiting(o => o.DecisionTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddRateLimiter(options => options.AddQuotaPolicy("slot", p => p
            .Resource(slot)
            .Priority(c => c.Request.Query["plan"] == "gold" ? Priority.High : Priority.Low)
            .Configure(o => o.MaxWait = TimeSpan.FromSeconds(20))));
        await using var app = builder.Build();
        app.UseRateLimiter();
        app.MapGet("/work/{name}", async (string name) =>
        {
            served.Enqueue(name);
            if (name == "holder")
            {
                holderIn.SetResult();
                await holding.Task;
            }

            return name;
        }).RequireRateLimiting("slot");
        await app.StartAsync(Token);
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
