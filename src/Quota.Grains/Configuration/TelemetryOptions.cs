using Microsoft.Extensions.Options;

namespace Quota.Grains.Configuration;

/// <summary>
/// What Quota reports about itself (<c>Quota:Telemetry</c>): the near-limit signal and the cardinality bound of the
/// per-policy decision counts, and where traces go over OTLP.
/// </summary>
public sealed class TelemetryOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Telemetry";

    /// <summary>
    /// An allowed decision counts as near its policy's limit (<c>quota.rate_limiting.near_limit</c>) when the policy's
    /// use after it, (limit − remaining) / limit, is at least this ratio. From 0 (exclusive) to 1. Default: 0.9.
    /// </summary>
    public double NearLimitRatio { get; set; } = 0.9;

    /// <summary>
    /// The most distinct policy names the per-policy counts carry as a label; decisions under further names are counted
    /// under <c>other</c>, so a configuration with many policies cannot flood the metrics. From 1 to 10,000. Default: 100.
    /// </summary>
    public int MaxPolicyNames { get; set; } = 100;

    /// <summary>
    /// The most queues a silo exports gauges for (<c>quota.queue.*</c>, labelled by queue name); a queue activated after
    /// that many are exported is not, so many queues cannot flood the metrics. From 1 to 10,000. Default: 100.
    /// </summary>
    public int MaxQueueNames { get; set; } = 100;

    /// <summary>
    /// The OTLP endpoint traces are exported to, e.g. <c>http://127.0.0.1:4318</c> for OTLP/HTTP (protobuf). Unset: the
    /// standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> environment variable decides, and with neither nothing is exported.
    /// Default: unset.
    /// </summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary>
    /// The OTLP transport for <see cref="OtlpEndpoint"/>: <c>http/protobuf</c> or <c>grpc</c>. Unset: the standard
    /// <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, else <c>http/protobuf</c>. Default: unset.
    /// </summary>
    public string? OtlpProtocol { get; set; }
}

/// <summary>Checks <see cref="TelemetryOptions"/> at start, naming every bad setting.</summary>
public sealed class TelemetryOptionsValidator : IValidateOptions<TelemetryOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TelemetryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = TelemetryOptions.SectionName;
        var errors = new List<string>();
        if (!(options.NearLimitRatio > 0 && options.NearLimitRatio <= 1))
        {
            errors.Add($"{S}:NearLimitRatio must be above 0 and at most 1 (got {options.NearLimitRatio}); the default is 0.9 (90% of a policy's limit used).");
        }

        if (options.MaxPolicyNames is < 1 or > 10_000)
        {
            errors.Add($"{S}:MaxPolicyNames must be from 1 to 10000 (got {options.MaxPolicyNames}); the default is 100.");
        }

        if (options.MaxQueueNames is < 1 or > 10_000)
        {
            errors.Add($"{S}:MaxQueueNames must be from 1 to 10000 (got {options.MaxQueueNames}); the default is 100.");
        }

        if (options.OtlpEndpoint is { } endpoint && (!endpoint.IsAbsoluteUri || endpoint.Scheme is not ("http" or "https")))
        {
            errors.Add($"{S}:OtlpEndpoint must be an absolute http or https URL such as http://127.0.0.1:4318 (got '{endpoint}').");
        }

        if (options.OtlpProtocol is { } protocol && protocol is not ("http/protobuf" or "grpc"))
        {
            errors.Add($"{S}:OtlpProtocol must be http/protobuf or grpc (got '{protocol}'); leave it unset for http/protobuf.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
