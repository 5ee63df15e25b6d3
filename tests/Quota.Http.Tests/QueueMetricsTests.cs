using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// The queue gauges an autoscaler reads from a real silo's <c>/metrics</c> (<c>quota_queue_desired_workers</c>, depth by
/// priority, in flight, dead), labelled by queue, at most <c>Quota:Telemetry:MaxQueueNames</c> (2 on this silo) queues.
/// The queues' resource uses the policy name <c>beta</c>, one of the two names the per-policy counts of
/// <see cref="TelemetryMetricsTests"/> keep whatever the order, and every queue is removed at the end so no gauge
/// refresh peeks at its limits during another test.
/// </summary>
[Collection(TelemetryHostCollection.Name)]
public sealed class QueueMetricsTests(TelemetrySilo host) : HostTest(host)
{
    private static readonly TimeSpan MetricsDeadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Queue_gauges_show_desired_workers_depth_in_flight_and_dead_for_at_most_the_bounded_number_of_queues()
    {
        // 20 a minute, 10 s an item: the limits keep ceil(20/60 × 10) = 4 workers busy (the 108-events case).
        var resource = Ids.New("tm-queue-");
        (await Api.PutResource(resource, Policies.FixedWindow("beta", 20, "00:01:00"))).Expect(HttpStatusCode.OK);
        var queues = new[] { Ids.New("tm-q1-"), Ids.New("tm-q2-"), Ids.New("tm-q3-") };
        foreach (var queue in queues)
        {
            (await Api.PutJson($"/v1/admin/queues/{queue}", new { dispatch = new { resources = new[] { resource } }, maxAttempts = 1, processingTime = "00:00:10" })).Expect(HttpStatusCode.OK);
        }

        try
        {
            var (first, second, third) = (queues[0], queues[1], queues[2]);
            (await Api.PostJson($"/v1/queues/{first}/items", Enumerable.Range(0, 108).Select(i => new { id = $"e{i}" }).ToArray())).Expect(HttpStatusCode.OK);
            var leased = (await Api.PostJson($"/v1/queues/{first}/lease", new { worker = "w1", max = 3 })).Expect(HttpStatusCode.OK).Json["items"]!.AsArray();
            Assert.Equal(3, leased.Count);
            (await Api.PostJson($"/v1/queues/{first}/nack", new { leaseId = leased[0]!["leaseId"]!.GetValue<string>(), error = "boom" })).Expect(HttpStatusCode.OK);

            // Asking for statistics reports them at once (the gauges are otherwise refreshed every 5 s).
            foreach (var queue in queues)
            {
                (await Api.Get($"/v1/queues/{queue}")).Expect(HttpStatusCode.OK);
            }

            var text = await ScrapeUntil(metrics => Value(metrics, "quota_queue_desired_workers", first) == 4);
            Assert.Equal(4, Value(text, "quota_queue_desired_workers", first));
            Assert.Equal(105, Value(text, "quota_queue_depth", first, "normal"));
            Assert.Equal(0, Value(text, "quota_queue_depth", first, "critical"));
            Assert.Equal(2, Value(text, "quota_queue_in_flight", first));
            Assert.Equal(1, Value(text, "quota_queue_dead", first));
            Assert.Equal(0, Value(text, "quota_queue_retrying", first));
            Assert.Equal(0, Value(text, "quota_queue_desired_workers", second));

            // The bound: two queues are exported; the third is not while they are.
            Assert.Equal([first, second], QueuesIn(text));

            // A removed queue's gauges go with it, and the third takes its place at its next refresh.
            (await Api.Delete($"/v1/admin/queues/{first}")).Expect(HttpStatusCode.NoContent);
            text = await ScrapeUntil(metrics => QueuesIn(metrics).SequenceEqual(new[] { second, third }.Order(StringComparer.Ordinal)));
            Assert.DoesNotContain(first, text, StringComparison.Ordinal);
            Assert.Equal(0, Value(text, "quota_queue_in_flight", third));
        }
        finally
        {
            foreach (var queue in queues)
            {
                await Api.Delete($"/v1/admin/queues/{queue}");
            }
        }
    }

    /// <summary>The queues with a <c>quota_queue_desired_workers</c> series, in ordinal order.</summary>
    private static string[] QueuesIn(string text) =>
        [.. Regex.Matches(text, "^quota_queue_desired_workers\\{[^}]*quota_queue=\"([^\"]*)\"", RegexOptions.Multiline).Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal)];

    /// <summary>A queue gauge's value (labels in any order); NaN when the series is absent.</summary>
    private static double Value(string text, string metric, string queue, string? priority = null)
    {
        foreach (var line in text.Split('\n'))
        {
            var labels = line.StartsWith(metric + "{", StringComparison.Ordinal) ? line[(metric.Length + 1)..line.IndexOf('}', StringComparison.Ordinal)] : null;
            if (labels is not null
                && labels.Split(',').Contains($"quota_queue=\"{queue}\"")
                && labels.Contains("otel_scope_name=\"Quota\"", StringComparison.Ordinal)
                && (priority is null || labels.Split(',').Contains($"priority=\"{priority}\"")))
            {
                return double.Parse(line[(line.IndexOf('}', StringComparison.Ordinal) + 2)..].Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return double.NaN;
    }

    /// <summary>Scrapes until <paramref name="done"/>: a refresh happens on the queue's own timer, a real signal to wait on.</summary>
    private async Task<string> ScrapeUntil(Func<string, bool> done)
    {
        var deadline = DateTime.UtcNow + MetricsDeadline;
        while (true)
        {
            var text = (await Api.Get("/metrics")).Expect(HttpStatusCode.OK).Body;
            if (done(text))
            {
                return text;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"/metrics did not show the expected queue gauges within {MetricsDeadline.TotalSeconds} s:{Environment.NewLine}{text}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);
        }
    }
}
