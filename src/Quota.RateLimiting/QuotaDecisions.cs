using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Quota.Abstractions;
using Quota.Client;

namespace Quota.RateLimiting;

/// <summary>
/// The asynchronous path every Quota-backed limiter shares: one call to the cluster bounded by
/// <see cref="QuotaRateLimiterOptions.DecisionTimeout"/> beyond the request's wait, the answer turned into a
/// <see cref="QuotaLease"/>, fail open or closed when the cluster cannot be reached, and the limiter's statistics.
/// </summary>
internal sealed partial class QuotaDecisions
{
    private readonly IQuotaClient _client;
    private readonly QuotaRateLimiterOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Func<string, Task> _release;
    private long _successful;
    private long _failed;
    private long _waiting;
    private long _remaining;
    private long _lastActivity;

    public QuotaDecisions(IQuotaClient client, QuotaRateLimiterOptions options, TimeProvider? time, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        _client = client;
        _options = options.Clone().Validated();
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _release = ReleaseAsync;
        _lastActivity = _time.GetTimestamp();
    }

    public QuotaRateLimiterOptions Options => _options;

    /// <summary>
    /// The request as this limiter sends it: <paramref name="permits"/> as its cost, the limiter's wait, and
    /// <paramref name="priority"/> (the resource's own, when the limiter has a priority selector) or the limiter's priority.
    /// </summary>
    public AcquireRequest Shape(AcquireRequest request, int permits, Priority? priority = null) => request with
    {
        Cost = permits,
        MaxWaitMs = (long)_options.MaxWait.TotalMilliseconds,
        Priority = priority ?? _options.Priority,
    };

    public async ValueTask<RateLimitLease> AcquireAsync(AcquireRequest request, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Interlocked.Increment(ref _waiting);
        try
        {
            AcquireResult result;

            // The deadline bounds the whole call, including Orleans' own wait for a dead gateway: cancelling the call's
            // token tells a live subject to give the queued place up; WaitAsync returns at the deadline even when no
            // silo answers the cancellation.
            using var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(request.MaxWaitMs) + _options.DecisionTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
            try
            {
                result = await _client.AcquireAsync(request, linked.Token).WaitAsync(linked.Token);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception error) when (IsUnreachable(error))
            {
                return Unreachable(error);
            }

            Interlocked.Exchange(ref _remaining, result.Remaining);
            Interlocked.Increment(ref result.Allowed ? ref _successful : ref _failed);
            QuotaRateLimitingInstruments.Decisions.Add(1, QuotaRateLimitingInstruments.Tags(_options.Name, result.Allowed));
            return QuotaLease.From(result, _release);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
            Interlocked.Exchange(ref _lastActivity, _time.GetTimestamp());
        }
    }

    /// <summary>
    /// Counts for the limiter as a whole: leases acquired and refused on the asynchronous path (synchronous attempts,
    /// which never decide, are not counted), acquires in flight as the queue, and the remaining permits of the most
    /// recent answer as the available permits (0 before any).
    /// </summary>
    public RateLimiterStatistics Statistics() => new()
    {
        CurrentAvailablePermits = Interlocked.Read(ref _remaining),
        CurrentQueuedCount = Interlocked.Read(ref _waiting),
        TotalSuccessfulLeases = Interlocked.Read(ref _successful),
        TotalFailedLeases = Interlocked.Read(ref _failed),
    };

    /// <summary>Null while an acquire is in flight; otherwise the time since the last one ended.</summary>
    public TimeSpan? IdleDuration() =>
        Interlocked.Read(ref _waiting) > 0 ? null : _time.GetElapsedTime(Interlocked.Read(ref _lastActivity));

    // The faults of a cluster that cannot be reached or answer: the client's retryable QuotaUnavailableException (a dead
    // gateway, a silo failing over), Orleans' own, a timeout, a socket error, the client not connected, or our deadline.
    // Anything else is a bug and propagates.
    private static bool IsUnreachable(Exception error) =>
        error is QuotaUnavailableException or OrleansException or TimeoutException or SocketException or OperationCanceledException or InvalidOperationException;

    private QuotaLease Unreachable(Exception error)
    {
        var admit = _options.WhenUnreachable == UnreachableMode.FailOpen;
        Interlocked.Increment(ref admit ? ref _successful : ref _failed);
        QuotaRateLimitingInstruments.Unreachable.Add(1, QuotaRateLimitingInstruments.Tags(_options.Name, admit));
        LogUnreachable(_logger, error, _options.Name, admit ? "admitted (fail open)" : "refused (fail closed)");
        return QuotaLease.Unreachable(admit, _options.UnreachableRetryAfter);
    }

    private async Task ReleaseAsync(string leaseId)
    {
        try
        {
            using var deadline = new CancellationTokenSource(_options.DecisionTimeout, _time);
            var outcome = await _client.ReleaseAsync(leaseId, deadline.Token).WaitAsync(deadline.Token);
            if (outcome != LeaseOutcome.Done)
            {
                LogReleaseNotDone(_logger, _options.Name, outcome);
            }
        }
        catch (Exception error) when (IsUnreachable(error))
        {
            QuotaRateLimitingInstruments.ReleaseFailures.Add(1, new KeyValuePair<string, object?>(QuotaRateLimitingInstruments.LimiterTag, _options.Name));
            LogReleaseFailed(_logger, error, _options.Name);
        }
    }
}
