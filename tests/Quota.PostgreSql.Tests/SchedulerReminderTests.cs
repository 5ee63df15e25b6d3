using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>The scheduler's durable wake-up: in the PostgreSQL mode its reminder is a row of Quota's schema.</summary>
public sealed class SchedulerReminderTests(PostgresFixture postgres)
{
    [Fact]
    public async Task The_scheduler_registers_its_reminder_in_PostgreSQL()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var silo = await cluster.StartSiloAsync("--Quota:Scheduler:Interval=00:02:00");

        // The status registers the reminder if the silo's own start has not yet.
        var status = await silo.Http.GetFromJsonAsync<JsonElement>("/v1/admin/scheduler", TestContext.Current.CancellationToken);
        Assert.Equal(120, status.GetProperty("reminderPeriodSeconds").GetDouble());

        await using var connection = new NpgsqlConnection(cluster.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var query = new NpgsqlCommand("SELECT grain_id, period_ms FROM orleans_reminders WHERE reminder_name = 'scheduler'", connection);
        await using var reader = await query.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        Assert.True(await reader.ReadAsync(TestContext.Current.CancellationToken));
        Assert.StartsWith("scheduler/", reader.GetString(0), StringComparison.Ordinal);
        Assert.Equal(120_000, reader.GetInt64(1));
        Assert.False(await reader.ReadAsync(TestContext.Current.CancellationToken));
    }
}
