using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Quota.Abstractions;
using Quota.Client;
using Quota.Integrations.Tests.Infrastructure;

namespace Quota.Integrations.Tests;

/// <summary>
/// <c>AddQuotaWorker</c> against a real silo: items are leased through the client, handlers run, what returns is
/// acked, what throws is nacked (an <see cref="HttpRequestException"/>'s 5xx reported as the upstream's status) and
/// dead-lettered after its last attempt.
/// </summary>
public sealed class QueueWorkerTests : IAsyncLifetime
{
    private QuotaCluster _cluster = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _cluster = await QuotaCluster.StartAsync();

    public ValueTask DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task A_worker_acks_what_its_handler_completes_and_dead_letters_what_keeps_failing()
    {
        var resource = $"worker-{Guid.NewGuid():N}";
        var queue = $"worker-q-{Guid.NewGuid():N}";
        await _cluster.PutResourceAsync(resource, new { name = "per-hour", algorithm = "fixed-window", limit = 100, window = "01:00:00" });
        using (var put = await _cluster.Silo.Http.PutAsJsonAsync(new Uri($"/v1/admin/queues/{queue}", UriKind.Relative), new
        {
            dispatch = new { resources = new[] { resource } },
            maxAttempts = 2,
            backoff = new { @base = "00:00:00.050", max = "00:00:00.100" },
        }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        var enqueued = await _cluster.Client.Queue(queue).EnqueueAsync(
            [.. Enumerable.Range(0, 5).Select(i => new QueueItemInput { Id = $"ok-{i}", Payload = $"{{\"n\":{i}}}" }), new QueueItemInput { Id = "broken", Payload = "{}" }],
            Ct);
        Assert.Equal((QueueOutcome.Done, 6), (enqueued.Outcome, enqueued.Created));

        var seen = new Seen(expectedOk: 5, expectedFailures: 2);
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton(seen);
        builder.Services.AddQuotaClient(options =>
        {
            options.Gateways.Add(_cluster.Gateway);
            options.ClusterId = _cluster.ClusterId;
        });
        builder.Services.AddQuotaWorker<RecordingHandler>(queue, o => o.LeaseWait = TimeSpan.FromSeconds(1));
        using var worker = builder.Build();
        await worker.StartAsync(Ct);
        try
        {
            await seen.Done.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        }
        finally
        {
            await worker.StopAsync(CancellationToken.None);
        }

        Assert.Equal(["ok-0", "ok-1", "ok-2", "ok-3", "ok-4"], seen.Completed.Order());
        Assert.Equal(2, seen.Failures);

        // Acks and the last nack are sent after the handler returns: read the queue until they have landed (bounded).
        QueueStats? stats = null;
        for (var i = 0; i < 100 && stats is not { Acked: 5, Dead: 1 }; i++)
        {
            stats = await _cluster.Client.Queue(queue).GetStatsAsync(Ct);
            if (stats is not { Acked: 5, Dead: 1 })
            {
                await Task.Delay(50, Ct);
            }
        }

        Assert.Equal((5L, 1, 0), (stats!.Acked, stats.Dead, stats.InFlight));
        var dead = (await _cluster.Silo.Http.GetFromJsonAsync<JsonObject>(new Uri($"/v1/queues/{queue}/dead", UriKind.Relative), Ct))!["items"]!.AsArray();
        Assert.Equal(("broken", 2, 503), (dead[0]!["id"]!.GetValue<string>(), dead[0]!["attempts"]!.GetValue<int>(), dead[0]!["upstreamStatus"]!.GetValue<int>()));
    }

    /// <summary>What the handlers saw; completes <see cref="Done"/> when every expected call has been made.</summary>
    public sealed class Seen(int expectedOk, int expectedFailures)
    {
        private int _failures;

        public ConcurrentBag<string> Completed { get; } = [];

        public int Failures => _failures;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Ok(string id)
        {
            Completed.Add(id);
            Check();
        }

        public void Failed()
        {
            Interlocked.Increment(ref _failures);
            Check();
        }

        private void Check()
        {
            if (Completed.Count >= expectedOk && Volatile.Read(ref _failures) >= expectedFailures)
            {
                Done.TrySetResult();
            }
        }
    }

    /// <summary>Completes every item but <c>broken</c>, which fails as an upstream's 503 would.</summary>
    public sealed class RecordingHandler(Seen seen) : IQueueHandler
    {
        public Task HandleAsync(LeasedItem item, CancellationToken cancellationToken)
        {
            if (item.Id == "broken")
            {
                seen.Failed();
                throw new HttpRequestException("upstream unavailable", null, HttpStatusCode.ServiceUnavailable);
            }

            seen.Ok(item.Id);
            return Task.CompletedTask;
        }
    }
}
