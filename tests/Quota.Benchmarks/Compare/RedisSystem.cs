using System.Globalization;
using StackExchange.Redis;

namespace Quota.Benchmarks.Compare;

/// <summary>The two Lua scripts the comparison runs on Redis (Compare/sliding-log.lua, Compare/gcra.lua).</summary>
internal enum RedisAlgorithm
{
    /// <summary>A sorted set of grants per key: exact, memory grows with the grants in a window.</summary>
    SlidingLog,

    /// <summary>One theoretical arrival time per key: constant memory, refills continuously.</summary>
    Gcra,
}

/// <summary>
/// Redis 7 with a Lua limiter script, through StackExchange.Redis: one multiplexed connection shared by every caller
/// (the library's intended use), the script loaded once and run with EVALSHA, one call per decision whatever the
/// number of keys. Keys are named <c>{algorithm}:{run}:…</c> so reruns against the same server start empty.
/// </summary>
internal sealed class RedisSystem : IComparedSystem
{
    private readonly ConnectionMultiplexer _redis;
    private readonly IDatabase _database;
    private readonly RedisAlgorithm _algorithm;
    private readonly CompareSettings _settings;
    private readonly byte[] _script;
    private readonly string _prefix;
    private readonly RedisKey[][] _users;
    private readonly RedisKey[][] _threes;
    private readonly RedisKey[] _hot;
    private long _members;

    private RedisSystem(ConnectionMultiplexer redis, RedisAlgorithm algorithm, CompareSettings settings, byte[] script, string run)
    {
        _redis = redis;
        _database = redis.GetDatabase();
        _algorithm = algorithm;
        _settings = settings;
        _script = script;
        _prefix = $"{(algorithm == RedisAlgorithm.SlidingLog ? "log" : "gcra")}:{run}:";
        _users = [.. Enumerable.Range(0, settings.Keys).Select(i => new RedisKey[] { Key("u", i) })];
        _threes = [.. Enumerable.Range(0, settings.Keys).Select(i => new RedisKey[] { Key("u", i), Key("a", i), Key("b", i) })];
        _hot = [_prefix + "hot"];
    }

    public string Id => _algorithm == RedisAlgorithm.SlidingLog ? "redis-log" : "redis-gcra";

    public string Name => _algorithm == RedisAlgorithm.SlidingLog ? "Redis + Lua, sliding log" : "Redis + Lua, GCRA";

    public string ShortName => _algorithm == RedisAlgorithm.SlidingLog ? "Redis log" : "Redis GCRA";

    public string Description => _algorithm == RedisAlgorithm.SlidingLog
        ? "EVALSHA of Compare/sliding-log.lua: per key a sorted set of grants scored by server time (µs); trim entries older "
          + "than the window (ZREMRANGEBYSCORE), count (ZCARD), and only if every key has room add the request (ZADD) and "
          + "set the expiry (PEXPIRE), atomically in one call. Keys: one set per key; three limits: one call with three keys, "
          + "all or nothing; accuracy: a set with limit L and a one-hour window."
        : "EVALSHA of Compare/gcra.lua: per key a string holding the theoretical arrival time (TAT, µs); a request passes "
          + "when max(TAT, now) + T − now ≤ B·T (T = window / limit, B = burst = limit), and only if every key passes are "
          + "the TATs advanced (SET … PX), atomically in one call. Accuracy: T = 1 h / L, B = L, so it admits L at once and "
          + "then one more every T (1.8 s for L = 2,000): admitted is compared with what that contract allows.";

