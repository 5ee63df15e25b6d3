using System.Threading.RateLimiting;
using Quota.Abstractions;

namespace Quota.RateLimiting;

/// <summary>
/// The metadata a Quota lease carries besides the standard <see cref="MetadataName.RetryAfter"/> (exactly Quota's
/// <see cref="AcquireResult.RetryAfterMs"/>, on a refusal that can be retried) and <see cref="MetadataName.ReasonPhrase"/>
/// (why a lease failed). A name is present only when its value is known: a lease answered while the cluster was
/// unreachable has only <see cref="Unreachable"/>, the standard names and nothing of Quota's decision.
/// </summary>
public static class QuotaMetadata
{
    /// <summary><c>QUOTA_DECISION</c>: the whole answer Quota gave (<see cref="AcquireResult"/>).</summary>
    public static readonly MetadataName<AcquireResult> Decision = MetadataName.Create<AcquireResult>("QUOTA_DECISION");

    /// <summary><c>QUOTA_REMAINING</c>: permits left on the most constrained policy after the decision.</summary>
    public static readonly MetadataName<long> Remaining = MetadataName.Create<long>("QUOTA_REMAINING");

    /// <summary><c>QUOTA_LIMIT</c>: the capacity of the most constrained policy.</summary>
    public static readonly MetadataName<long> Limit = MetadataName.Create<long>("QUOTA_LIMIT");

    /// <summary><c>QUOTA_LIMITED_BY</c>: the denying subject and policy (<c>user:alice/per-minute</c>); on refusals only.</summary>
    public static readonly MetadataName<string> LimitedBy = MetadataName.Create<string>("QUOTA_LIMITED_BY");

    /// <summary><c>QUOTA_POLICIES</c>: every policy consulted, with its state after the decision (what the rate-limit headers show).</summary>
    public static readonly MetadataName<PolicyState[]> Policies = MetadataName.Create<PolicyState[]>("QUOTA_POLICIES");

    /// <summary><c>QUOTA_LEASE_ID</c>: the concurrency lease or reservation id, released when the lease is disposed.</summary>
    public static readonly MetadataName<string> LeaseId = MetadataName.Create<string>("QUOTA_LEASE_ID");

    /// <summary><c>QUOTA_UNREACHABLE</c>: true when the cluster could not be reached and the lease is the fail-open or fail-closed answer.</summary>
    public static readonly MetadataName<bool> Unreachable = MetadataName.Create<bool>("QUOTA_UNREACHABLE");

    /// <summary>
    /// The <see cref="MetadataName.ReasonPhrase"/> of a lease refused by <see cref="RateLimiter.AttemptAcquire(int)"/>:
    /// Quota decides only on the asynchronous path.
    /// </summary>
    public const string SynchronousReason = "Quota decides only asynchronously: call AcquireAsync (the synchronous attempt never calls the cluster).";
}
