using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quota.Client;

namespace Quota.PostgreSql.Tests.Infrastructure;

/// <summary>
/// An app with the Quota client in this test process, configured as an app would be: the <c>Quota:Client</c> section
/// and <c>ConnectionStrings:Quota</c>. It counts the gateways the Orleans client is connected to, from the client's own
/// <c>orleans-client-connected-gateways</c> instrument (only this app's, not another test's client).
/// </summary>
public sealed class ClusterClient : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly MeterListener _listener = new();
    private readonly Lock _lock = new();
    private long _connectedGateways;

    private ClusterClient(IHost host)
    {
        _host = host;
        var meters = host.Services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == "orleans-client-connected-gateways" && ReferenceEquals(instrument.Meter.Scope, meters))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => { lock (_lock) { _connectedGateways = value; } });
        _listener.SetMeasurementEventCallback<int>((_, value, _, _) => { lock (_lock) { _connectedGateways = value; } });
        _listener.Start();
    }

    /// <summary>The client.</summary>
    public IQuotaClient Quota => _host.Services.GetRequiredService<IQuotaClient>();

    /// <summary>Gateways the Orleans client is connected to now.</summary>
    public long ConnectedGateways
    {
        get
        {
            _listener.RecordObservableInstruments();
            lock (_lock)
            {
                return _connectedGateways;
            }
        }
    }

    /// <summary>
    /// Starts a client of <paramref name="cluster"/> given only its database: <c>Quota:Client:Clustering=postgres</c>,
    /// <c>ConnectionStrings:Quota</c>, the cluster id, and <paramref name="settings"/> (<c>Quota:Client:…</c> keys).
    /// </summary>
    public static async Task<ClusterClient> StartAsync(DurableCluster cluster, params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(
        [
            KeyValuePair.Create("Quota:Client:Clustering", (string?)"postgres"),
            KeyValuePair.Create("ConnectionStrings:Quota", (string?)cluster.ConnectionString),
            KeyValuePair.Create("Quota:Client:ClusterId", (string?)cluster.ClusterId),
            .. settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value)),
        ]);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddQuotaClient();
        var host = builder.Build();
        var client = new ClusterClient(host);
        try
        {
            using var start = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await host.StartAsync(start.Token);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until the client is connected to <paramref name="expected"/> gateways; false if it is not within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForGatewaysAsync(long expected, TimeSpan timeout)
    {
        // Polls the client's own gauge: Orleans raises no event when it connects to a gateway.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (ConnectedGateways == expected)
            {
                return true;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        return ConnectedGateways == expected;
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        try
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _host.StopAsync(stop.Token);
        }
        catch (OperationCanceledException)
        {
            // Stopping a client whose gateways are gone may not finish; the host is disposed anyway.
        }
        finally
        {
            _host.Dispose();
        }
    }
}
