using System.Threading.RateLimiting;
using Microsoft.Extensions.Logging;
using Quota.Abstractions;
using Quota.Client;

namespace Quota.RateLimiting;

/// <summary>
/// A <see cref="RateLimiter"/> decided by a Quota cluster for one fixed set of subjects (a user, a key, a tenant,
/// resources: all or nothing in one call). Each acquire asks the cluster for <c>permitCount</c> permits.
/// </summary>
/// <remarks>
/// <para>
/// <b>Only the asynchronous path calls the cluster.</b> <see cref="RateLimiter.AttemptAcquire(int)"/> never blocks
/// and never calls the network: it answers a failed lease whose <see cref="MetadataName.ReasonPhrase"/> is
/// <see cref="QuotaMetadata.SynchronousReason"/> and which has no <see cref="MetadataName.RetryAfter"/>, so callers that
/// try the synchronous path first (ASP.NET Core's rate-limiting middleware) go on to
/// <see cref="RateLimiter.AcquireAsync(int, CancellationToken)"/> at once. A local answer (a stash of permits) would be
/// faster but could admit what the cluster would refuse; this limiter never does.
/// </para>
/// <para>
/// Leases carry <see cref="MetadataName.RetryAfter"/> exactly as Quota's <see cref="AcquireResult.RetryAfterMs"/>,
/// <see cref="MetadataName.ReasonPhrase"/>, and <see cref="QuotaMetadata"/>'s names. A concurrency lease is released in
/// the cluster when the lease is disposed. With <see cref="QuotaRateLimiterOptions.MaxWait"/> an acquire waits in the
/// subject's own queue by priority; cancelling it gives the place up and throws <see cref="OperationCanceledException"/>.
/// When the cluster cannot be reached within the decision timeout, the answer follows
/// <see cref="QuotaRateLimiterOptions.WhenUnreachable"/> and is counted (<see cref="QuotaRateLimitingInstruments"/>).
/// </para>
/// </remarks>
public sealed class QuotaRateLimiter : RateLimiter
{
    private readonly QuotaDecisions _decisions;
    private readonly AcquireRequest _request;

    /// <summary>A limiter asking <paramref name="client"/> about the subjects <paramref name="request"/> names.</summary>
    /// <param name="client">The Quota client.</param>
    /// <param name="request">The subjects; its cost, wait and priority are replaced by the permit count and <paramref name="options"/>.</param>
    /// <param name="options">How to ask; default <see cref="QuotaRateLimiterOptions"/>' defaults. Copied: later changes do not apply.</param>
    /// <param name="time">The clock for the decision timeout; default the system's.</param>
    /// <param name="logger">Where unreachable-cluster warnings go; default nowhere.</param>
    /// <exception cref="ArgumentException">The options are invalid (the message names each problem).</exception>
    public QuotaRateLimiter(IQuotaClient client, AcquireRequest request, QuotaRateLimiterOptions? options = null, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        _decisions = new QuotaDecisions(client, options ?? new QuotaRateLimiterOptions(), time, logger);
        _request = request;
    }

    /// <inheritdoc />
    public override TimeSpan? IdleDuration => _decisions.IdleDuration();

    /// <inheritdoc />
    public override RateLimiterStatistics? GetStatistics() => _decisions.Statistics();

    /// <inheritdoc />
    protected override RateLimitLease AttemptAcquireCore(int permitCount) => QuotaLease.Synchronous;

    /// <inheritdoc />
    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
        _decisions.AcquireAsync(_decisions.Shape(_request, permitCount), cancellationToken);
}

/// <summary>
/// A <see cref="PartitionedRateLimiter{TResource}"/> decided by a Quota cluster: each resource (an HTTP request, a
/// Polly context, a message) names its Quota subjects through a function, and every subject it names is decided
/// all or nothing in one call. Semantics as <see cref="QuotaRateLimiter"/>: only the asynchronous path calls the cluster.
/// </summary>
/// <typeparam name="TResource">What is being limited.</typeparam>
public sealed class QuotaPartitionedRateLimiter<TResource> : PartitionedRateLimiter<TResource>
{
    private readonly QuotaDecisions _decisions;
    private readonly Func<TResource, AcquireRequest> _subjects;
    private readonly Func<TResource, Priority>? _priority;

