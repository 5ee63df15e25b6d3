using System.Globalization;
using Npgsql;
using Quota.Testing;

namespace Quota.Benchmarks.Compare;

/// <summary>
/// PostgreSQL with the usual way a quota is enforced in a database: one row per key holding what was used and the
/// limit, and a conditional UPDATE that takes a permit only while it fits. No window: a counter that nothing refills
/// (a daily quota between its resets). A throwaway server (tests/Shared/PostgresServer.cs: initdb into a temporary
/// directory, loopback, fsync and synchronous commit off, like the other systems' persistence); Npgsql with a pool
/// sized to the callers and automatic statement preparation.
/// </summary>
internal sealed class PostgresSystem : IComparedSystem
{
    /// <summary>Takes one key's permit if it fits: a row back is a grant.</summary>
    private const string TakeOne = "UPDATE counters SET used = used + @cost WHERE key = @key AND used + @cost <= lim RETURNING used";

    /// <summary>
    /// Takes a permit on every key or on none, in one statement. The CTE locks the rows in key order (so two requests
    /// sharing keys cannot deadlock) and, reading the latest committed versions once locked, decides whether all fit;
    /// the UPDATE then writes all of them or none. Under READ COMMITTED a bare <c>UPDATE … WHERE key = ANY(@keys) AND
    /// used + @cost &lt;= lim</c> would update the keys that fit and skip the others: not all or nothing.
    /// </summary>
    private const string TakeAll = """
        WITH locked AS (
            SELECT key, used + @cost <= lim AS fits FROM counters WHERE key = ANY(@keys) ORDER BY key FOR UPDATE)
        UPDATE counters c SET used = c.used + @cost
        WHERE c.key = ANY(@keys) AND (SELECT count(*) FILTER (WHERE fits) FROM locked) = cardinality(@keys)
        RETURNING c.used
        """;

    private const string HotKey = "hot";

    private readonly PostgresServer _server;
    private readonly string _connectionString;
    private readonly CompareSettings _settings;
    private readonly string _run;
    private readonly string[] _users;
    private readonly string[][] _threes;
    private NpgsqlDataSource? _pool;
    private int _poolSize;

    private PostgresSystem(PostgresServer server, string connectionString, CompareSettings settings, string run)
    {
        _server = server;
        _connectionString = connectionString;
        _settings = settings;
        _run = run;
        _users = [.. Enumerable.Range(0, settings.Keys).Select(i => Key("u", i))];
        _threes = [.. Enumerable.Range(0, settings.Keys).Select(i => new[] { Key("u", i), Key("a", i), Key("b", i) })];
    }

    public string Id => "postgres";

    public string Name => "PostgreSQL, conditional UPDATE";

    public string ShortName => "PostgreSQL";

    public string Description =>
        "Table counters(key text primary key, used bigint, lim bigint), every key pre-inserted. Keys and hot key: "
        + "UPDATE counters SET used = used + @cost WHERE key = @key AND used + @cost <= lim RETURNING used (a row back is a "
        + "grant). Three limits: one statement that locks the three rows in key order (SELECT … ORDER BY key FOR UPDATE in a "
        + "CTE), counts the rows that fit and updates all three only if all do. Accuracy: a row with lim = L (a counter; "
        + "nothing refills). Npgsql, pool sized to the callers, Max Auto Prepare, No Reset On Close; fsync and "
        + "synchronous_commit off.";

    /// <summary>The server's version, for the results file.</summary>
    public string ServerVersion { get; private set; } = "?";

