using System.Globalization;
using Quota.Abstractions;
using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>
/// A client configured with only the cluster's database (<c>Quota:Client:Clustering=postgres</c> and
/// <c>ConnectionStrings:Quota</c>) follows the cluster through its membership table: it reaches it, connects to a silo
/// that joins after it started and sends it calls, and drops a silo that stops gracefully without a failed call.
/// </summary>
public sealed class ClientClusteringTests(PostgresFixture postgres)
{
    [Fact]
    public async Task A_client_given_only_the_database_reaches_the_cluster_and_sends_calls_to_a_silo_that_joins_later()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var first = await cluster.StartSiloAsync();
        await using var client = await ClusterClient.StartAsync(cluster, ("Quota:Client:GatewayListRefreshPeriod", "00:00:01"), ("Quota:Client:BatchAbove", ""));

        Assert.True((await client.Quota.AcquireAsync(new AcquireRequest { User = "before-join" })).Allowed);
        Assert.Equal(1, client.ConnectedGateways);

        var second = await cluster.StartSiloAsync();

        // The client learns of the silo from the membership table (every second here) and connects to a gateway when it
        // first sends through it, so calls go on until it has.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; client.ConnectedGateways < 2 && clock.Elapsed < TimeSpan.FromSeconds(30); i++)
        {
            Assert.True((await client.Quota.AcquireAsync(new AcquireRequest { User = $"joining-{i % 100}" })).Allowed);
        }

        Assert.True(client.ConnectedGateways == 2, $"the client is connected to {client.ConnectedGateways} gateways, not 2, 30 s after a second silo joined");

        var before = await GatewayReceivedAsync(second);
        for (var i = 0; i < 200; i++)
        {
            Assert.True((await client.Quota.AcquireAsync(new AcquireRequest { User = $"spread-{i}" })).Allowed, $"spread-{i} was denied");
        }

        var received = await GatewayReceivedAsync(second) - before;
        TestContext.Current.TestOutputHelper?.WriteLine($"the silo that joined received {received} of 200 calls through its gateway");
        Assert.True(received > 0, $"the silo that joined received no call through its gateway:\n{await MetricLinesAsync(second, "orleans_gateway")}");
    }

    [Fact]
    public async Task A_silo_that_stops_gracefully_is_dropped_by_the_client_and_no_call_fails()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var staying = await cluster.StartSiloAsync();
        var leaving = await cluster.StartSiloAsync();
        await using var client = await ClusterClient.StartAsync(cluster, ("Quota:Client:GatewayListRefreshPeriod", "00:00:01"));
        Assert.True(await client.WaitForGatewaysAsync(2, TimeSpan.FromSeconds(30)), $"the client is connected to {client.ConnectedGateways} gateways, not 2");

        var failures = new List<string>();
        var answered = 0;
        using var stopLoad = new CancellationTokenSource();
        async Task LoadAsync(int worker)
        {
            for (var i = 0; !stopLoad.IsCancellationRequested; i++)
            {
                try
                {
                    await client.Quota.AcquireAsync(new AcquireRequest { User = $"leave-{worker}-{i % 50}" });
                    Interlocked.Increment(ref answered);
                }
                catch (Exception e)
                {
                    lock (failures)
                    {
                        failures.Add($"{e.GetType().Name}: {e.Message}");
                    }
                }
            }
        }

        var load = Enumerable.Range(0, 8).Select(w => Task.Run(() => LoadAsync(w))).ToArray();
        await leaving.StopGracefullyAsync(TimeSpan.FromSeconds(60));
        var atStop = Volatile.Read(ref answered);
        Assert.True(await client.WaitForGatewaysAsync(1, TimeSpan.FromSeconds(30)), $"the client is still connected to {client.ConnectedGateways} gateways 30 s after one stopped");

        // The load goes on through the silo that stays.
        var afterDrop = Volatile.Read(ref answered);
        while (Volatile.Read(ref answered) < afterDrop + 200 && failures.Count == 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }

        await stopLoad.CancelAsync();
        await Task.WhenAll(load);
        TestContext.Current.TestOutputHelper?.WriteLine($"{answered} calls answered, {atStop} before the stop completed; exit code {leaving.ExitCode}");
        Assert.Empty(failures.Distinct().Take(10));
        Assert.Equal(0, leaving.ExitCode);
        Assert.Equal(1, await cluster.ActiveSilosAsync());
    }

    /// <summary>The messages a silo's gateway received from clients (<c>orleans_gateway_received</c> in its /metrics).</summary>
    internal static async Task<long> GatewayReceivedAsync(SiloProcess silo)
    {
        var text = await silo.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        return text.Split('\n')
            .Where(l => l.StartsWith("orleans_gateway_received", StringComparison.Ordinal))
            .Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }

    /// <summary>User subjects active on the silo, from its <c>quota_subjects_active{kind="user"}</c> series.</summary>
    internal static async Task<long> ActiveUsersAsync(SiloProcess silo)
    {
        var text = await silo.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        var line = text.Split('\n').SingleOrDefault(l => l.StartsWith("quota_subjects_active{", StringComparison.Ordinal) && l.Contains("kind=\"user\"", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line[(line.IndexOf('}', StringComparison.Ordinal) + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    private static async Task<string> MetricLinesAsync(SiloProcess silo, string prefix) =>
        string.Join('\n', (await silo.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative))).Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)));
}
