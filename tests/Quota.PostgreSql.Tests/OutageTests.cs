using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Quota.PostgreSql.Tests.Infrastructure;

namespace Quota.PostgreSql.Tests;

/// <summary>
/// The database stops mid-run: decisions go on from memory, readiness says degraded, and once the database is
/// back every counted decision and checkpoint reaches it.
/// </summary>
/// <remarks>Its own server: stopping the shared one would disturb the other tests.</remarks>
public sealed class OutageTests
{
    [Fact]
    public async Task Decisions_continue_through_a_database_outage_and_nothing_counted_is_lost()
    {
        await using var server = await Quota.Testing.PostgresServer.StartAsync();
        await using var cluster = new DurableCluster(await server.CreateDatabaseAsync());
        var silo = await cluster.StartSiloAsync("--Quota:Storage:CheckpointInterval=00:00:00.200");
        await DurableCluster.SetUserPoliciesAsync(silo.Http, "erin", new { name = "daily", algorithm = "calendar", limit = 100, period = "day", timeZone = "UTC" });
        var from = DateTimeOffset.UtcNow.AddMinutes(-1).ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        for (var i = 0; i < 10; i++)
        {
            Assert.True(await DurableCluster.AcquireAsync(silo.Http, new { user = "erin" }));
        }

        await server.StopAsync();
        for (var i = 0; i < 20; i++)
        {
            Assert.True(await DurableCluster.AcquireAsync(silo.Http, new { user = "erin" }));
        }

        var degraded = await WaitForReadinessAsync(silo.Http, text => text.StartsWith("degraded:", StringComparison.Ordinal));
        Assert.Contains("decisions continue from memory", degraded, StringComparison.Ordinal);

        // A subject not active yet cannot read its configuration: a clear 503, not a 500, and nothing half-done.
        using (var fresh = await silo.Http.PostAsJsonAsync(new Uri("/v1/acquire", UriKind.Relative), new { user = "frank" }))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, fresh.StatusCode);
            Assert.Equal("1", fresh.Headers.GetValues("Retry-After").Single());
            Assert.Contains("the database is unreachable", await fresh.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await server.StartAgainAsync();
        var ready = await WaitForReadinessAsync(silo.Http, text => text == "ready\n");
        Assert.Equal("ready\n", ready);

        // Every decision counted in the outage reached the usage history, and the checkpoint covers all 30.
        var history = await HistoryAsync(silo.Http, "erin", from);
        Assert.Equal(30, history.GetProperty("allowed").GetInt64());
        Assert.True(await CheckpointAsync(cluster.ConnectionString) >= 30);
        Assert.Equal(70, await DurableCluster.RemainingAsync(silo.Http, "erin", "daily"));
        Assert.True(await DurableCluster.AcquireAsync(silo.Http, new { user = "frank" }));
    }

    /// <summary>Polls readiness (the silo's own report of an observable state) until it says what is expected, for up to 60 s.</summary>
    private static async Task<string> WaitForReadinessAsync(HttpClient http, Func<string, bool> expected)
    {
        var last = string.Empty;
        for (var attempt = 0; attempt < 300; attempt++)
        {
            last = await http.GetStringAsync(new Uri("/readyz", UriKind.Relative));
            if (expected(last))
            {
                return last;
            }

            await Task.Delay(200);
        }

        return last;
    }

    private static async Task<JsonElement> HistoryAsync(HttpClient http, string user, string from)
    {
        var text = await http.GetStringAsync(new Uri($"/v1/usage/user/{user}?from={Uri.EscapeDataString(from)}", UriKind.Relative));
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task<long> CheckpointAsync(string connectionString)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT convert_from(payload, 'UTF8') FROM orleans_storage WHERE payload IS NOT NULL", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var best = 0L;
        while (await reader.ReadAsync())
        {
            using var doc = JsonDocument.Parse(reader.GetString(0));
            if (doc.RootElement.TryGetProperty("counters", out var counters) && counters.TryGetProperty("daily", out var daily))
            {
                best = Math.Max(best, daily.GetProperty("claimed").GetInt64());
            }
        }

        return best;
    }
}
