using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Quota.Client;

namespace Quota.Grains.Tests;

/// <summary><c>AddQuotaClient</c> reads <c>Quota:Client</c> from the app's configuration, lets code override it, and checks it.</summary>
public sealed class ClientOptionsTests
{
    private static HostApplicationBuilder Builder(params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value)));
        return builder;
    }

    [Fact]
    public void Options_come_from_the_Quota_Client_section()
    {
        var builder = Builder(
            ("Quota:Client:Gateways:0", "10.1.2.3:30001"),
            ("Quota:Client:Gateways:1", "localhost:30002"),
            ("Quota:Client:ClusterId", "prod"),
            ("Quota:Client:ServiceId", "quota-eu"),
            ("Quota:Client:ResponseTimeout", "00:00:45"),
            ("Quota:Client:BatchAbove", "3"));

        builder.AddQuotaClient();
        using var provider = builder.Services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<QuotaClientOptions>>().Value;
        Assert.Equal(["10.1.2.3:30001", "localhost:30002"], options.Gateways);
        Assert.Equal(("prod", "quota-eu", TimeSpan.FromSeconds(45), (int?)3), (options.ClusterId, options.ServiceId, options.ResponseTimeout, options.BatchAbove));
        var cluster = provider.GetRequiredService<IOptions<ClusterOptions>>().Value;
        Assert.Equal(("prod", "quota-eu"), (cluster.ClusterId, cluster.ServiceId));
        Assert.Equal(TimeSpan.FromSeconds(45), provider.GetRequiredService<IOptions<ClientMessagingOptions>>().Value.ResponseTimeout);

        // Every address a host name resolves to is a gateway (localhost: 127.0.0.1 here).
        var gateways = provider.GetRequiredService<IOptions<StaticGatewayListProviderOptions>>().Value.Gateways.Select(g => g.ToString());
        Assert.Equal(["gwy.tcp://10.1.2.3:30001/0", "gwy.tcp://127.0.0.1:30002/0"], gateways);
    }

    [Fact]
    public void Code_overrides_configuration_and_no_gateway_means_the_embedded_silos()
    {
        var builder = Builder(("Quota:Client:ClusterId", "from-config"), ("Quota:Client:BatchAbove", "3"));

        builder.AddQuotaClient(o => o.BatchAbove = null);
        using var provider = builder.Services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<QuotaClientOptions>>().Value;
        Assert.Equal(("from-config", (int?)null), (options.ClusterId, options.BatchAbove));
        var gateways = provider.GetRequiredService<IOptions<StaticGatewayListProviderOptions>>().Value.Gateways.Select(g => g.ToString());
        Assert.Equal(["gwy.tcp://127.0.0.1:30000/0"], gateways);
    }

    [Fact]
    public void Every_invalid_option_is_named_at_once()
    {
        var builder = Builder(
            ("Quota:Client:Gateways:0", "no-port"),
            ("Quota:Client:Gateways:1", "127.0.0.1:99999"),
            ("Quota:Client:ClusterId", " "),
            ("Quota:Client:ResponseTimeout", "00:00:00"),
            ("Quota:Client:BatchAbove", "-1"));

        var error = Assert.Throws<ArgumentException>(() => builder.AddQuotaClient());

        Assert.Equal(
            "The Quota client's options (Quota:Client) are invalid: "
            + "Gateways:0 'no-port' is not host:port, e.g. 127.0.0.1:30000 or quota-gateway:30000. "
            + "Gateways:1 '127.0.0.1:99999' is not host:port, e.g. 127.0.0.1:30000 or quota-gateway:30000. "
            + "BatchAbove must be 0 or more decisions in flight, or null for no batching (got -1). "
            + "ResponseTimeout must be positive, e.g. 00:00:30 (got 00:00:00). "
            + "ClusterId must name the cluster as the silos' Quota:Cluster:ClusterId does (default: quota). (Parameter 'configure')",
            error.Message);
    }
}