    /// <summary>Connects to <paramref name="endpoint"/> (<c>host:port</c>) and loads the algorithm's script.</summary>
    public static async Task<RedisSystem> ConnectAsync(string endpoint, RedisAlgorithm algorithm, CompareSettings settings, string run)
    {
        var redis = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { endpoint }, AbortOnConnectFail = true });
        var name = algorithm == RedisAlgorithm.SlidingLog ? "sliding-log.lua" : "gcra.lua";
        await using var stream = typeof(RedisSystem).Assembly.GetManifestResourceStream($"Quota.Benchmarks.Compare.{name}")
            ?? throw new InvalidOperationException($"The script {name} is not embedded in the benchmark assembly.");
        using var reader = new StreamReader(stream);
        var script = await redis.GetServer(redis.GetEndPoints()[0]).ScriptLoadAsync(await reader.ReadToEndAsync());
        return new RedisSystem(redis, algorithm, settings, script, run);
    }

    /// <summary>The server's version, for the results file.</summary>
    public string ServerVersion => _redis.GetServer(_redis.GetEndPoints()[0]).Version.ToString();

    public async Task PrepareAsync()
    {
        // Nothing to create (a key is made by its first grant); this proves the script admits.
        var values = Values(_hot.Length, _settings.ThroughputLimit, _settings.ThroughputWindow);
        if (!(await EvaluateAsync(_hot, values())).Admitted)
        {
            throw new InvalidOperationException($"{Name} denied a first request: the throughput limits must be far above what the run reaches.");
        }
    }

    public Task<Caller> OpenAsync(Workload workload, int inFlight, string scope)
    {
        var one = Values(1, _settings.ThroughputLimit, _settings.ThroughputWindow);
        var three = Values(3, _settings.ThroughputLimit, _settings.ThroughputWindow);
        Caller caller = workload switch
        {
            Workload.DistinctKeys => new(async i => (await EvaluateAsync(_users[i], one())).Admitted),
            Workload.HotKey => new(async _ => (await EvaluateAsync(_hot, one())).Admitted),
            Workload.ThreeLimits => new(async i => (await EvaluateAsync(_threes[i], three())).Admitted),
            Workload.Accuracy => Accuracy(scope),
            _ => throw new ArgumentOutOfRangeException(nameof(workload), workload, "not a workload"),
        };
        return Task.FromResult(caller);
    }

    public ValueTask DisposeAsync() => _redis.DisposeAsync();

    private Caller Accuracy(string scope)
    {
        RedisKey[] key = [_prefix + "acc:" + scope];
        var values = Values(1, _settings.AccuracyLimit, _settings.AccuracyWindow);
        if (_algorithm == RedisAlgorithm.SlidingLog)
        {
            return new Caller(async _ => (await EvaluateAsync(key, values())).Admitted);
        }

        // GCRA refills one permit every T from its first grant: what it may admit by the last answer is B + ⌊(last − first
        // grant) / T⌋, both times as the script saw them (server time), so the check is exact rather than a bound.
        long firstGrant = long.MaxValue, last = long.MinValue;
        var interval = _settings.AccuracyWindow.Ticks / 10.0 / _settings.AccuracyLimit;
        return new Caller(
            async _ =>
            {
                var (admitted, now) = await EvaluateAsync(key, values());
                Lower(ref firstGrant, admitted ? now : long.MaxValue);
                Raise(ref last, now);
                return admitted;
            },
            limit => firstGrant == long.MaxValue
                ? (0, "nothing was admitted")
                : (limit + (long)Math.Floor((Volatile.Read(ref last) - firstGrant) / interval),
                   string.Create(CultureInfo.InvariantCulture, $"B + ⌊(last answer − first grant) / T⌋, T = {interval / 1e6:0.###} s, server time")));
    }

    /// <summary>
    /// The script's arguments after the keys, for <paramref name="keys"/> keys of one limit: the log's take a member
    /// unique to each request, so each call builds its own array; GCRA's never change.
    /// </summary>
    private Func<RedisValue[]> Values(int keys, long limit, TimeSpan window)
    {
        var micros = window.Ticks / 10.0;
        if (_algorithm == RedisAlgorithm.Gcra)
        {
            var fixedValues = Enumerable.Range(0, keys).SelectMany(_ => new RedisValue[] { micros / limit, limit }).ToArray();
            return () => fixedValues;
        }

        var perKey = Enumerable.Range(0, keys).SelectMany(_ => new RedisValue[] { limit, (long)micros }).ToArray();
        return () =>
        {
            var values = new RedisValue[perKey.Length + 1];
            values[0] = Interlocked.Increment(ref _members);
            perKey.CopyTo(values, 1);
            return values;
        };
    }

    private async Task<(bool Admitted, long Now)> EvaluateAsync(RedisKey[] keys, RedisValue[] values)
    {
        var result = (RedisResult[])(await _database.ScriptEvaluateAsync(_script, keys, values))!;
        return ((long)result[0] == 1, (long)result[1]);
    }

    private RedisKey Key(string kind, int i) => string.Create(CultureInfo.InvariantCulture, $"{_prefix}{kind}:{i}");

    private static void Lower(ref long target, long value)
    {
        for (var seen = Volatile.Read(ref target); value < seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen)
            {
                return;
            }
        }
    }

    private static void Raise(ref long target, long value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen)
            {
                return;
            }
        }
    }
}
