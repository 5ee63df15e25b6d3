using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quota.Client;

namespace Quota.Outbound;

/// <summary>Puts Quota in front of an upstream an <c>HttpClient</c> calls.</summary>
public static class QuotaUpstreamHttpClientBuilderExtensions
{
    /// <summary>
    /// Adds a <see cref="QuotaUpstreamHandler"/> to the client: every request (every attempt, when added after
    /// <c>AddStandardResilienceHandler()</c>) takes a permit of <paramref name="upstream"/> and the token Quota chooses,
    /// carries its credential, and reports the answer. Options: <paramref name="upstream"/>, then the configuration
    /// section <c>Quota:Outbound:{client name}</c> (when an <see cref="IConfiguration"/> is registered), then
    /// <paramref name="configure"/>; validated when the host starts, every problem at once. Needs
    /// <see cref="IQuotaClient"/> (<c>AddQuotaClient()</c>).
    /// </summary>
    /// <remarks>
    /// It replaces the client's IHttpClientFactory loggers (<c>System.Net.Http.HttpClient.{name}.*</c>) with one that
    /// logs each attempt's method, URL without query and status, under <c>Quota.Outbound.HttpClient.{name}</c>: the
    /// default ones pass raw header values to structured log sinks at Trace level. Loggers added after this call are
    /// kept.
    /// </remarks>
    /// <param name="builder">The client's builder (<c>services.AddHttpClient("baselinker")</c>).</param>
    /// <param name="upstream">The Quota upstream, e.g. <c>baselinker</c>.</param>
    /// <param name="configure">Sets the tenant, the credential's placement, the wait, ... in code.</param>
    public static IHttpClientBuilder AddQuotaUpstream(this IHttpClientBuilder builder, string upstream, Action<QuotaUpstreamOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(upstream);
        var name = builder.Name;
        builder.Services.AddOptions<QuotaUpstreamOptions>(name)
            .Configure<IServiceProvider>((options, services) =>
            {
                options.Upstream = upstream;
                services.GetService<IConfiguration>()?.GetSection($"{QuotaUpstreamOptions.SectionName}:{name}").Bind(options);
                configure?.Invoke(options);
            })
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<QuotaUpstreamOptions>>(new QuotaUpstreamOptionsValidator(name));
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.AddHttpMessageHandler(services => new QuotaUpstreamHandler(
            services.GetRequiredService<IQuotaClient>(),
            services.GetRequiredService<IOptionsMonitor<QuotaUpstreamOptions>>().Get(name),
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<ILogger<QuotaUpstreamHandler>>()));

        // The factory's default loggers would hand the credential to structured sinks (see QuotaUpstreamHttpLogger).
        builder.RemoveAllLoggers().AddLogger(
            services => new QuotaUpstreamHttpLogger(services.GetRequiredService<ILoggerFactory>().CreateLogger($"Quota.Outbound.HttpClient.{name}")),
            wrapHandlersPipeline: false);
        return builder;
    }
}
