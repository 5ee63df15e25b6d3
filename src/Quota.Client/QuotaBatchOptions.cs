using Quota.Abstractions;

namespace Quota.Client;

/// <summary>
/// One way through the limits a batch may take: a user's API key, an upstream (Quota picks its least-used token), or
/// any other acquire request. <paramref name="Name"/> labels its statistics; never put a secret in it (the request's
/// raw key stays in <paramref name="Request"/>).
/// </summary>
/// <param name="Name">The lane's label in the results, e.g. <c>key-1</c>.</param>
/// <param name="Request">The decision each attempt on this lane needs (its <c>Cost</c> is what one attempt spends).</param>
public sealed record BatchLane(string Name, AcquireRequest Request);

/// <summary>How <see cref="QuotaBatch"/> runs a batch. <see cref="Problems"/> lists every setting out of bounds.</summary>
public sealed class QuotaBatchOptions
{
    /// <summary>
    /// The lanes items are spread over, least used (by this batch) first; an attempt takes the first lane whose
    /// decision admits it. At least one. Default: none.
    /// </summary>
    public IList<BatchLane> Lanes { get; } = [];

    /// <summary>Items run at once: 1 runs them one after another. From 1 to 1,000. Default: 1.</summary>
    public int MaxConcurrency { get; set; } = 1;

    /// <summary>Attempts per item before it is dead-lettered (each attempt takes its own permit). From 1 to 100. Default: 3.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>The first backoff cap: after attempt <c>n</c> the retry waits a uniform time in [0, min(max, base·2ⁿ⁻¹)]. More than 0. Default: 1 second.</summary>
    public TimeSpan BackoffBase { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The largest backoff cap; at least <see cref="BackoffBase"/>, at most a day. Default: 1 minute.</summary>
    public TimeSpan BackoffMax { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long to wait when every lane denies and none says when to come back (a denial's retry-after is used when it
    /// has one). More than 0. Default: 1 second.
    /// </summary>
    public TimeSpan DeniedWait { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The clock the batch waits on (backoff, denials); tests pass a fake one. Default: <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    /// <summary>The source of the backoff's jitter; seed it for a repeatable batch. Default: <see cref="Random.Shared"/>.</summary>
    public Random Random { get; set; } = Random.Shared;

    /// <summary>Every problem with these options, each naming its setting; empty when they are usable.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (Lanes.Count == 0)
        {
            problems.Add("Lanes must hold at least one lane: a user's API key, an upstream, or another acquire request.");
        }

        for (var i = 0; i < Lanes.Count; i++)
        {
            if (Lanes[i] is not { } lane || string.IsNullOrWhiteSpace(lane.Name) || lane.Request is null)
            {
                problems.Add($"Lanes[{i}] must have a name and a request.");
            }
            else if (Lanes.Take(i).Any(other => other?.Name == lane.Name))
            {
                problems.Add($"Lanes[{i}] repeats the name '{lane.Name}'; each lane's name labels its statistics.");
            }
        }

        if (MaxConcurrency is < 1 or > 1_000)
        {
            problems.Add($"MaxConcurrency must be from 1 to 1000 (got {MaxConcurrency}).");
        }

        if (MaxAttempts is < 1 or > QueueRules.MaxAttemptsCeiling)
        {
            problems.Add($"MaxAttempts must be from 1 to {QueueRules.MaxAttemptsCeiling} (got {MaxAttempts}).");
        }

        if (BackoffBase <= TimeSpan.Zero || BackoffBase > QueueRules.MaxBackoff)
        {
            problems.Add($"BackoffBase must be more than 0 and at most {QueueRules.MaxBackoff:c} (got {BackoffBase:c}).");
        }

        if (BackoffMax < BackoffBase || BackoffMax > QueueRules.MaxBackoff)
        {
            problems.Add($"BackoffMax must be at least BackoffBase ({BackoffBase:c}) and at most {QueueRules.MaxBackoff:c} (got {BackoffMax:c}).");
        }

        if (DeniedWait <= TimeSpan.Zero)
        {
            problems.Add($"DeniedWait must be more than 0 (got {DeniedWait:c}).");
        }

        if (Time is null || Random is null)
        {
            problems.Add("Time and Random must be set (TimeProvider.System and Random.Shared by default).");
        }

        return problems;
    }
}
