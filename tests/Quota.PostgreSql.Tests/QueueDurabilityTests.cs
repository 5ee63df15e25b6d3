using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;
using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>
/// Queues in the PostgreSQL mode against real silo processes: items are rows, a silo killed (SIGKILL) loses no
/// acknowledged enqueue, and its unacknowledged leases are handed out again once their visibility timeout passes.
/// </summary>
public sealed class QueueDurabilityTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<JsonObject> PostAsync(HttpClient http, string path, object body, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await http.PostAsJsonAsync(path, body, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == expected, $"POST {path}: expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    private static string[] Ids(JsonObject lease) => [.. lease["items"]!.AsArray().Select(i => i!["id"]!.GetValue<string>()).Order()];

    [Fact]
    public async Task A_killed_silo_loses_no_acknowledged_enqueue_and_its_unacked_leases_are_delivered_again()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var first = await cluster.StartSiloAsync();
        using (var put = await first.Http.PutAsJsonAsync("/v1/admin/resources/jobs", new { policies = new[] { new { name = "per-hour", algorithm = "fixed-window", limit = 1000, window = "01:00:00" } } }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using (var put = await first.Http.PutAsJsonAsync("/v1/admin/queues/jobs", new { dispatch = new { resources = new[] { "jobs" } }, visibilityTimeout = "00:00:05" }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        var enqueued = await PostAsync(first.Http, "/v1/queues/jobs/items", Enumerable.Range(0, 10).Select(i => new { id = $"j{i}", payload = new { n = i } }));
        Assert.Equal(10, enqueued["created"]!.GetValue<int>());
        var leased = await PostAsync(first.Http, "/v1/queues/jobs/lease", new { worker = "doomed", max = 4 });
        Assert.Equal(["j0", "j1", "j2", "j3"], Ids(leased));
        foreach (var item in leased["items"]!.AsArray().Take(2))
        {
            await PostAsync(first.Http, "/v1/queues/jobs/ack", new { leaseId = item!["leaseId"]!.GetValue<string>() });
        }

        // One row per item: the acked are gone, the leased are marked so.
        await using (var data = NpgsqlDataSource.Create(cluster.ConnectionString))
        await using (var count = data.CreateCommand("SELECT count(*) FILTER (WHERE state = 0), count(*) FILTER (WHERE state = 1) FROM quota_queue_items WHERE queue = 'jobs'"))
        await using (var reader = await count.ExecuteReaderAsync(Ct))
        {
            Assert.True(await reader.ReadAsync(Ct));
            Assert.Equal((6L, 2L), (reader.GetInt64(0), reader.GetInt64(1)));
        }

        await first.KillAsync();
        cluster.Recreate();
        var second = await cluster.StartSiloAsync();

        var stats = (await second.Http.GetFromJsonAsync<JsonObject>("/v1/queues/jobs", Ct))!;
        Assert.Equal((6, 2), (stats["depth"]!["normal"]!.GetValue<int>(), stats["inFlight"]!.GetValue<int>()));

        // Whatever the restart took, each unacknowledged item comes back exactly once: the six never leased at once, the
        // dead worker's two once their visibility timeout has passed (as second attempts); a lease that waits is
        // answered when they do.
        var attempts = new Dictionary<string, int>();
        for (var round = 0; round < 4 && attempts.Count < 8; round++)
        {
            var lease = await PostAsync(second.Http, "/v1/queues/jobs/lease", new { worker = "w2", max = 10, waitMs = 15_000 });
            foreach (var item in lease["items"]!.AsArray())
            {
                Assert.True(attempts.TryAdd(item!["id"]!.GetValue<string>(), item["attempt"]!.GetValue<int>()), $"{item["id"]} was handed out twice");
                await PostAsync(second.Http, "/v1/queues/jobs/ack", new { leaseId = item["leaseId"]!.GetValue<string>() });
            }
        }

        Assert.Equal(["j2", "j3", "j4", "j5", "j6", "j7", "j8", "j9"], attempts.Keys.Order());
        Assert.Equal([2, 2, 1, 1, 1, 1, 1, 1], attempts.OrderBy(a => a.Key).Select(a => a.Value));
        var done = (await second.Http.GetFromJsonAsync<JsonObject>("/v1/queues/jobs", Ct))!;
        Assert.Equal(0, done["depth"]!.AsObject().Sum(d => d.Value!.GetValue<int>()) + done["inFlight"]!.GetValue<int>());
    }
}
