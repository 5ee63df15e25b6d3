using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>
/// A queue's gauges after a restart, against real silo processes on PostgreSQL: every defined queue is listed in the
/// registry and each silo activates the listed queues when it starts and when a silo leaves, so an autoscaler reading
/// <c>quota_queue_desired_workers</c> sees the waiting work without anyone touching the queue.
/// </summary>
public sealed class QueueGaugeTests(PostgresFixture postgres)
{
    // A silo's start, the keeper's sweep and the queue's first refresh; and, when a silo is killed, the ~12 s before
    // the survivors declare it dead.
    private static readonly TimeSpan MetricsDeadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Defines <paramref name="queue"/> on a resource allowing 20 a minute, 10 s an item, and enqueues 108 items: 4 workers are worth running.</summary>
    private static async Task DefineAndFillAsync(HttpClient http, string queue)
    {
        using (var put = await http.PutAsJsonAsync("/v1/admin/resources/audit", new { policies = new[] { new { name = "per-minute", algorithm = "fixed-window", limit = 20, window = "00:01:00" } } }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using (var put = await http.PutAsJsonAsync($"/v1/admin/queues/{queue}", new { dispatch = new { resources = new[] { "audit" } }, processingTime = "00:00:10" }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using var enqueued = await http.PostAsJsonAsync($"/v1/queues/{queue}/items", Enumerable.Range(0, 108).Select(i => new { id = $"e{i}" }), Ct);
        Assert.Equal(108, JsonNode.Parse(await enqueued.Content.ReadAsStringAsync(Ct))!["created"]!.GetValue<int>());
    }

    [Fact]
    public async Task After_a_restart_a_queue_with_waiting_items_is_on_metrics_without_being_asked()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var first = await cluster.StartSiloAsync();
        await DefineAndFillAsync(first.Http, "audit");
        await first.StopGracefullyAsync(TimeSpan.FromSeconds(30));

        var second = await cluster.StartSiloAsync();

        // No queue call at all: only /metrics is read.
        var text = await ScrapeUntilAsync(second.Http, metrics => Value(metrics, "quota_queue_depth", "audit", "normal") == 108);
        Assert.Equal(4, Value(text, "quota_queue_desired_workers", "audit"));
        Assert.Equal(0, Value(text, "quota_queue_in_flight", "audit"));
        Assert.Equal(0, Value(text, "quota_queue_dead", "audit"));
    }

    [Fact]
    public async Task When_the_silo_a_queue_is_active_on_is_killed_another_silo_exports_its_gauges()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var a = await cluster.StartSiloAsync();
        var b = await cluster.StartSiloAsync();
        await DefineAndFillAsync(a.Http, "jobs");

        // The queue is active on exactly one of the two; kill that one.
        var (host, other) = (a, b);
        var deadline = DateTime.UtcNow + MetricsDeadline;
        while (true)
        {
            if (Value(await a.Http.GetStringAsync("/metrics", Ct), "quota_queue_depth", "jobs", "normal") == 108)
            {
                break;
            }

            if (Value(await b.Http.GetStringAsync("/metrics", Ct), "quota_queue_depth", "jobs", "normal") == 108)
            {
                (host, other) = (b, a);
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"neither silo exported the queue's gauges within {MetricsDeadline.TotalSeconds} s");
            await Task.Delay(TimeSpan.FromMilliseconds(200), Ct);
        }

        await host.KillAsync();
        var text = await ScrapeUntilAsync(other.Http, metrics => Value(metrics, "quota_queue_depth", "jobs", "normal") == 108);
        Assert.Equal(4, Value(text, "quota_queue_desired_workers", "jobs"));
    }

    /// <summary>Scrapes until <paramref name="done"/>, at most <see cref="MetricsDeadline"/>: the gauges appear when a sweep activates the queue, a real signal to wait on.</summary>
    private static async Task<string> ScrapeUntilAsync(HttpClient http, Func<string, bool> done)
    {
        var deadline = DateTime.UtcNow + MetricsDeadline;
        while (true)
        {
            var text = await http.GetStringAsync("/metrics", Ct);
            if (done(text))
            {
                return text;
            }

            Assert.True(DateTime.UtcNow < deadline, $"/metrics did not show the queue's gauges within {MetricsDeadline.TotalSeconds} s:{Environment.NewLine}{string.Join(Environment.NewLine, text.Split('\n').Where(l => l.StartsWith("quota_queue", StringComparison.Ordinal)))}");
            await Task.Delay(TimeSpan.FromMilliseconds(200), Ct);
        }
    }

    /// <summary>A queue gauge's value (labels in any order); NaN when the series is absent.</summary>
    private static double Value(string text, string metric, string queue, string? priority = null)
    {
        foreach (var line in text.Split('\n'))
        {
            var labels = line.StartsWith(metric + "{", StringComparison.Ordinal) ? line[(metric.Length + 1)..line.IndexOf('}', StringComparison.Ordinal)].Split(',') : null;
            if (labels is not null && labels.Contains($"quota_queue=\"{queue}\"") && (priority is null || labels.Contains($"priority=\"{priority}\"")))
            {
                return double.Parse(line[(line.IndexOf('}', StringComparison.Ordinal) + 2)..].Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return double.NaN;
    }
}
