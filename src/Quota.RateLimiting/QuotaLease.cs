using System.Threading.RateLimiting;
using Quota.Abstractions;

namespace Quota.RateLimiting;

/// <summary>
/// A lease answered by Quota (or, when the cluster was unreachable, by the limiter's fail-open or fail-closed mode).
/// Disposing an acquired lease that holds a concurrency lease or reservation (<see cref="QuotaMetadata.LeaseId"/>)
/// releases it in the cluster; disposing twice releases once.
/// </summary>
public sealed class QuotaLease : RateLimitLease
{
    private readonly Dictionary<string, object?> _metadata;
    private readonly Func<string, Task>? _release;
    private int _disposed;

    internal QuotaLease(bool acquired, Dictionary<string, object?> metadata, Func<string, Task>? release)
    {
        IsAcquired = acquired;
        _metadata = metadata;
        _release = release;
    }

    /// <inheritdoc />
    public override bool IsAcquired { get; }

    /// <inheritdoc />
    public override IEnumerable<string> MetadataNames => _metadata.Keys;

    /// <summary>The release of the cluster-side lease started by <see cref="IDisposable.Dispose"/>; completed when there is nothing to release.</summary>
    internal Task Released { get; private set; } = Task.CompletedTask;

    /// <inheritdoc />
    public override bool TryGetMetadata(string metadataName, out object? metadata) => _metadata.TryGetValue(metadataName, out metadata);

    /// <summary>A lease from Quota's answer.</summary>
    internal static QuotaLease From(AcquireResult result, Func<string, Task>? release)
    {
        var metadata = new Dictionary<string, object?>(8)
        {
            [QuotaMetadata.Decision.Name] = result,
            [QuotaMetadata.Remaining.Name] = result.Remaining,
            [QuotaMetadata.Limit.Name] = result.Limit,
            [QuotaMetadata.Policies.Name] = result.Policies,
        };
        if (result.LimitedBy is { } limitedBy)
        {
            metadata[QuotaMetadata.LimitedBy.Name] = limitedBy;
        }

        if (result.Allowed)
        {
            if (result.LeaseId is { } leaseId)
            {
                metadata[QuotaMetadata.LeaseId.Name] = leaseId;
            }

            return new QuotaLease(true, metadata, result.LeaseId is null ? null : release);
        }

        // Exact: Quota's milliseconds, not rounded to seconds (headers round; Polly and callers wait exactly this).
        if (result.RetryAfterMs > 0)
        {
            metadata[MetadataName.RetryAfter.Name] = TimeSpan.FromMilliseconds(result.RetryAfterMs);
        }

        metadata[MetadataName.ReasonPhrase.Name] = Reason(result);
        return new QuotaLease(false, metadata, null);
    }

    /// <summary>The answer when the cluster could not be reached: admitted (fail open) or refused for <paramref name="retryAfter"/>.</summary>
    internal static QuotaLease Unreachable(bool admit, TimeSpan retryAfter)
    {
        var metadata = new Dictionary<string, object?>(3) { [QuotaMetadata.Unreachable.Name] = true };
        if (!admit)
        {
            metadata[MetadataName.RetryAfter.Name] = retryAfter;
            metadata[MetadataName.ReasonPhrase.Name] = "The Quota cluster could not be reached in time; this limiter fails closed.";
        }

        return new QuotaLease(admit, metadata, null);
    }

    /// <summary>The refusal of a synchronous attempt: no metadata but the reason, so callers go on to the asynchronous path.</summary>
    internal static QuotaLease Synchronous { get; } =
        new(false, new Dictionary<string, object?>(1) { [MetadataName.ReasonPhrase.Name] = QuotaMetadata.SynchronousReason }, null);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && _release is not null && Interlocked.Exchange(ref _disposed, 1) == 0
            && _metadata.TryGetValue(QuotaMetadata.LeaseId.Name, out var id) && id is string leaseId)
        {
            Released = _release(leaseId);
        }
    }

    private static string Reason(AcquireResult result) => result.Outcome switch
    {
        DecisionOutcome.Denied when result.RetryAfterMs > 0 => $"Limited by {result.LimitedBy}: retry after {result.RetryAfterMs} ms.",
        DecisionOutcome.Denied => $"Limited by {result.LimitedBy}.",
        DecisionOutcome.CostExceedsLimit => $"The cost exceeds what {result.LimitedBy} can ever admit at once.",
        DecisionOutcome.Overloaded => $"The Quota cluster shed the request ({result.Problem}): retry after {result.RetryAfterMs} ms.",
        DecisionOutcome.UnknownSubject or DecisionOutcome.Invalid => result.Problem?.ToString() ?? result.Outcome.ToString(),
        _ => result.Outcome.ToString(),
    };
}