    /// <summary>A limiter asking <paramref name="client"/> about the subjects <paramref name="subjects"/> names for each resource.</summary>
    /// <param name="client">The Quota client.</param>
    /// <param name="subjects">
    /// The subjects of a resource; cost, wait and priority are replaced by the permit count and <paramref name="options"/>.
    /// A request naming none is refused without a call (a failed lease whose decision is <see cref="DecisionOutcome.Invalid"/>).
    /// </param>
    /// <param name="options">How to ask; default <see cref="QuotaRateLimiterOptions"/>' defaults. Copied: later changes do not apply.</param>
    /// <param name="time">The clock for the decision timeout; default the system's.</param>
    /// <param name="logger">Where unreachable-cluster warnings go; default nowhere.</param>
    /// <exception cref="ArgumentException">The options are invalid (the message names each problem).</exception>
    public QuotaPartitionedRateLimiter(IQuotaClient client, Func<TResource, AcquireRequest> subjects, QuotaRateLimiterOptions? options = null, TimeProvider? time = null, ILogger? logger = null)
        : this(client, subjects, priority: null, options, time, logger)
    {
    }

    /// <summary>
    /// A limiter as above whose requests each have the priority <paramref name="priority"/> gives their resource (in Quota's
    /// queue, higher priorities are served first; see <see cref="QuotaRateLimiterOptions.Priority"/>), instead of the
    /// options' one priority for all.
    /// </summary>
    /// <param name="client">The Quota client.</param>
    /// <param name="subjects">The subjects of a resource, as above.</param>
    /// <param name="priority">Each resource's priority; null: <see cref="QuotaRateLimiterOptions.Priority"/> for all.</param>
    /// <param name="options">How to ask; default <see cref="QuotaRateLimiterOptions"/>' defaults. Copied: later changes do not apply.</param>
    /// <param name="time">The clock for the decision timeout; default the system's.</param>
    /// <param name="logger">Where unreachable-cluster warnings go; default nowhere.</param>
    /// <exception cref="ArgumentException">The options are invalid (the message names each problem).</exception>
    public QuotaPartitionedRateLimiter(
        IQuotaClient client, Func<TResource, AcquireRequest> subjects, Func<TResource, Priority>? priority, QuotaRateLimiterOptions? options = null, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(subjects);
        _decisions = new QuotaDecisions(client, options ?? new QuotaRateLimiterOptions(), time, logger);
        _subjects = subjects;
        _priority = priority;
    }

    /// <summary>The options in force (a validated copy).</summary>
    public QuotaRateLimiterOptions Options => _decisions.Options;

    /// <summary>
    /// The limiter's statistics as a whole, whatever <paramref name="resource"/> is: leases acquired and refused on the
    /// asynchronous path, acquires in flight, and the remaining permits of the most recent answer.
    /// </summary>
    public override RateLimiterStatistics? GetStatistics(TResource resource) => _decisions.Statistics();

    /// <inheritdoc />
    protected override RateLimitLease AttemptAcquireCore(TResource resource, int permitCount) => QuotaLease.Synchronous;

    /// <inheritdoc />
    protected override ValueTask<RateLimitLease> AcquireAsyncCore(TResource resource, int permitCount, CancellationToken cancellationToken) =>
        _decisions.AcquireAsync(_decisions.Shape(_subjects(resource), permitCount, PriorityOf(resource)), cancellationToken);

    private Priority? PriorityOf(TResource resource)
    {
        if (_priority?.Invoke(resource) is not { } priority)
        {
            return null;
        }

        // Checked where it is chosen: an undefined value would otherwise be refused by the cluster as an invalid request.
        return Enum.IsDefined(priority) ? priority : throw new InvalidOperationException($"The priority selector answered {(int)priority}, not a Priority.");
    }
}
