using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Quota.Abstractions;
using Quota.Client;
using Quota.Testing;

namespace Quota.Integrations.Tests.Infrastructure;

/// <summary>One real silo process and an in-process Orleans client connected to it (as an app would have).</summary>
public sealed class QuotaCluster : IAsyncDisposable
{
    private QuotaCluster(SiloProcess silo, string clusterId, IHost client)
    {
        Silo = silo;
        ClusterId = clusterId;
        ClientHost = client;
        Client = client.Services.GetRequiredService<IQuotaClient>();
    }

    public SiloProcess Silo { get; }

    public string ClusterId { get; }

    public IHost ClientHost { get; }

    public IQuotaClient Client { get; }

    /// <summary>The client's gateway setting for the silo, as a sample's command line takes it.</summary>
    public string Gateway => $"127.0.0.1:{Silo.GatewayPort}";

    public static async Task<QuotaCluster> StartAsync()
    {
        var clusterId = $"integrations-{Guid.NewGuid():N}";
        var silo = await SiloProcess.StartAsync([], clusterId);
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddQuotaClient(options =>
        {
            options.Gateways.Add($"127.0.0.1:{silo.GatewayPort}");
            options.ClusterId = clusterId;
            options.ResponseTimeout = TimeSpan.FromSeconds(30);
        });
        var host = builder.Build();
        await host.StartAsync();
        return new QuotaCluster(silo, clusterId, host);
    }

    /// <summary>Configures a resource's policies through the admin API (loopback callers may administer without a token).</summary>
    public async Task PutResourceAsync(string name, object policy)
    {
        using var response = await Silo.Http.PutAsJsonAsync(new Uri($"/v1/admin/resources/{name}", UriKind.Relative), new { policies = new[] { policy } });
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"PUT resource {name}: {response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>Polls a subject's usage until <paramref name="condition"/> holds, failing after 15 s with the last usage seen.</summary>
    public async Task<UsageReport> UsageWhenAsync(SubjectKind kind, string id, Func<UsageReport, bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        UsageReport usage;
        while (!condition(usage = await Client.GetUsageAsync(kind, id, timeout.Token)))
        {
            await Task.Delay(20, timeout.Token);
        }

        return usage;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await ClientHost.StopAsync(TimeSpan.FromSeconds(5));
        }
        catch (OperationCanceledException)
        {
            // A client whose silo was killed may not stop cleanly within the timeout.
        }

        ClientHost.Dispose();
        await Silo.DisposeAsync();
    }
}

/// <summary>One cluster for a test class.</summary>
public sealed class QuotaClusterFixture : IAsyncLifetime
{
    private QuotaCluster? _cluster;

    public QuotaCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster has not started.");

    public async ValueTask InitializeAsync()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), io);
        _cluster = await QuotaCluster.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
