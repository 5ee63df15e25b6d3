using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Client;
using Quota.RateLimiting;

namespace Quota.AspNetCore;

/// <summary>
/// A <see cref="PartitionedRateLimiter{HttpContext}"/> decided by Quota: the request's subjects (see
/// <see cref="QuotaPolicyBuilder"/>) are decided all or nothing in one call on the asynchronous path only (the
/// synchronous attempt refuses at once without a call, so ASP.NET Core's middleware goes on to the asynchronous one).
/// An admitted response carries <c>RateLimit-Policy</c> and <c>RateLimit</c>; refusals are written by
/// <see cref="QuotaRejection"/>. Its services (<see cref="IQuotaClient"/>, <c>Quota:RateLimiting</c> options) come from
/// the first request's services.
/// </summary>
internal sealed class QuotaHttpLimiter(string name, QuotaPolicyBuilder builder) : PartitionedRateLimiter<HttpContext>
{
    private QuotaPartitionedRateLimiter<HttpContext>? _inner;

    public string Name => name;

    public QuotaPolicyBuilder Builder => builder;

    public override RateLimiterStatistics? GetStatistics(HttpContext resource) => Statistics();

    /// <summary>The limiter's statistics as a whole (they do not depend on the request); zeros before its first decision.</summary>
    public RateLimiterStatistics Statistics() => _inner?.GetStatistics(default!) ?? new RateLimiterStatistics();

    protected override RateLimitLease AttemptAcquireCore(HttpContext resource, int permitCount) => QuotaLease.Synchronous;

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(HttpContext resource, int permitCount, CancellationToken cancellationToken)
    {
        var lease = await Inner(resource.RequestServices).AcquireAsync(resource, permitCount, cancellationToken);
        if (lease.IsAcquired && !resource.Response.HasStarted)
        {
            QuotaRejection.WriteHeaders(resource.Response, lease, retryAfter: false);
        }

        return lease;
    }

    internal QuotaPartitionedRateLimiter<HttpContext> Inner(IServiceProvider services) =>
        _inner ?? Interlocked.CompareExchange(ref _inner, Create(services), null) ?? _inner;

    private QuotaPartitionedRateLimiter<HttpContext> Create(IServiceProvider services)
    {
        var client = services.GetService<IQuotaClient>()
            ?? throw new InvalidOperationException("No IQuotaClient is registered: call builder.AddQuotaClient() (Quota.Client) before using a Quota rate-limiting policy.");
        var shared = services.GetService<IOptions<QuotaRateLimiterOptions>>()?.Value ?? new QuotaRateLimiterOptions();
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger("Quota.AspNetCore.RateLimiting");
        return new QuotaPartitionedRateLimiter<HttpContext>(client, builder.Subjects(), builder.PrioritySelector, builder.Options(shared, name), services.GetService<TimeProvider>(), logger);
    }
}

/// <summary>
/// An endpoint policy (<c>RequireRateLimiting(name)</c>): one partition per policy whose limiter hands the current
/// request (through <see cref="IHttpContextAccessor"/>) to the policy's <see cref="QuotaHttpLimiter"/>. One limiter,
/// never idle, never disposed by the middleware: Quota holds the per-subject state, not the app.
/// </summary>
internal sealed class QuotaRateLimiterPolicy(QuotaHttpLimiter limiter) : IRateLimiterPolicy<string>
{
    private CurrentRequestLimiter? _partition;

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; } = (context, token) => QuotaRejection.WriteAsync(context, limiter.Builder, token);

    public RateLimitPartition<string> GetPartition(HttpContext httpContext)
    {
        var partition = _partition ??= new CurrentRequestLimiter(limiter, httpContext.RequestServices.GetService<IHttpContextAccessor>()
            ?? throw new InvalidOperationException("No IHttpContextAccessor is registered: call builder.AddQuotaRateLimiting() (Quota.AspNetCore)."));
        return RateLimitPartition.Get(limiter.Name, _ => partition);
    }

    private sealed class CurrentRequestLimiter(QuotaHttpLimiter limiter, IHttpContextAccessor accessor) : RateLimiter
    {
        public override TimeSpan? IdleDuration => null;

        public override RateLimiterStatistics? GetStatistics() => limiter.Statistics();

        protected override RateLimitLease AttemptAcquireCore(int permitCount) => QuotaLease.Synchronous;

        protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
            limiter.AcquireAsync(accessor.HttpContext ?? throw new InvalidOperationException("A Quota policy was asked outside an HTTP request."), permitCount, cancellationToken);
    }
}
