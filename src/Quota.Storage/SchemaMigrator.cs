using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Quota.Storage;

/// <summary>One versioned schema change, embedded in this assembly as <c>Migrations/NNNN_name.sql</c>.</summary>
/// <param name="Version">The number before the underscore; migrations apply in this order.</param>
/// <param name="Name">The rest of the file name, e.g. <c>orleans</c>.</param>
/// <param name="Sql">The file's text.</param>
/// <param name="Checksum">SHA-256 of the text (line endings normalised), recorded when applied.</param>
public sealed record Migration(int Version, string Name, string Sql, string Checksum);

/// <summary>What a migration run found and did.</summary>
/// <param name="Applied">Migrations applied by this run, in order.</param>
/// <param name="AlreadyApplied">Migrations the database already had.</param>
/// <param name="Unknown">Versions the database has that this build does not know (a newer build migrated it).</param>
public sealed record MigrationReport(IReadOnlyList<Migration> Applied, IReadOnlyList<Migration> AlreadyApplied, IReadOnlyList<int> Unknown);

/// <summary>A recorded migration whose text differs from this build's: someone edited an applied migration.</summary>
public sealed class SchemaMismatchException(string message) : Exception(message);

/// <summary>
/// Applies Quota's schema to a PostgreSQL database: every pending migration, in version order, in one transaction
/// under an advisory lock, so silos starting together apply it once and a failure leaves the schema as it was.
/// Applied versions are recorded in <c>quota_schema_migrations</c> with a checksum; running again changes nothing.
/// The migration files themselves are idempotent too (<c>IF NOT EXISTS</c>, upserts), so a database whose tables
/// were created by hand takes them without error.
/// </summary>
public static class SchemaMigrator
{
    // An arbitrary constant naming Quota's schema lock among the database's advisory locks ("QUOTA" in ASCII).
    private const long LockKey = 0x51554F5441;

    private const string HistoryTable = """
        CREATE TABLE IF NOT EXISTS quota_schema_migrations
        (
            version    integer     NOT NULL PRIMARY KEY,
            name       text        NOT NULL,
            checksum   text        NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """;

    /// <summary>Every migration this build carries, in version order.</summary>
    public static IReadOnlyList<Migration> Migrations { get; } = Load();

    /// <summary>Applies the pending migrations to the database at <paramref name="connectionString"/>.</summary>
    /// <exception cref="SchemaMismatchException">An applied migration's text differs from this build's.</exception>
    /// <exception cref="NpgsqlException">The database could not be reached or rejected a statement; nothing was applied.</exception>
    public static async Task<MigrationReport> MigrateAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({LockKey})", cancellationToken);
        await ExecuteAsync(connection, transaction, HistoryTable, cancellationToken);

        var recorded = await RecordedAsync(connection, transaction, cancellationToken);
        var applied = new List<Migration>();
        var already = new List<Migration>();
        foreach (var migration in Migrations)
        {
            if (recorded.TryGetValue(migration.Version, out var checksum))
            {
                if (checksum != migration.Checksum)
                {
                    throw new SchemaMismatchException(
                        $"Migration {migration.Version:D4}_{migration.Name} was applied with checksum {checksum}, but this build's text has {migration.Checksum}. "
                        + "Applied migrations must not change: add a new migration instead.");
                }

                already.Add(migration);
                continue;
            }

            await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken);
            await using var record = new NpgsqlCommand("INSERT INTO quota_schema_migrations (version, name, checksum) VALUES (@version, @name, @checksum)", connection, transaction);
            record.Parameters.AddWithValue("version", migration.Version);
            record.Parameters.AddWithValue("name", migration.Name);
            record.Parameters.AddWithValue("checksum", migration.Checksum);
            await record.ExecuteNonQueryAsync(cancellationToken);
            applied.Add(migration);
        }

        await transaction.CommitAsync(cancellationToken);
        var known = Migrations.Select(m => m.Version).ToHashSet();
        return new MigrationReport(applied, already, [.. recorded.Keys.Where(v => !known.Contains(v)).Order()]);
    }

    /// <summary>The versions the database has applied (empty when it has no Quota schema yet).</summary>
    /// <exception cref="NpgsqlException">The database could not be reached.</exception>
    public static async Task<IReadOnlyDictionary<int, string>> AppliedAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT to_regclass('quota_schema_migrations') IS NOT NULL", connection);
        return (bool)(await exists.ExecuteScalarAsync(cancellationToken))!
            ? await RecordedAsync(connection, null, cancellationToken)
            : new Dictionary<int, string>();
    }

    private static async Task<Dictionary<int, string>> RecordedAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        var recorded = new Dictionary<int, string>();
        await using var read = new NpgsqlCommand("SELECT version, checksum FROM quota_schema_migrations", connection, transaction);
        await using var reader = await read.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            recorded[reader.GetInt32(0)] = reader.GetString(1);
        }

        return recorded;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static List<Migration> Load()
    {
        const string prefix = "Quota.Storage.Migrations.";
        var assembly = typeof(SchemaMigrator).Assembly;
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal)))
        {
            var file = resource[prefix.Length..^".sql".Length];
            var underscore = file.IndexOf('_', StringComparison.Ordinal);
            if (underscore <= 0 || !int.TryParse(file[..underscore], NumberStyles.None, CultureInfo.InvariantCulture, out var version))
            {
                throw new InvalidOperationException($"Migration file '{file}.sql' must be named NNNN_name.sql.");
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var sql = reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
            var checksum = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql)));
            migrations.Add(new Migration(version, file[(underscore + 1)..], sql, checksum));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < migrations.Count; i++)
        {
            if (migrations[i].Version == migrations[i - 1].Version)
            {
                throw new InvalidOperationException($"Two migrations share version {migrations[i].Version}.");
            }
        }

        return migrations;
    }
}
