using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace Quota.Client;

/// <summary>Where the cluster is and how to reach it.</summary>
public sealed class QuotaClientOptions
{
    /// <summary>Silo gateways as <c>host:port</c>. Default: <c>127.0.0.1:30000</c> (the embedded silo).</summary>
    public IList<string> Gateways { get; } = ["127.0.0.1:30000"];

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
    /// Adds an Orleans client connected to the Quota cluster and <see cref="IQuotaClient"/> on top of it.
    /// </summary>
    /// <exception cref="ArgumentException">A gateway is not <c>host:port</c>.</exception>
    public static IServiceCollection AddQuotaClient(this IServiceCollection services, Action<QuotaClientOptions>? configure = null)
    {
        var options = new QuotaClientOptions();
        configure?.Invoke(options);
        if (options.BatchAbove < 0)
        {
            throw new ArgumentException($"BatchAbove must be 0 or more decisions in flight, or null for no batching (got {options.BatchAbove}).", nameof(configure));
        }

        var gateways = options.Gateways.Select(ParseGateway).ToArray();
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
        services.TryAddSingleton<IQuotaClient>(provider => new QuotaClient(provider.GetRequiredService<IClusterClient>(), options.BatchAbove));
        return services;
    }

    private static IPEndPoint ParseGateway(string gateway)
    {
        if (IPEndPoint.TryParse(gateway, out var endpoint) && endpoint.Port != 0)
        {
            return endpoint;
        }

        var colon = gateway.LastIndexOf(':');
        if (colon > 0 && int.TryParse(gateway.AsSpan(colon + 1), out var port) && port is > 0 and < 65536)
        {
            var addresses = Dns.GetHostAddresses(gateway[..colon]);
            if (addresses.Length > 0)
            {
                return new IPEndPoint(addresses[0], port);
            }
        }

        throw new ArgumentException($"Gateway '{gateway}' is not host:port, e.g. 127.0.0.1:30000.", nameof(gateway));
    }
}
