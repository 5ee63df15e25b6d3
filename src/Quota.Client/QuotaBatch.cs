using System.Collections.Concurrent;
using Quota.Abstractions;
using Quota.Algorithms.Planning;

namespace Quota.Client;

/// <summary>
/// Runs work the application holds itself under Quota's limits: each attempt of each item first takes a permit through
/// Quota's decisions (<see cref="IQuotaClient"/>) on one of the batch's lanes (a user's keys, an upstream's tokens),
/// least used first; failures are retried after exponential backoff with full jitter (in whole milliseconds) and
/// dead-lettered after the last
/// attempt; results come back in input order with statistics. <see cref="Plan"/> and <see cref="PlanAsync"/> say
/// before a batch starts whether it fits a deadline, with the same planner as queues (<see cref="WorkPlan"/>).
/// </summary>
/// <remarks>
/// Guarantees: an attempt runs only after a decision admitted it, so the batch never spends more than each lane's
/// limits allow (other callers of the same subjects share them). Every item is attempted at most
/// <see cref="QuotaBatchOptions.MaxAttempts"/> times and appears exactly once in the result. A lane whose decision can
/// never admit (an unknown subject, an invalid request, a cost above its limit) is dropped for the rest of the batch;
/// when none is left the batch throws <see cref="InvalidOperationException"/> naming the problem. Cancellation stops the
/// batch with <see cref="OperationCanceledException"/>.
/// </remarks>
public static class QuotaBatch
{
    /// <summary>
    /// Runs <paramref name="handler"/> over <paramref name="items"/>, each attempt admitted on a lane of
    /// <paramref name="options"/>. Answers every item's result in input order with the statistics.
    /// </summary>
    /// <exception cref="ArgumentException">The options have problems (every one is listed).</exception>
    public static async Task<BatchResult<TResult>> RunAsync<TItem, TResult>(
        IQuotaClient quota,
        IReadOnlyList<TItem> items,
        Func<TItem, BatchAttempt, CancellationToken, Task<TResult>> handler,
        QuotaBatchOptions options,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(quota);
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Problems() is { Count: > 0 } problems)
        {
            throw new ArgumentException("The batch options have problems: " + string.Join(" ", problems), nameof(options));
        }