    /// <summary>Starts a throwaway server and creates the table.</summary>
    /// <param name="settings">The limits.</param>
    /// <param name="run">Distinguishes this run's accuracy rows.</param>
    /// <param name="pidFile">When given, the server's process id and directory are written there, so the script can stop it should this process die first.</param>
    public static async Task<PostgresSystem> StartAsync(CompareSettings settings, string run, string? pidFile)
    {
        var server = await PostgresServer.StartAsync();
        try
        {
            if (pidFile is not null)
            {
                await File.WriteAllTextAsync(pidFile, $"{server.ProcessId}\n{server.WorkDirectory}\n");
            }

            var connectionString = await server.CreateDatabaseAsync("compare");
            return new PostgresSystem(server, connectionString, settings, run);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public async Task PrepareAsync()
    {
        await using var source = NpgsqlDataSource.Create(_connectionString);
        ServerVersion = (string)(await source.CreateCommand("SHOW server_version").ExecuteScalarAsync())!;
        await using (var create = source.CreateCommand("CREATE TABLE counters (key text PRIMARY KEY, used bigint NOT NULL, lim bigint NOT NULL)"))
        {
            await create.ExecuteNonQueryAsync();
        }

        await using var insert = source.CreateCommand("""
            INSERT INTO counters (key, used, lim)
            SELECT k, 0, @lim FROM unnest(@keys) AS k
            """);
        insert.Parameters.AddWithValue("lim", _settings.ThroughputLimit);
        insert.Parameters.AddWithValue("keys", _threes.SelectMany(k => k).Append(HotKey).ToArray());
        await insert.ExecuteNonQueryAsync();
        await using var analyze = source.CreateCommand("VACUUM ANALYZE counters");
        await analyze.ExecuteNonQueryAsync();
    }

    public async Task<Caller> OpenAsync(Workload workload, int inFlight, string scope)
    {
        var source = Pool(inFlight);
        switch (workload)
        {
            case Workload.DistinctKeys:
                return new Caller(i => TakeOneAsync(source, _users[i]));
            case Workload.HotKey:
                return new Caller(_ => TakeOneAsync(source, HotKey));
            case Workload.ThreeLimits:
                return new Caller(i => TakeAllAsync(source, _threes[i]));
            case Workload.Accuracy:
                var key = $"acc:{scope}:{_run}";
                await using (var insert = source.CreateCommand("INSERT INTO counters (key, used, lim) VALUES (@key, 0, @lim)"))
                {
                    insert.Parameters.AddWithValue("key", key);
                    insert.Parameters.AddWithValue("lim", _settings.AccuracyLimit);
                    await insert.ExecuteNonQueryAsync();
                }

                return new Caller(_ => TakeOneAsync(source, key));
            default:
                throw new ArgumentOutOfRangeException(nameof(workload), workload, "not a workload");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_pool is not null)
        {
            await _pool.DisposeAsync();
        }

        await _server.DisposeAsync();
    }

    /// <summary>
    /// A pool of exactly <paramref name="size"/> connections, kept while the number of callers stays the same (the
    /// rounds of a point, and the accuracy rounds' fresh keys, reuse its open connections) and replaced, closing the
    /// old one's, when it changes: the pools of every level together would pass the server's max_connections.
    /// </summary>
    private NpgsqlDataSource Pool(int size)
    {
        if (_pool is not null && _poolSize == size)
        {
            return _pool;
        }

        _pool?.Dispose();
        var builder = new NpgsqlConnectionStringBuilder(_connectionString)
        {
            MaxPoolSize = size,
            MinPoolSize = 0,
            MaxAutoPrepare = 8,
            NoResetOnClose = true,
        };
        _pool = NpgsqlDataSource.Create(builder.ConnectionString);
        _poolSize = size;
        return _pool;
    }

    private static async Task<bool> TakeOneAsync(NpgsqlDataSource source, string key)
    {
        await using var command = source.CreateCommand(TakeOne);
        command.Parameters.Add(new NpgsqlParameter<long>("cost", 1));
        command.Parameters.Add(new NpgsqlParameter<string>("key", key));
        return await command.ExecuteScalarAsync() is not null;
    }

    private static async Task<bool> TakeAllAsync(NpgsqlDataSource source, string[] keys)
    {
        await using var command = source.CreateCommand(TakeAll);
        command.Parameters.Add(new NpgsqlParameter<long>("cost", 1));
        command.Parameters.Add(new NpgsqlParameter<string[]>("keys", keys));
        return await command.ExecuteNonQueryAsync() switch
        {
            0 => false,
            var n when n == keys.Length => true,
            var n => throw new InvalidOperationException($"The all-or-nothing statement updated {n} of {keys.Length} rows ({string.Join(", ", keys)}): a bug in the statement."),
        };
    }

    private static string Key(string kind, int i) => string.Create(CultureInfo.InvariantCulture, $"{kind}:{i}");
}
