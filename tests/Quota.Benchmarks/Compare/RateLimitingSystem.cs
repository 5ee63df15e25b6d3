using System.Threading.RateLimiting;

namespace Quota.Benchmarks.Compare;

/// <summary>
/// The upper bound: <c>System.Threading.RateLimiting</c> in this process, no network, no second process. One
/// <see cref="PartitionedRateLimiter{TResource}"/> per kind of key (users, two kinds of resource, accuracy keys), each
/// partition a <see cref="SlidingWindowRateLimiter"/> (the partitioned limiter replenishes them all from one timer).
/// Calls complete synchronously, so "in flight" here is the number of concurrent loops, each on a thread of its own
/// (not the thread pool, which the other systems' clients in this process use).
/// </summary>
internal sealed class RateLimitingSystem : IComparedSystem
{
    private static readonly Task<bool> Granted = Task.FromResult(true);
    private static readonly Task<bool> Denied = Task.FromResult(false);

    private readonly CompareSettings _settings;
    private readonly PartitionedRateLimiter<int> _users;
    private readonly PartitionedRateLimiter<int> _resourcesA;
    private readonly PartitionedRateLimiter<int> _resourcesB;
    private readonly PartitionedRateLimiter<string> _accuracy;
    private readonly Lock[] _userLocks;
    private readonly Lock[] _aLocks;
    private readonly Lock[] _bLocks;

    public RateLimitingSystem(CompareSettings settings)
    {
        _settings = settings;
        var throughput = Options(settings.ThroughputLimit, settings.ThroughputWindow, segments: 6);
        var accuracy = Options(settings.AccuracyLimit, settings.AccuracyWindow, segments: 60);
        _users = PartitionedRateLimiter.Create<int, int>(i => RateLimitPartition.GetSlidingWindowLimiter(i, _ => throughput));
        _resourcesA = PartitionedRateLimiter.Create<int, int>(i => RateLimitPartition.GetSlidingWindowLimiter(i, _ => throughput));
        _resourcesB = PartitionedRateLimiter.Create<int, int>(i => RateLimitPartition.GetSlidingWindowLimiter(i, _ => throughput));
        _accuracy = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetSlidingWindowLimiter(key, _ => accuracy));
        _userLocks = [.. Enumerable.Range(0, settings.Keys).Select(_ => new Lock())];
        _aLocks = [.. Enumerable.Range(0, settings.Keys).Select(_ => new Lock())];
        _bLocks = [.. Enumerable.Range(0, settings.Keys).Select(_ => new Lock())];
    }

    public string Id => "ratelimiting";

    public string Name => "System.Threading.RateLimiting (in process)";

    public string ShortName => "RateLimiting";

    public string Description =>
        "In the harness process: PartitionedRateLimiter.Create with one SlidingWindowRateLimiter per key (6 segments a "
        + "window; accuracy: L per hour, 60 segments), AttemptAcquire per decision. Hot key: one partition. Three limits: "
        + "three partitioned limiters (user, resource a, resource b), all or nothing by locking the three keys in a fixed "
        + "order, checking each one's available permits (GetStatistics) and only then acquiring all three. The library "
        + "offers no all-or-nothing of its own: a chained limiter (PartitionedRateLimiter.CreateChained) disposes the "
        + "leases it took when a later limiter refuses, but a window or bucket lease gives no permit back when disposed.";

    public Task PrepareAsync()
    {
        for (var i = 0; i < _settings.Keys; i++)
        {
            if (!TakeAll(i).Result)
            {
                throw new InvalidOperationException($"{Name} denied a first request: the throughput limits must be far above what the run reaches.");
            }
        }

        return Take(_users, _settings.Keys).Result
            ? Task.CompletedTask
            : throw new InvalidOperationException($"{Name} denied the hot key's first request.");
    }

    public Task<Caller> OpenAsync(Workload workload, int inFlight, string scope)
    {
        var hot = _settings.Keys;
        var accuracy = $"acc:{scope}";
        Func<int, Task<bool>> call = workload switch
        {
            Workload.DistinctKeys => i => Take(_users, i),
            Workload.HotKey => _ => Take(_users, hot),
            Workload.ThreeLimits => TakeAll,
            Workload.Accuracy => _ => Take(_accuracy, accuracy),
            _ => throw new ArgumentOutOfRangeException(nameof(workload), workload, "not a workload"),
        };
        return Task.FromResult(new Caller(call, synchronous: true));
    }

    public ValueTask DisposeAsync()
    {
        _users.Dispose();
        _resourcesA.Dispose();
        _resourcesB.Dispose();
        _accuracy.Dispose();
        return ValueTask.CompletedTask;
    }

    private static SlidingWindowRateLimiterOptions Options(long limit, TimeSpan window, int segments) => new()
    {
        PermitLimit = (int)Math.Min(limit, int.MaxValue),
        Window = window,
        SegmentsPerWindow = segments,
        QueueLimit = 0,
    };

    private static Task<bool> Take<TKey>(PartitionedRateLimiter<TKey> limiter, TKey key)
    {
        using var lease = limiter.AttemptAcquire(key);
        return lease.IsAcquired ? Granted : Denied;
    }

    /// <summary>
    /// All three or none: every caller of these keys takes their locks in the same order (user, a, b), so between the
    /// check and the acquisitions nothing else takes a permit from them (a timer can only add permits).
    /// </summary>
    private Task<bool> TakeAll(int i)
    {
        lock (_userLocks[i])
        {
            lock (_aLocks[i])
            {
                lock (_bLocks[i])
                {
                    if (!HasPermit(_users, i) || !HasPermit(_resourcesA, i) || !HasPermit(_resourcesB, i))
                    {
                        return Denied;
                    }

                    Acquire(_users, i);
                    Acquire(_resourcesA, i);
                    Acquire(_resourcesB, i);
                    return Granted;
                }
            }
        }
    }

    private static bool HasPermit(PartitionedRateLimiter<int> limiter, int key) =>
        limiter.GetStatistics(key)?.CurrentAvailablePermits >= 1;

    private static void Acquire(PartitionedRateLimiter<int> limiter, int key)
    {
        using var lease = limiter.AttemptAcquire(key);
        if (!lease.IsAcquired)
        {
            throw new InvalidOperationException($"A permit seen available under the key's lock was refused (key {key}): the all-or-nothing check is wrong.");
        }
    }
}
