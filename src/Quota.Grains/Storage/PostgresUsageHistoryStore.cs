using Npgsql;
using NpgsqlTypes;

namespace Quota.Grains.Storage;

/// <summary>Usage history in PostgreSQL (<c>quota_usage_minute</c>, created by the schema's migrations).</summary>
public sealed class PostgresUsageHistoryStore(NpgsqlDataSource dataSource) : IUsageHistoryStore
{
    private const string Upsert = """
        INSERT INTO quota_usage_minute (subject, minute, allowed, denied, permits)
        SELECT * FROM unnest(@subjects, @minutes, @allowed, @denied, @permits)
        ON CONFLICT (subject, minute) DO UPDATE SET
            allowed = quota_usage_minute.allowed + EXCLUDED.allowed,
            denied = quota_usage_minute.denied + EXCLUDED.denied,
            permits = quota_usage_minute.permits + EXCLUDED.permits
        """;

    private const string Select = """
        SELECT minute, allowed, denied, permits FROM quota_usage_minute
        WHERE subject = @subject AND minute >= @from AND minute < @to
        ORDER BY minute
        """;

    /// <inheritdoc />
    /// <remarks>One statement: the whole batch is added or none of it.</remarks>
    public async Task WriteAsync(IReadOnlyList<UsageRow> rows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
        {
            return;
        }

        await using var command = dataSource.CreateCommand(Upsert);
        command.Parameters.Add(new NpgsqlParameter("subjects", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = rows.Select(r => r.Subject).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("minutes", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = rows.Select(r => r.Minute.UtcDateTime).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("allowed", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = rows.Select(r => r.Allowed).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("denied", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = rows.Select(r => r.Denied).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("permits", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = rows.Select(r => r.Permits).ToArray() });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<UsageRow>> ReadAsync(string subject, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(Select);
        command.Parameters.AddWithValue("subject", subject);
        command.Parameters.AddWithValue("from", from.UtcDateTime);
        command.Parameters.AddWithValue("to", to.UtcDateTime);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<UsageRow>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new UsageRow(subject, new DateTimeOffset(reader.GetDateTime(0), TimeSpan.Zero), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3)));
        }

        return rows;
    }
}
