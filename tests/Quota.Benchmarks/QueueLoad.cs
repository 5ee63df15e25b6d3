using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Quota.Abstractions;
using Quota.Client;

namespace Quota.Benchmarks;

/// <summary>
/// <c>queues --gateway HOST:PORT --http URL [--seconds 3] [--workers 4] [--accuracy-windows 5] [--parts all|throughput]</c>:
/// the figures of issue 22 against a running silo (run-queues.sh starts one embedded and one on PostgreSQL).
/// Enqueue throughput (batches of 10 through the client, 8 callers), lease-ack throughput (workers leasing 10 and
/// acking each), dispatch accuracy (workers competing for a queue under a fixed window: items handed out per full window
/// against the limit) and the planner's finish time against a measured drain.
/// </summary>
internal static class QueueLoad
{
    public static async Task<int> RunAsync(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            options[args[i].TrimStart('-')] = args[i + 1];
        }

        var seconds = int.Parse(options.GetValueOrDefault("seconds", "3"), CultureInfo.InvariantCulture);
        var workers = int.Parse(options.GetValueOrDefault("workers", "4"), CultureInfo.InvariantCulture);
        var windows = int.Parse(options.GetValueOrDefault("accuracy-windows", "5"), CultureInfo.InvariantCulture);
        var parts = options.GetValueOrDefault("parts", "all");
        using var host = await BenchClient.StartAsync(options["gateway"]);
        var quota = host.Services.GetRequiredService<IQuotaClient>();
        using var http = new HttpClient { BaseAddress = new Uri(options["http"]) };
        var run = Guid.NewGuid().ToString("N")[..8];

        var (enqueued, enqueueSeconds, leased, leaseSeconds) = await ThroughputAsync(quota, http, run, seconds, workers);
        Console.WriteLine($"enqueue: {enqueued / enqueueSeconds:F0} items/s ({enqueued} items in {enqueueSeconds:F1} s, batches of 10, 8 callers)");
        Console.WriteLine($"lease-ack: {leased / leaseSeconds:F0} items/s ({leased} items in {leaseSeconds:F1} s, {workers} workers leasing up to 10, one ack per item)");
        if (parts == "all")
        {
            await AccuracyAsync(quota, http, run, workers, windows);
            await PlanAgainstDrainAsync(quota, http, run);
        }

