namespace Quota.Benchmarks.Compare;

/// <summary>What the callers of one measurement ask for.</summary>
internal enum Workload
{
    /// <summary>One limit per request, on one of <see cref="CompareSettings.Keys"/> keys picked at random.</summary>
    DistinctKeys,

    /// <summary>One limit per request, every request on the same key.</summary>
    HotKey,

    /// <summary>One request naming three limits (a user and two resources), admitted by all or by none.</summary>
    ThreeLimits,

    /// <summary>
    /// One fresh key per round with a small limit (<see cref="CompareSettings.AccuracyLimit"/>) whose window is far longer
    /// than the run, hammered by every caller: a correct limiter admits exactly what its contract allows.
    /// </summary>
    Accuracy,
}

/// <summary>
/// The limits every system is given, the same for all of them. Throughput limits are far above what the machine
/// reaches, so every decision of those workloads takes the grant path.
/// </summary>
internal sealed record CompareSettings
{
    /// <summary>Distinct keys of <see cref="Workload.DistinctKeys"/> and <see cref="Workload.ThreeLimits"/>. Default: 10,000.</summary>
    public int Keys { get; init; } = 10_000;

    /// <summary>Permits per <see cref="ThroughputWindow"/> on every throughput key. Default: 1,000,000,000.</summary>
    public long ThroughputLimit { get; init; } = 1_000_000_000;

    /// <summary>The window of the throughput limits. Default: 1 minute.</summary>
    public TimeSpan ThroughputWindow { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>The accuracy key's limit. Default: 2,000.</summary>
    public long AccuracyLimit { get; init; } = 2_000;

    /// <summary>The accuracy key's window, far longer than a run. Default: 1 hour.</summary>
    public TimeSpan AccuracyWindow { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>
/// One system under comparison, driven from this process. Every system implements every workload; how, is in
/// <see cref="Description"/> and docs/benchmarks.md.
/// </summary>
internal interface IComparedSystem : IAsyncDisposable
{
    /// <summary>A short stable id for the JSON file and the plots' legend order, e.g. <c>redis-log</c>.</summary>
    string Id { get; }

    /// <summary>The name in tables and plots.</summary>
    string Name { get; }

    /// <summary>A short name for column headings, e.g. <c>Redis log</c>.</summary>
    string ShortName { get; }

    /// <summary>One paragraph: what a decision is in this system for each workload.</summary>
    string Description { get; }

    /// <summary>
    /// Creates what must exist before measuring (rows, activations): every key of every throughput workload is touched
    /// once, so the rounds measure steady state rather than first use.
    /// </summary>
    Task PrepareAsync();

    /// <summary>
    /// Callers for <paramref name="workload"/> at <paramref name="inFlight"/> callers (connection pools are sized to
    /// them). For <see cref="Workload.Accuracy"/> each <paramref name="scope"/> names a fresh key at its full limit.
    /// </summary>
    Task<Caller> OpenAsync(Workload workload, int inFlight, string scope);
}

/// <summary>
/// One workload's calls on one system: <see cref="CallAsync"/> takes a key index and answers whether the request was
/// admitted; a failure (anything but a grant or a denial) throws, so a broken system fails the run instead of
/// counting as denials. Connections belong to the system, which keeps them across the rounds of a point.
/// </summary>
/// <param name="call">The call.</param>
/// <param name="allowed">
/// Accuracy only: how many grants the system's contract allows for the calls made so far, when that is not simply the
/// limit (GCRA refills continuously), with a note saying how it is counted.
/// </param>
/// <param name="synchronous">
/// The calls complete synchronously (in process): its callers run on threads of their own, not the thread pool
/// (<see cref="ClosedLoop.MeasureAsync"/>).
/// </param>
internal sealed class Caller(Func<int, Task<bool>> call, Func<long, (long Allowed, string Note)>? allowed = null, bool synchronous = false)
{
    /// <summary>Asks once for the key at <paramref name="key"/>.</summary>
    public Func<int, Task<bool>> CallAsync { get; } = call;

    /// <summary>Whether the calls complete synchronously, so each caller needs a thread of its own.</summary>
    public bool Synchronous { get; } = synchronous;

    /// <summary>Runs the calls in a closed loop (<see cref="ClosedLoop.MeasureAsync"/>) with <paramref name="inFlight"/> callers.</summary>
    public Task<LoadResult> MeasureAsync(int inFlight, int keys, TimeSpan duration) =>
        ClosedLoop.MeasureAsync(CallAsync, inFlight, keys, duration, ownThreads: Synchronous);

    /// <summary>How many grants the contract allows a key of limit <paramref name="limit"/> for the calls made so far.</summary>
    public (long Allowed, string Note) Allowance(long limit) => allowed?.Invoke(limit) ?? (limit, "the limit (nothing refills during the run)");
}
