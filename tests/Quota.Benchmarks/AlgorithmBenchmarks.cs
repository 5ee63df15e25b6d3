using BenchmarkDotNet.Attributes;
using Quota.Algorithms.Allocation;
using Quota.Algorithms.Limiting;

namespace Quota.Benchmarks;

/// <summary>
/// One decision on the hot path of each algorithm, in steady state: time advances 1 ms per call and the limit
/// is 1000 per second, so the limiter sits at its limit and decisions mix grants, denials and window rolls.
/// </summary>
[MemoryDiagnoser]
public class AlgorithmBenchmarks
{
    private static readonly DateTimeOffset Origin = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);
    private Limiter _limiter = null!;
    private long _ticks;

    [Params(AlgorithmKind.TokenBucket, AlgorithmKind.SlidingWindow, AlgorithmKind.FixedWindow, AlgorithmKind.SlidingLog, AlgorithmKind.Calendar, AlgorithmKind.Concurrency)]
    public AlgorithmKind Algorithm { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _limiter = new PolicyDefinition
        {
            Name = "bench",
            Algorithm = Algorithm,
            Limit = 1000,
            Window = TimeSpan.FromSeconds(1),
            Period = CalendarPeriod.Day,
            TimeZone = "Europe/Warsaw",
            LeaseTtl = TimeSpan.FromSeconds(1),
        }.CreateLimiter();
        _ticks = Origin.UtcTicks;
    }

    [Benchmark(OperationsPerInvoke = 1000)]
    public long Acquire()
    {
        long admitted = 0;
        for (var i = 0; i < 1000; i++)
        {
            _ticks += TimeSpan.TicksPerMillisecond;
            var decision = _limiter.Acquire(2, new DateTimeOffset(_ticks, TimeSpan.Zero));
            admitted += decision.Remaining;
        }

        return admitted;
    }
}

/// <summary>Fair share over a pool's tenants, as the pool grain computes it on each lease refresh.</summary>
[MemoryDiagnoser]
public class FairShareBenchmarks
{
    private ShareRequest[] _requests = [];
    private long[] _allocations = [];

    [Params(10, 100, 1000)]
    public int Tenants { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _requests = Enumerable.Range(0, Tenants)
            .Select(_ => new ShareRequest(random.Next(1, 500), random.Next(1, 4), random.Next(0, 2)))
            .ToArray();
        _allocations = new long[Tenants];
    }

    [Benchmark]
    public long Allocate()
    {
        FairShare.Allocate(Tenants * 100L, _requests, _allocations);
        return _allocations[0];
    }
}
