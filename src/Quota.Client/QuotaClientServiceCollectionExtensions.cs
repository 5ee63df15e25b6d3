using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Quota.Client;

/// <summary>Where the cluster is and how to reach it; bound from the <c>Quota:Client</c> configuration section.</summary>
public sealed class QuotaClientOptions
{
    /// <summary>The configuration section the client's options are read from: <c>Quota:Client</c>.</summary>
    public const string SectionName = "Quota:Client";

    /// <summary>The gateway used when none is given: the embedded silo's, <c>127.0.0.1:30000</c>.</summary>
    public const string DefaultGateway = "127.0.0.1:30000";

    /// <summary>
    /// Silo gateways as <c>host:port</c> (<c>Quota:Client:Gateways:0</c>, <c>:1</c>, ...). A host name stands for every
    /// address it resolves to when the client starts. Empty (the default): <see cref="DefaultGateway"/>.
    /// </summary>
    public IList<string> Gateways { get; } = [];

    /// <summary>The cluster id. Default: <c>quota</c> (as the silo's <c>Quota:Cluster:ClusterId</c>).</summary>
    public string ClusterId { get; set; } = "quota";

    /// <summary>The service id. Default: <c>quota</c> (as the silo's <c>Quota:Cluster:ServiceId</c>).</summary>
    public string ServiceId { get; set; } = "quota";

    /// <summary>How long a call may take, waits included. Default: 30 seconds; keep it above the silo's maximum wait.</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Decisions in flight above which decisions naming one user or one resource, and not waiting, are sent in
    /// batches: one message to a coordinator grain per batch instead of one per decision, formed from whatever is queued
    /// when the previous send has gone (no timer, no added delay). Default: 8. 0 batches every such decision; null sends
    /// each on its own. Decisions are the same either way; under load a batch costs the client and the silo far less
    /// CPU per decision (docs/benchmarks.md), while a decision on its own has one hop fewer.
    /// </summary>
    public int? BatchAbove { get; set; } = 8;
}

/// <summary>Adds the Quota client to an application.</summary>
public static class QuotaClientServiceCollectionExtensions
{
    /// <summary>
    /// Adds an Orleans client connected to the Quota cluster and <see cref="IQuotaClient"/> on top of it, with options
    /// read from the application's configuration (<see cref="QuotaClientOptions.SectionName"/>: command line,
    /// environment variables such as <c>Quota__Client__Gateways__0</c>, appsettings), then
    /// <paramref name="configure"/>, then checked: every problem is reported at once. The options in force are
    /// available as <c>IOptions&lt;QuotaClientOptions&gt;</c>.
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names each one and how to fix it).</exception>
    public static IHostApplicationBuilder AddQuotaClient(this IHostApplicationBuilder builder, Action<QuotaClientOptions>? configure = null)
    {
        builder.Services.AddQuotaClient(builder.Configuration, configure);
        return builder;
    }

    /// <summary>
    /// Adds the Quota client with options set in code only (defaults: the embedded silo's gateway, cluster and service
    /// <c>quota</c>). See <see cref="AddQuotaClient(IHostApplicationBuilder, Action{QuotaClientOptions}?)"/> to read
    /// them from configuration.
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names each one and how to fix it).</exception>
    public static IServiceCollection AddQuotaClient(this IServiceCollection services, Action<QuotaClientOptions>? configure = null) =>
        services.AddQuotaClient(null, configure);

    /// <summary>
    /// Adds the Quota client with options read from <paramref name="configuration"/>'s
    /// <see cref="QuotaClientOptions.SectionName"/> section (when given), then <paramref name="configure"/>.
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names each one and how to fix it).</exception>
    public static IServiceCollection AddQuotaClient(this IServiceCollection services, IConfiguration? configuration, Action<QuotaClientOptions>? configure = null)
    {
        var options = new QuotaClientOptions();
        configuration?.GetSection(QuotaClientOptions.SectionName).Bind(options);
        configure?.Invoke(options);
        var gateways = Validate(options);
        services.AddOrleansClient(client =>
        {
            client.UseStaticClustering(gateways);
            client.Configure<ClusterOptions>(cluster =>
            {
                cluster.ClusterId = options.ClusterId;
                cluster.ServiceId = options.ServiceId;
            });
            client.Configure<ClientMessagingOptions>(messaging =>
            {
                messaging.ResponseTimeout = options.ResponseTimeout;

                // See the silo side: a cancelled wait still learns whether it was granted.
                messaging.WaitForCancellationAcknowledgement = true;
            });
        });
        services.TryAddSingleton(Options.Create(options));
        services.TryAddSingleton<IQuotaClient>(provider => new QuotaClient(provider.GetRequiredService<IClusterClient>(), options.BatchAbove));
        return services;
    }

    /// <summary>Checks the options, reporting every problem at once; answers the gateways' endpoints.</summary>
    private static IPEndPoint[] Validate(QuotaClientOptions options)
    {
        var problems = new List<string>();
        var gateways = ResolveGateways(options, problems);
        if (options.BatchAbove < 0)
        {
            problems.Add($"BatchAbove must be 0 or more decisions in flight, or null for no batching (got {options.BatchAbove}).");
        }

        if (options.ResponseTimeout <= TimeSpan.Zero)
        {
            problems.Add($"ResponseTimeout must be positive, e.g. 00:00:30 (got {options.ResponseTimeout}).");
        }

        foreach (var (name, value) in new[] { ("ClusterId", options.ClusterId), ("ServiceId", options.ServiceId) })
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                problems.Add($"{name} must name the cluster as the silos' Quota:Cluster:{name} does (default: quota).");
            }
        }

        return problems.Count == 0
            ? gateways
            : throw new ArgumentException(
                $"The Quota client's options ({QuotaClientOptions.SectionName}) are invalid: " + string.Join(" ", problems), "configure");
    }

    /// <summary>Every gateway's endpoints (all the addresses a host name resolves to), or problems naming the bad ones.</summary>
    private static IPEndPoint[] ResolveGateways(QuotaClientOptions options, List<string> problems)
    {
        var endpoints = new List<IPEndPoint>();
        var configured = options.Gateways.Count > 0 ? options.Gateways : [QuotaClientOptions.DefaultGateway];
        for (var i = 0; i < configured.Count; i++)
        {
            var gateway = configured[i] ?? "";
            if (IPEndPoint.TryParse(gateway, out var endpoint) && endpoint.Port != 0)
            {
                endpoints.Add(endpoint);
                continue;
            }

            var colon = gateway.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(gateway.AsSpan(colon + 1), out var port) || port is <= 0 or >= 65536)
            {
                problems.Add($"Gateways:{i} '{gateway}' is not host:port, e.g. 127.0.0.1:30000 or quota-gateway:30000.");
                continue;
            }

            try
            {
                var addresses = Dns.GetHostAddresses(gateway[..colon]);
                if (addresses.Length == 0)
                {
                    problems.Add($"Gateways:{i} '{gateway}': the host resolves to no address.");
                }

                endpoints.AddRange(addresses.Select(a => new IPEndPoint(a, port)));
            }
            catch (SocketException error)
            {
                problems.Add($"Gateways:{i} '{gateway}': the host could not be resolved ({error.SocketErrorCode}); check the name.");
            }
        }

        return [.. endpoints.Distinct()];
    }
}