        var run = new Run(quota, options);
        var started = options.Time.GetTimestamp();
        var results = new BatchItemResult<TResult>[items.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, items.Count),
            new ParallelOptions { MaxDegreeOfParallelism = options.MaxConcurrency, CancellationToken = cancellationToken },
            async (index, ct) => results[index] = await run.ItemAsync(index, items[index], handler, ct));
        return new BatchResult<TResult>(results, run.Lanes(), run.Tokens(), options.Time.GetElapsedTime(started));
    }

    /// <summary>
    /// Whether <paramref name="items"/> items of <paramref name="processingTime"/> each finish by
    /// <paramref name="deadline"/> at <paramref name="ratePerMinute"/> (all lanes together), when, and how many to run
    /// at once (at most <paramref name="maxConcurrency"/>). 108 items, 20 a minute, 10 s each, 3 minutes, 10 at most: not
    /// feasible (5.4 minutes), 4 at once.
    /// </summary>
    public static WorkPlan Plan(int items, double ratePerMinute, TimeSpan processingTime, TimeSpan? deadline, int maxConcurrency) =>
        WorkPlan.Of(items, ratePerMinute / 60, processingTime, deadline, maxConcurrency);

    /// <summary>
    /// <see cref="Plan"/> with the rate the lanes' limits allow together: each lane's decision is peeked (cost 0, nothing
    /// is taken) and its slowest windowed policy gives its rate. Without any windowed limit the rate is unbounded.
    /// </summary>
    public static async Task<WorkPlan> PlanAsync(IQuotaClient quota, int items, TimeSpan processingTime, TimeSpan? deadline, QuotaBatchOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(quota);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Problems() is { Count: > 0 } problems)
        {
            throw new ArgumentException("The batch options have problems: " + string.Join(" ", problems), nameof(options));
        }

        double? perMinute = null;
        foreach (var lane in options.Lanes)
        {
            var peek = await quota.AcquireAsync(lane.Request with { Cost = 0 }, cancellationToken);
            if (peek.Outcome is DecisionOutcome.UnknownSubject or DecisionOutcome.Invalid)
            {
                throw new InvalidOperationException($"Lane '{lane.Name}' can never be admitted ({peek.Outcome}: {peek.Problem}).");
            }

            if (QueueRules.SlowestRatePerMinute(peek.Policies, lane.Request.Cost) is { } rate)
            {
                perMinute = (perMinute ?? 0) + rate;
            }
        }

        return WorkPlan.Of(items, perMinute / 60, processingTime, deadline, options.MaxConcurrency);
    }

    /// <summary>One batch's shared state: lane use, token use, the jitter source.</summary>
    private sealed class Run(IQuotaClient quota, QuotaBatchOptions options)
    {
        private readonly int[] _used = new int[options.Lanes.Count];
        private readonly int[] _succeeded = new int[options.Lanes.Count];
        private readonly int[] _failed = new int[options.Lanes.Count];
        private readonly bool[] _dropped = new bool[options.Lanes.Count];
        private readonly ConcurrentDictionary<string, BatchUse> _tokens = new(StringComparer.Ordinal);
        private readonly Lock _random = new();
        private string? _dropReason;

        public async Task<BatchItemResult<TResult>> ItemAsync<TItem, TResult>(int index, TItem item, Func<TItem, BatchAttempt, CancellationToken, Task<TResult>> handler, CancellationToken ct)
        {
            for (var attempt = 1; ; attempt++)
            {
                var (lane, token) = await AdmitAsync(ct);
                var name = options.Lanes[lane].Name;
                try
                {
                    var value = await handler(item, new BatchAttempt(index, attempt, name, token), ct);
                    Count(lane, token, succeeded: true);
                    return new BatchItemResult<TResult>(index, true, value, attempt, name, token, null);
                }
                catch (Exception e) when (!(e is OperationCanceledException && ct.IsCancellationRequested))
                {
                    Count(lane, token, succeeded: false);
                    if (attempt >= options.MaxAttempts)
                    {
                        return new BatchItemResult<TResult>(index, false, default, attempt, name, token, e);
                    }

                    double draw;
                    lock (_random)
                    {
                        draw = options.Random.NextDouble();
                    }

                    // Whole milliseconds, as Task.Delay counts them: the wait is exactly the delay computed.
                    var delay = Backoff.Delay(attempt, options.BackoffBase, options.BackoffMax, draw, TimeSpan.Zero);
                    await Task.Delay(TimeSpan.FromMilliseconds((long)delay.TotalMilliseconds), options.Time, ct);
                }
            }
        }

        public Dictionary<string, BatchUse> Lanes() =>
            options.Lanes.Select((lane, i) => (lane.Name, Use: new BatchUse(_used[i], _succeeded[i], _failed[i]))).ToDictionary(l => l.Name, l => l.Use, StringComparer.Ordinal);

        public Dictionary<string, BatchUse> Tokens() => new(_tokens, StringComparer.Ordinal);

        /// <summary>Takes a permit on the least-used lane that admits; waits when every lane denies.</summary>
        private async Task<(int Lane, UpstreamToken? Token)> AdmitAsync(CancellationToken ct)
        {
            while (true)
            {
                TimeSpan? wait = null;
                foreach (var lane in Enumerable.Range(0, _used.Length).Where(l => !Volatile.Read(ref _dropped[l])).OrderBy(l => Volatile.Read(ref _used[l])))
                {
                    var result = await quota.AcquireAsync(options.Lanes[lane].Request, ct);
                    switch (result.Outcome)
                    {
                        case DecisionOutcome.Allowed:
                            Interlocked.Increment(ref _used[lane]);
                            return (lane, result.Token is { } t ? t with { Secret = null } : null);
                        case DecisionOutcome.Denied or DecisionOutcome.Overloaded:
                            var after = result.RetryAfterMs > 0 ? TimeSpan.FromMilliseconds(result.RetryAfterMs) : options.DeniedWait;
                            wait = wait is { } shortest && shortest < after ? shortest : after;
                            break;
                        default:
                            // Waiting never admits it (unknown subject, invalid, cost above the limit): not asked again.
                            _dropReason = $"lane '{options.Lanes[lane].Name}': {result.Outcome} ({result.Problem})";
                            Volatile.Write(ref _dropped[lane], true);
                            break;
                    }
                }

                if (wait is null)
                {
                    throw new InvalidOperationException($"No lane of the batch can ever be admitted; the last refused was {_dropReason}.");
                }

                await Task.Delay(wait.Value, options.Time, ct);
            }
        }

        private void Count(int lane, UpstreamToken? token, bool succeeded)
        {
            Interlocked.Increment(ref succeeded ? ref _succeeded[lane] : ref _failed[lane]);
            if (token is not null)
            {
                _tokens.AddOrUpdate(
                    $"{token.Upstream}/{token.Id}",
                    _ => new BatchUse(1, succeeded ? 1 : 0, succeeded ? 0 : 1),
                    (_, use) => new BatchUse(use.Attempts + 1, use.Succeeded + (succeeded ? 1 : 0), use.Failed + (succeeded ? 0 : 1)));
            }
        }
    }
}
