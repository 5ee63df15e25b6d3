using Microsoft.Extensions.Logging;
using Polly;
using Polly.RateLimiting;
using Quota.Abstractions;
using Quota.Client;

namespace Quota.RateLimiting;

/// <summary>Adds a Quota-backed rate limiter to a Polly v8 pipeline.</summary>
public static class QuotaResiliencePipelineBuilderExtensions
{
    /// <summary>
    /// Adds Polly's rate-limiter strategy decided by Quota for the subjects <paramref name="request"/> names: an execution
    /// is admitted when the cluster admits one permit; otherwise Polly throws <see cref="RateLimiterRejectedException"/>
    /// whose <see cref="RateLimiterRejectedException.RetryAfter"/> is exactly Quota's <see cref="AcquireResult.RetryAfterMs"/>.
    /// </summary>
    /// <param name="builder">The pipeline builder.</param>
    /// <param name="client">The Quota client.</param>
    /// <param name="request">The subjects (cost, wait and priority come from one permit and <paramref name="options"/>).</param>
    /// <param name="options">How to ask; default <see cref="QuotaRateLimiterOptions"/>' defaults.</param>
    /// <param name="onRejected">Called with each refusal before Polly throws (its lease carries <see cref="QuotaMetadata"/>).</param>
    /// <param name="logger">Where unreachable-cluster warnings go; default nowhere.</param>
    public static TBuilder AddQuotaRateLimiter<TBuilder>(this TBuilder builder, IQuotaClient client, AcquireRequest request, QuotaRateLimiterOptions? options = null,
        Func<OnRateLimiterRejectedArguments, ValueTask>? onRejected = null, ILogger? logger = null)
        where TBuilder : ResiliencePipelineBuilderBase
    {
        ArgumentNullException.ThrowIfNull(request);
        return builder.AddQuotaRateLimiter(client, _ => request, options, onRejected, logger);
    }

    /// <summary>
    /// As <see cref="AddQuotaRateLimiter{TBuilder}(TBuilder, IQuotaClient, AcquireRequest, QuotaRateLimiterOptions?, Func{OnRateLimiterRejectedArguments, ValueTask}?, ILogger?)"/>,
    /// with the subjects chosen per execution from its <see cref="ResilienceContext"/> (e.g. a user kept in its properties).
    /// The execution's cancellation token cancels a queued acquire and gives its place up.
    /// </summary>
    public static TBuilder AddQuotaRateLimiter<TBuilder>(this TBuilder builder, IQuotaClient client, Func<ResilienceContext, AcquireRequest> subjects,
        QuotaRateLimiterOptions? options = null, Func<OnRateLimiterRejectedArguments, ValueTask>? onRejected = null, ILogger? logger = null)
        where TBuilder : ResiliencePipelineBuilderBase
    {
        ArgumentNullException.ThrowIfNull(builder);
        var limiter = new QuotaPartitionedRateLimiter<ResilienceContext>(client, subjects, options, builder.TimeProvider, logger);
        return builder.AddRateLimiter(new RateLimiterStrategyOptions
        {
            Name = limiter.Options.Name,
            RateLimiter = args => limiter.AcquireAsync(args.Context, 1, args.Context.CancellationToken),
            OnRejected = onRejected,
        });
    }
}