        return 0;
    }

    private static async Task<(long Enqueued, double EnqueueSeconds, long Leased, double LeaseSeconds)> ThroughputAsync(IQuotaClient quota, HttpClient http, string run, int seconds, int workers)
    {
        var resource = $"bench-q-free-{run}";
        await PutAsync(http, $"/v1/admin/resources/{resource}", new { policies = new[] { new { name = "per-minute", algorithm = "fixed-window", limit = 1_000_000_000, window = "00:01:00" } } });
        var name = $"bench-q-{run}";
        await PutAsync(http, $"/v1/admin/queues/{name}", new { dispatch = new { resources = new[] { resource } }, maxItems = 1_000_000, maxPayloadBytes = 1024, visibilityTimeout = "00:05:00" });
        var queue = quota.Queue(name);

        long enqueued = 0;
        var clock = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(caller => Task.Run(async () =>
        {
            for (var batch = 0; clock.Elapsed < until; batch++)
            {
                var items = Enumerable.Range(0, 10).Select(i => new QueueItemInput { Id = $"{caller}-{batch}-{i}", Payload = "{\"n\":1}" }).ToArray();
                var answer = await queue.EnqueueAsync(items);
                if (answer.Outcome != QueueOutcome.Done)
                {
                    throw new InvalidOperationException($"enqueue answered {answer.Outcome}");
                }

                Interlocked.Add(ref enqueued, answer.Created);
            }
        })));
        var enqueueSeconds = clock.Elapsed.TotalSeconds;

        long leased = 0;
        clock.Restart();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            while (clock.Elapsed < until)
            {
                var lease = await queue.LeaseAsync($"w{w}", 10);
                if (lease.Items.Length == 0)
                {
                    break;
                }

                foreach (var item in lease.Items)
                {
                    if (await queue.AckAsync(item.LeaseId) != QueueOutcome.Done)
                    {
                        throw new InvalidOperationException("ack answered not done");
                    }
                }

                Interlocked.Add(ref leased, lease.Items.Length);
            }
        })));
        var leaseSeconds = clock.Elapsed.TotalSeconds;
        await http.DeleteAsync(new Uri($"/v1/admin/queues/{name}", UriKind.Relative));
        return (enqueued, enqueueSeconds, leased, leaseSeconds);
    }

    /// <summary>
    /// Workers compete for a queue whose dispatch allows 20 per 5-second fixed window: items handed out in each full
    /// window (by the time each lease answered; a window's hand-outs come right after its start, when the waiting
    /// leases wake) against the limit.
    /// </summary>
    private static async Task AccuracyAsync(IQuotaClient quota, HttpClient http, string run, int workers, int windows)
    {
        const int Limit = 20;
        var window = TimeSpan.FromSeconds(5);
        var resource = $"bench-q-paced-{run}";
        await PutAsync(http, $"/v1/admin/resources/{resource}", new { policies = new[] { new { name = "per-5s", algorithm = "fixed-window", limit = Limit, window = "00:00:05" } } });
        var name = $"bench-q-paced-{run}";
        await PutAsync(http, $"/v1/admin/queues/{name}", new { dispatch = new { resources = new[] { resource } }, maxItems = 100_000, maxPayloadBytes = 1024 });
        var queue = quota.Queue(name);
        var total = Limit * (windows + 3);
        for (var i = 0; i < total; i += 1000)
        {
            await queue.EnqueueAsync([.. Enumerable.Range(i, Math.Min(1000, total - i)).Select(n => new QueueItemInput { Id = $"p{n}", Payload = "{}" })]);
        }

        var handOuts = new System.Collections.Concurrent.ConcurrentBag<DateTimeOffset>();
        var stop = DateTimeOffset.UtcNow + (window * (windows + 2));
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            while (DateTimeOffset.UtcNow < stop)
            {
                var lease = await queue.LeaseAsync($"w{w}", 10, TimeSpan.FromSeconds(5));
                var at = DateTimeOffset.UtcNow;
                foreach (var item in lease.Items)
                {
                    handOuts.Add(at);
                    await queue.AckAsync(item.LeaseId);
                }
            }
        })));

        // Buckets by the epoch-aligned window; the first and last are partial (the run starts and ends inside them).
        var perWindow = handOuts.GroupBy(t => t.ToUnixTimeMilliseconds() / (long)window.TotalMilliseconds).OrderBy(g => g.Key).Select(g => g.Count()).ToArray();
        var full = perWindow.Length > 2 ? perWindow[1..^1] : [];
        Console.WriteLine($"dispatch accuracy: {workers} workers, limit {Limit} per 5 s fixed window; per window {string.Join(' ', perWindow)} (first and last partial); full windows dispatched/limit: {string.Join(' ', full.Select(c => ((double)c / Limit).ToString("F3", CultureInfo.InvariantCulture)))}; total over {full.Length} full windows {full.Sum()}/{Limit * full.Length} = {(full.Length == 0 ? 0 : (double)full.Sum() / (Limit * full.Length)):F3}");
        await http.DeleteAsync(new Uri($"/v1/admin/queues/{name}", UriKind.Relative));
    }

    /// <summary>
    /// 24 items of 1 s each under a fixed window of 6 per 5 s (1.2 a second at the steady rate): the planner's finish
    /// time (POST /v1/plan) against a real drain with the workers it recommends. A window's burst lets the drain finish
    /// a little before the plan, never after it for that reason. (A token bucket would mislead the planner: its policy
    /// state reports the burst as its limit, so a bucket of 6 per 5 s with a burst of 1 reads as 1 per 5 s.)
    /// </summary>
    private static async Task PlanAgainstDrainAsync(IQuotaClient quota, HttpClient http, string run)
    {
        const int Items = 24;
        var processing = TimeSpan.FromSeconds(1);
        var resource = $"bench-q-plan-{run}";
        await PutAsync(http, $"/v1/admin/resources/{resource}", new { policies = new[] { new { name = "per-5s", algorithm = "fixed-window", limit = 6, window = "00:00:05" } } });
        using var planned = await http.PostAsJsonAsync(new Uri("/v1/plan", UriKind.Relative), new { items = Items, processingTime = "00:00:01", dispatch = new { resources = new[] { resource } }, maxWorkers = 10 });
        var plan = JsonNode.Parse(await planned.Content.ReadAsStringAsync())!;
        var workers = plan["workers"]!.GetValue<int>();
        var finishMs = plan["finishMs"]!.GetValue<long>();

        var name = $"bench-q-plan-{run}";
        await PutAsync(http, $"/v1/admin/queues/{name}", new { dispatch = new { resources = new[] { resource } }, processingTime = "00:00:01" });
        var queue = quota.Queue(name);
        await queue.EnqueueAsync([.. Enumerable.Range(0, Items).Select(n => new QueueItemInput { Id = $"d{n}", Payload = "{}" })]);
        long done = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            while (Interlocked.Read(ref done) < Items)
            {
                var lease = await queue.LeaseAsync($"w{w}", 1, TimeSpan.FromSeconds(2));
                foreach (var item in lease.Items)
                {
                    await Task.Delay(processing);
                    await queue.AckAsync(item.LeaseId);
                    Interlocked.Increment(ref done);
                }
            }
        })));
        var measured = clock.Elapsed;
        Console.WriteLine($"plan vs drain: {Items} items, 1 s each, 1.2/s steady (fixed window 6 per 5 s): planned {finishMs / 1000.0:F1} s with {workers} workers ({plan["limitedBy"]}); measured {measured.TotalSeconds:F1} s ({(measured.TotalMilliseconds / finishMs):F3} of planned)");
        await http.DeleteAsync(new Uri($"/v1/admin/queues/{name}", UriKind.Relative));
    }

    private static async Task PutAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PutAsJsonAsync(new Uri(path, UriKind.Relative), body);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }
}
