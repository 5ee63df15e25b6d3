using System.Text.Json;
using Npgsql;
using Quota.Abstractions;

namespace Quota.Grains.Queues;

/// <summary>Queue items in PostgreSQL (<c>quota_queue_items</c>, created by the schema's migrations): one row per item.</summary>
public sealed class PostgresQueueItemStore(NpgsqlDataSource dataSource) : IQueueItemStore
{
    private const string Columns = "queue, id, seq, payload, attributes, priority, enqueued_at, available_at, deadline, attempts, state, lease_id, leased_at, visible_until, token_upstream, token_id, last_error, last_status, died_at";

    private const string Values = "@queue, @id, @seq, @payload, @attributes, @priority, @enqueued_at, @available_at, @deadline, @attempts, @state, @lease_id, @leased_at, @visible_until, @token_upstream, @token_id, @last_error, @last_status, @died_at";

    private const string Insert = $"INSERT INTO quota_queue_items ({Columns}) VALUES ({Values}) ON CONFLICT (queue, id) DO NOTHING";

    private const string Save = $"""
        INSERT INTO quota_queue_items ({Columns}) VALUES ({Values})
        ON CONFLICT (queue, id) DO UPDATE SET
            available_at = EXCLUDED.available_at, attempts = EXCLUDED.attempts, state = EXCLUDED.state,
            lease_id = EXCLUDED.lease_id, leased_at = EXCLUDED.leased_at, visible_until = EXCLUDED.visible_until,
            token_upstream = EXCLUDED.token_upstream, token_id = EXCLUDED.token_id, last_error = EXCLUDED.last_error,
            last_status = EXCLUDED.last_status, died_at = EXCLUDED.died_at
        """;

    private const string Select = $"SELECT {Columns} FROM quota_queue_items WHERE queue = @queue ORDER BY seq";

    /// <inheritdoc />
    public bool Durable => true;

    /// <inheritdoc />
    public async Task<IReadOnlyList<StoredItem>> LoadAsync(string queue, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand(Select);
        command.Parameters.AddWithValue("queue", queue);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var items = new List<StoredItem>();
        while (await reader.ReadAsync(cancellationToken))
        {
            DateTimeOffset? At(int ordinal) => reader.IsDBNull(ordinal) ? null : new DateTimeOffset(reader.GetDateTime(ordinal), TimeSpan.Zero);
            string? Text(int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
            items.Add(new StoredItem
            {
                Id = reader.GetString(1),
                Sequence = reader.GetInt64(2),
                Payload = reader.GetString(3),
                Attributes = JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(4)) ?? [],
                Priority = (Priority)reader.GetInt16(5),
                EnqueuedAt = At(6)!.Value,
                AvailableAt = At(7)!.Value,
                Deadline = At(8),
                Attempts = reader.GetInt32(9),
                State = (StoredItemState)reader.GetInt16(10),
                LeaseId = Text(11),
                LeasedAt = At(12),
                VisibleUntil = At(13),
                Token = Text(14) is { } upstream && Text(15) is { } token ? new UpstreamToken { Upstream = upstream, Id = token } : null,
                LastError = Text(16),
                LastStatus = reader.IsDBNull(17) ? null : reader.GetInt32(17),
                DiedAt = At(18),
            });
        }

        return items;
    }

    /// <inheritdoc />
    public Task InsertAsync(string queue, IReadOnlyList<StoredItem> items, CancellationToken cancellationToken = default) =>
        WriteAsync(Insert, queue, items, cancellationToken);

    /// <inheritdoc />
    public Task SaveAsync(string queue, IReadOnlyList<StoredItem> items, CancellationToken cancellationToken = default) =>
        WriteAsync(Save, queue, items, cancellationToken);

    /// <inheritdoc />
    public async Task DeleteAsync(string queue, IReadOnlyList<string> ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0)
        {
            return;
        }

        await using var command = dataSource.CreateCommand("DELETE FROM quota_queue_items WHERE queue = @queue AND id = ANY(@ids)");
        command.Parameters.AddWithValue("queue", queue);
        command.Parameters.AddWithValue("ids", ids.ToArray());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async Task DeleteQueueAsync(string queue, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("DELETE FROM quota_queue_items WHERE queue = @queue");
        command.Parameters.AddWithValue("queue", queue);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    // One statement per item in one batch: one round trip, and (as a batch runs in one implicit transaction) all or none.
    private async Task WriteAsync(string sql, string queue, IReadOnlyList<StoredItem> items, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0)
        {
            return;
        }

        await using var batch = dataSource.CreateBatch();
        foreach (var item in items)
        {
            var command = new NpgsqlBatchCommand(sql);
            var p = command.Parameters;
            p.AddWithValue("queue", queue);
            p.AddWithValue("id", item.Id);
            p.AddWithValue("seq", item.Sequence);
            p.AddWithValue("payload", item.Payload);
            p.AddWithValue("attributes", JsonSerializer.Serialize(item.Attributes));
            p.AddWithValue("priority", (short)item.Priority);
            p.AddWithValue("enqueued_at", item.EnqueuedAt.UtcDateTime);
            p.AddWithValue("available_at", item.AvailableAt.UtcDateTime);
            p.AddWithValue("deadline", (object?)item.Deadline?.UtcDateTime ?? DBNull.Value);
            p.AddWithValue("attempts", item.Attempts);
            p.AddWithValue("state", (short)item.State);
            p.AddWithValue("lease_id", (object?)item.LeaseId ?? DBNull.Value);
            p.AddWithValue("leased_at", (object?)item.LeasedAt?.UtcDateTime ?? DBNull.Value);
            p.AddWithValue("visible_until", (object?)item.VisibleUntil?.UtcDateTime ?? DBNull.Value);
            p.AddWithValue("token_upstream", (object?)item.Token?.Upstream ?? DBNull.Value);
            p.AddWithValue("token_id", (object?)item.Token?.Id ?? DBNull.Value);
            p.AddWithValue("last_error", (object?)item.LastError ?? DBNull.Value);
            p.AddWithValue("last_status", (object?)item.LastStatus ?? DBNull.Value);
            p.AddWithValue("died_at", (object?)item.DiedAt?.UtcDateTime ?? DBNull.Value);
            batch.BatchCommands.Add(command);
        }

        await batch.ExecuteNonQueryAsync(cancellationToken);
    }
}
