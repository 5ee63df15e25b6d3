using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Quota.RateLimiting;

namespace Quota.AspNetCore;

/// <summary>Adds Quota-backed policies and a global limiter to ASP.NET Core's rate limiting.</summary>
public static class QuotaRateLimitingExtensions
{
    /// <summary>
    /// Binds the shared limiter options from <c>Quota:RateLimiting</c> (<see cref="QuotaRateLimiterOptions"/>), checks
    /// them at start (every problem at once), and adds what Quota policies need (<see cref="IHttpContextAccessor"/>).
    /// Call it beside <c>builder.AddQuotaClient()</c>.
    /// </summary>
    public static IHostApplicationBuilder AddQuotaRateLimiting(this IHostApplicationBuilder builder, Action<QuotaRateLimiterOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddQuotaRateLimiting(builder.Configuration, configure);
        return builder;
    }

    /// <summary>As <see cref="AddQuotaRateLimiting(IHostApplicationBuilder, Action{QuotaRateLimiterOptions}?)"/>, reading <paramref name="configuration"/> when given.</summary>
    public static IServiceCollection AddQuotaRateLimiting(this IServiceCollection services, IConfiguration? configuration, Action<QuotaRateLimiterOptions>? configure = null)
    {
        var options = services.AddOptions<QuotaRateLimiterOptions>();
        if (configuration is not null)
        {
            options.Bind(configuration.GetSection(QuotaRateLimiterOptions.SectionName));
        }

        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<QuotaRateLimiterOptions>, QuotaRateLimiterOptionsValidator>());
        services.AddHttpContextAccessor();
        return services;
    }

    /// <summary>
    /// Adds the endpoint policy <paramref name="policyName"/> (<c>RequireRateLimiting(policyName)</c>,
    /// <c>[EnableRateLimiting]</c>) decided by Quota for the subjects <paramref name="configure"/> names. Refusals are
    /// written by <see cref="QuotaRejection"/>; admitted responses carry <c>RateLimit-Policy</c> and <c>RateLimit</c>.
    /// </summary>
    public static RateLimiterOptions AddQuotaPolicy(this RateLimiterOptions options, string policyName, Action<QuotaPolicyBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(policyName);
        return options.AddPolicy(policyName, new QuotaRateLimiterPolicy(new QuotaHttpLimiter(policyName, Build(configure))));
    }

    /// <summary>
    /// Makes Quota the global limiter (every request, before any endpoint policy) for the subjects
    /// <paramref name="configure"/> names, answering refusals with <see cref="QuotaRejection"/> unless
    /// <see cref="RateLimiterOptions.OnRejected"/> is already set. Its metrics carry the limiter name <c>global</c>.
    /// </summary>
    public static RateLimiterOptions AddQuotaGlobalLimiter(this RateLimiterOptions options, Action<QuotaPolicyBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.GlobalLimiter = new QuotaHttpLimiter("global", Build(configure));
        options.OnRejected ??= QuotaRejection.WriteAsync;
        options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        return options;
    }

    private static QuotaPolicyBuilder Build(Action<QuotaPolicyBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var builder = new QuotaPolicyBuilder();
        configure(builder);
        return builder;
    }
}
