using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Quota.Grains;
using Quota.Grains.Configuration;

namespace Quota.Server.Hosting;

/// <summary>
/// The silo's OpenTelemetry: the service is named <see cref="ServiceName"/>; metrics (Quota's, Orleans', ASP.NET Core's
/// request duration and Kestrel's, the .NET runtime's and process's) are scraped at <c>/metrics</c>; traces (ASP.NET
/// Core's requests, Orleans' grain calls, Quota's decisions) are exported over OTLP when an endpoint is configured
/// (<see cref="TelemetryOptions.OtlpEndpoint"/> or <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>), and not collected otherwise.
/// </summary>
public static class QuotaTelemetry
{
    /// <summary>The <c>service.name</c> resource attribute (Prometheus' <c>target_info</c>, every exported span).</summary>
    public const string ServiceName = "quota";

    /// <summary>The meters exported besides Quota's own.</summary>
    /// <remarks>
    /// <c>System.Runtime</c> is the runtime's built-in meter (GC, JIT, thread pool, exceptions, and the process's CPU time
    /// and working set as <c>dotnet.process.*</c>); <c>Microsoft.AspNetCore.Hosting</c> has <c>http.server.request.duration</c>.
    /// </remarks>
    internal static readonly string[] Meters =
    [
        QuotaInstruments.MeterName,
        "Microsoft.Orleans",
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "System.Runtime",
    ];

    /// <summary>The activity sources traced besides ASP.NET Core's (through its instrumentation).</summary>
    internal static readonly string[] Sources = [QuotaActivities.SourceName, "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application"];

    /// <summary>Adds metrics with the Prometheus exporter, and tracing with OTLP export when an endpoint is configured.</summary>
    public static IServiceCollection AddQuotaTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ServiceName, serviceVersion: typeof(QuotaTelemetry).Assembly.GetName().Version?.ToString()))
            .WithMetrics(metrics => metrics.AddMeter(Meters).AddPrometheusExporter());

        // Unreadable values are reported at start by TelemetryOptionsValidator; here they mean "not configured".
        Uri.TryCreate(configuration[$"{TelemetryOptions.SectionName}:OtlpEndpoint"], UriKind.Absolute, out var endpoint);
        var protocol = configuration[$"{TelemetryOptions.SectionName}:OtlpProtocol"];
        if (!TracingConfigured(configuration))
        {
            // No collector: no tracer provider, so no activity is created (ActivitySource.StartActivity returns null).
            return services;
        }

        telemetry.WithTracing(tracing => tracing
            .AddSource(Sources)
            .AddAspNetCoreInstrumentation(aspNetCore => aspNetCore.Filter = context => !IsScrapeOrProbe(context.Request.Path))
            .AddOtlpExporter(otlp =>
            {
                if (endpoint is not null)
                {
                    otlp.Protocol = protocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;

                    // With http/protobuf the signal's path is ours to add when the endpoint is set in code.
                    otlp.Endpoint = otlp.Protocol == OtlpExportProtocol.HttpProtobuf && endpoint.AbsolutePath.TrimEnd('/').Length == 0
                        ? new Uri(endpoint, "v1/traces")
                        : endpoint;
                }
            }));
        return services;
    }

    /// <summary>
    /// Whether traces are collected: an OTLP endpoint is set (<c>Quota:Telemetry:OtlpEndpoint</c>, or
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> in configuration or the environment). Without one no tracer provider is made,
    /// and grain calls carry no trace (Orleans' propagation filters would cost every call for nothing).
    /// </summary>
    internal static bool TracingConfigured(IConfiguration configuration) =>
        Uri.TryCreate(configuration[$"{TelemetryOptions.SectionName}:OtlpEndpoint"], UriKind.Absolute, out _)
        || !string.IsNullOrEmpty(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT"));

    /// <summary>Scrapes and probes are frequent and say nothing about decisions: they are not traced.</summary>
    private static bool IsScrapeOrProbe(Microsoft.AspNetCore.Http.PathString path) =>
        path.StartsWithSegments("/metrics") || path.StartsWithSegments(QuotaApplicationExtensions.LivenessPath) || path.StartsWithSegments(QuotaApplicationExtensions.ReadinessPath);
}
