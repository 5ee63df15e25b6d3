using System.Diagnostics.Metrics;

namespace Quota.RateLimiting;

/// <summary>
/// The meter <c>Quota.RateLimiting</c>: <c>quota.ratelimiting.decisions</c> (every answer of the asynchronous path,
/// tags <c>limiter</c> and <c>outcome</c>: <c>admitted</c>, <c>rejected</c>) and <c>quota.ratelimiting.unreachable</c>
/// (answers made without the cluster, tags <c>limiter</c> and <c>outcome</c>: <c>admitted</c> when failing open,
/// <c>rejected</c> when failing closed).
/// </summary>
public static class QuotaRateLimitingInstruments
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Quota.RateLimiting";

    /// <summary>The tag naming the limiter (<see cref="QuotaRateLimiterOptions.Name"/>).</summary>
    public const string LimiterTag = "limiter";

    /// <summary>The tag naming the answer: <c>admitted</c> or <c>rejected</c>.</summary>
    public const string OutcomeTag = "outcome";

    private static readonly Meter Meter = new(MeterName);

    internal static readonly Counter<long> Decisions = Meter.CreateCounter<long>("quota.ratelimiting.decisions", unit: "{decision}", description: "Answers of Quota-backed limiters' asynchronous path.");

    internal static readonly Counter<long> Unreachable = Meter.CreateCounter<long>("quota.ratelimiting.unreachable", unit: "{decision}", description: "Answers made without the cluster, which could not be reached in time (fail open or fail closed).");

    internal static readonly Counter<long> ReleaseFailures = Meter.CreateCounter<long>("quota.ratelimiting.release_failures", unit: "{lease}", description: "Concurrency leases whose release the cluster did not confirm (they expire after their TTL).");

    internal static KeyValuePair<string, object?>[] Tags(string limiter, bool admitted) =>
        [new(LimiterTag, limiter), new(OutcomeTag, admitted ? "admitted" : "rejected")];
}
