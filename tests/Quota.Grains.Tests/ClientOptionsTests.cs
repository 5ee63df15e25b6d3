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
            ("Quota:Client:AnswerTimeout", "-00:00:01"),
            ("Quota:Client:BatchAbove", "-1"));

        var error = Assert.Throws<ArgumentException>(() => builder.AddQuotaClient());

        Assert.Equal(
            "The Quota client's options (Quota:Client) are invalid: "
            + "Gateways:0 'no-port' is not host:port, e.g. 127.0.0.1:30000 or quota-gateway:30000. "
            + "Gateways:1 '127.0.0.1:99999' is not host:port, e.g. 127.0.0.1:30000 or quota-gateway:30000. "
            + "BatchAbove must be 0 or more decisions in flight, or null for no batching (got -1). "
            + "ResponseTimeout must be positive, e.g. 00:00:30 (got 00:00:00). "
            + "AnswerTimeout must be positive and at most ResponseTimeout (00:00:00), e.g. 00:00:05 (got -00:00:01). "
            + "ClusterId must name the cluster as the silos' Quota:Cluster:ClusterId does (default: quota). (Parameter 'configure')",
            error.Message);
    }

    [Fact]
    public void Postgres_clustering_reads_the_silos_connection_string_and_the_refresh_period()
    {
        var builder = Builder(
            ("Quota:Client:Clustering", "postgres"),
            ("Quota:Client:GatewayListRefreshPeriod", "00:00:03"),
            ("ConnectionStrings:Quota", "Host=db;Database=quota;Username=app"));

        builder.AddQuotaClient();
        using var provider = builder.Services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<QuotaClientOptions>>().Value;
        Assert.Equal((QuotaClientClustering.Postgres, "Host=db;Database=quota;Username=app"), (options.Clustering, options.ConnectionString));
        var adoNet = provider.GetRequiredService<IOptions<AdoNetClusteringClientOptions>>().Value;
        Assert.Equal(("Npgsql", "Host=db;Database=quota;Username=app"), (adoNet.Invariant, adoNet.ConnectionString));
        Assert.Equal(TimeSpan.FromSeconds(3), provider.GetRequiredService<IOptions<GatewayOptions>>().Value.GatewayListRefreshPeriod);
        Assert.Empty(provider.GetRequiredService<IOptions<StaticGatewayListProviderOptions>>().Value.Gateways);
    }

    [Fact]
    public void The_client_section_connection_string_overrides_the_silos_name_and_the_default_refresh_is_ten_seconds()
    {
        var builder = Builder(
            ("Quota:Client:Clustering", "Postgres"),
            ("Quota:Client:ConnectionString", "Host=quota-db;Database=quota"),
            ("ConnectionStrings:Quota", "Host=app-db;Database=app"));

        builder.AddQuotaClient();
        using var provider = builder.Services.BuildServiceProvider();

        Assert.Equal("Host=quota-db;Database=quota", provider.GetRequiredService<IOptions<AdoNetClusteringClientOptions>>().Value.ConnectionString);
        Assert.Equal(TimeSpan.FromSeconds(10), provider.GetRequiredService<IOptions<GatewayOptions>>().Value.GatewayListRefreshPeriod);
    }

    [Fact]
    public void Postgres_clustering_problems_are_named_at_once_without_the_connection_string()
    {
        var missing = Assert.Throws<ArgumentException>(() => Builder(
            ("Quota:Client:Clustering", "postgres"),
            ("Quota:Client:Gateways:0", "10.0.0.5:30000"),
            ("Quota:Client:GatewayListRefreshPeriod", "00:00:00.5")).AddQuotaClient());
        var malformed = Assert.Throws<ArgumentException>(() => Builder(
            ("Quota:Client:Clustering", "postgres"),
            ("ConnectionStrings:Quota", "Host=db;Password=hunter2;Bogus")).AddQuotaClient());

        Assert.Equal(
            "The Quota client's options (Quota:Client) are invalid: "
            + "Clustering is postgres but no connection string is set: set ConnectionStrings:Quota (environment: ConnectionStrings__Quota) "
            + "to the silos' Npgsql connection string, e.g. Host=db;Port=5432;Database=quota;Username=quota;Password=…. "
            + "GatewayListRefreshPeriod must be from 00:00:01 to 01:00:00 (got 00:00:00.5000000); the default is 00:00:10. "
            + "Gateways are listed but Clustering is postgres, which finds them in the membership table: remove Gateways, or set Clustering to static. "
            + "(Parameter 'configure')",
            missing.Message);
        Assert.Equal(
            "The Quota client's options (Quota:Client) are invalid: "
            + "The connection string (ConnectionStrings:Quota) is not a valid Npgsql connection string: write Key=Value pairs separated by ';' "
            + "(Host, Port, Database, Username, Password), and quote a value that contains ';' or '=' in double quotes. (Parameter 'configure')",
            malformed.Message);
        Assert.DoesNotContain("hunter2", malformed.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("consul")]
    [InlineData("1")]
    [InlineData("")]
    public void An_unknown_clustering_is_named_with_every_other_problem(string clustering)
    {
        var builder = Builder(("Quota:Client:Clustering", clustering), ("Quota:Client:BatchAbove", "-2"));

        var error = Assert.Throws<ArgumentException>(() => builder.AddQuotaClient());

        Assert.Equal(
            "The Quota client's options (Quota:Client) are invalid: "
            + $"Clustering '{clustering}' is unknown: use static (Gateways) or postgres (ConnectionStrings:Quota, as the silos). "
            + "BatchAbove must be 0 or more decisions in flight, or null for no batching (got -2). (Parameter 'configure')",
            error.Message);
    }
}
