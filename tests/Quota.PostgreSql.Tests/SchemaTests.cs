using Npgsql;
using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Storage;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>The schema applies to an empty database, applies again as a no-op, and refuses edited history.</summary>
public sealed class SchemaTests(PostgresFixture postgres)
{
    private static readonly string[] OrleansQueryKeys =
    [
        "UpdateIAmAlivetimeKey", "InsertMembershipVersionKey", "InsertMembershipKey", "UpdateMembershipKey",
        "MembershipReadRowKey", "MembershipReadAllKey", "DeleteMembershipTableEntriesKey", "GatewaysQueryKey",
        "WriteToStorageKey", "ReadFromStorageKey", "ClearStorageKey",
        "UpsertReminderRowKey", "ReadReminderRowsKey", "ReadReminderRowKey", "ReadRangeRows1Key", "ReadRangeRows2Key",
        "DeleteReminderRowKey", "DeleteReminderRowsKey",
    ];

    [Fact]
    public async Task Migrating_twice_applies_every_migration_once_and_then_nothing()
    {
        var connection = await postgres.Server.CreateDatabaseAsync();

        var first = await SchemaMigrator.MigrateAsync(connection);
        var second = await SchemaMigrator.MigrateAsync(connection);

        Assert.Equal(SchemaMigrator.Migrations.Select(m => m.Version), first.Applied.Select(m => m.Version));
        Assert.Empty(first.AlreadyApplied);
        Assert.Empty(second.Applied);
        Assert.Equal(SchemaMigrator.Migrations.Select(m => m.Version), second.AlreadyApplied.Select(m => m.Version));
        var applied = await SchemaMigrator.AppliedAsync(connection);
        Assert.Equal(SchemaMigrator.Migrations.ToDictionary(m => m.Version, m => m.Checksum), applied);
    }

    [Fact]
    public async Task Every_query_the_Orleans_providers_look_up_is_installed()
    {
        var connection = await postgres.Server.CreateDatabaseAsync();
        await SchemaMigrator.MigrateAsync(connection);

        var keys = await QueryAsync(connection, "SELECT QueryKey FROM OrleansQuery");

        Assert.Empty(OrleansQueryKeys.Except(keys));
    }

    [Fact]
    public async Task The_migration_files_themselves_run_twice_without_error()
    {
        // A database set up by hand (or by an interrupted earlier version) takes the files again unharmed.
        var connection = await postgres.Server.CreateDatabaseAsync();
        foreach (var migration in SchemaMigrator.Migrations)
        {
            await ExecuteAsync(connection, migration.Sql);
            await ExecuteAsync(connection, migration.Sql);
        }

        var report = await SchemaMigrator.MigrateAsync(connection);

        Assert.Equal(SchemaMigrator.Migrations.Count, report.Applied.Count);
    }

    [Fact]
    public async Task Silos_migrating_at_the_same_moment_apply_each_migration_exactly_once()
    {
        var connection = await postgres.Server.CreateDatabaseAsync();

        var reports = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => SchemaMigrator.MigrateAsync(connection)));

        Assert.Equal(SchemaMigrator.Migrations.Count, reports.Sum(r => r.Applied.Count));
        Assert.Single(reports, r => r.Applied.Count > 0);
    }

    [Fact]
    public async Task An_applied_migration_whose_text_changed_is_refused_naming_it()
    {
        var connection = await postgres.Server.CreateDatabaseAsync();
        await SchemaMigrator.MigrateAsync(connection);
        var first = SchemaMigrator.Migrations[0];
        await ExecuteAsync(connection, $"UPDATE quota_schema_migrations SET checksum = 'edited' WHERE version = {first.Version}");

        var error = await Assert.ThrowsAsync<SchemaMismatchException>(() => SchemaMigrator.MigrateAsync(connection));

        Assert.Contains($"{first.Version:D4}_{first.Name}", error.Message, StringComparison.Ordinal);
        Assert.Contains("add a new migration", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Versions_unknown_to_this_build_are_reported_not_touched()
    {
        var connection = await postgres.Server.CreateDatabaseAsync();
        await SchemaMigrator.MigrateAsync(connection);
        await ExecuteAsync(connection, "INSERT INTO quota_schema_migrations (version, name, checksum) VALUES (9999, 'from_a_newer_build', 'x')");

        var report = await SchemaMigrator.MigrateAsync(connection);

        Assert.Equal([9999], report.Unknown);
        Assert.Empty(report.Applied);
    }

    internal static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    internal static async Task<List<string>> QueryAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync())
        {
            values.Add(Convert.ToString(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture)!);
        }

        return values;
    }
}
