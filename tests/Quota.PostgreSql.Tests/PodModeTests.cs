using System.Globalization;
using Npgsql;
using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>
/// The silo in a pod, as deploy/k8s runs it: a real silo process in the PostgreSQL mode with the downward API's
/// variables (POD_NAME, POD_NAMESPACE, POD_IP) that the manifests set. No Kubernetes API server runs here, so these
/// tests also pin what pod mode does without one: the silo starts and serves, and says it runs without the agent.
/// </summary>
public sealed class PodModeTests(PostgresFixture postgres)
{
    private const string PodName = "quota-5d8f7c9b4-x2kqz";
    private const string PodNamespace = "quota-tests";

    // Loopback, so the test binds nothing outside this machine, but not 127.0.0.1, the address a silo advertises when
    // nothing sets one: the membership row can only say 127.0.0.2 if the pod's IP was used.
    private const string PodAddress = "127.0.0.2";

    private static Dictionary<string, string?> Pod(string? name = PodName, string? @namespace = PodNamespace, string? address = PodAddress) => new()
    {
        ["POD_NAME"] = name,
        ["POD_NAMESPACE"] = @namespace,
        ["POD_IP"] = address,

        // What Kubernetes adds to every pod; absent here, as is the service account token, so the agent cannot start.
        ["KUBERNETES_SERVICE_HOST"] = null,
        ["KUBERNETES_SERVICE_PORT"] = null,
    };

    [Fact]
    public async Task A_silo_in_a_pod_is_named_after_the_pod_and_advertises_the_pods_address()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());

        // The manifests leave ListenAddress unset (every interface, in the pod's own network namespace); here the
        // ports stay on the pod's loopback address.
        await using var silo = await SiloProcess.StartAsync(cluster.Settings($"--Quota:Cluster:ListenAddress={PodAddress}"), cluster.ClusterId, Pod());

        var rows = await MembershipAsync(cluster);
        var row = Assert.Single(rows);
        Assert.Equal((PodName, PodAddress, silo.SiloPort, silo.GatewayPort, 3), row);

        Assert.Contains(silo.StartOutput, line => line.Contains($"Pod mode: silo {PodName} in namespace {PodNamespace} advertises {PodAddress}, silo and gateway ports listen on {PodAddress}", StringComparison.Ordinal));
        Assert.True(await DurableCluster.AcquireAsync(silo.Http, new { user = "pod-user" }), silo.LogTail());
        Assert.Equal("ready\n", await silo.Http.GetStringAsync(new Uri("/readyz", UriKind.Relative)));
    }

    [Fact]
    public async Task Without_a_Kubernetes_API_server_the_silo_serves_and_says_it_runs_without_the_agent()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        await using var silo = await SiloProcess.StartAsync(cluster.Settings($"--Quota:Cluster:ListenAddress={PodAddress}"), cluster.ClusterId, Pod());

        // The agent is started once the silo is active, in the background: wait for its verdict, bounded.
        var verdict = await WaitForLineAsync(silo, "Kubernetes cluster agent", TimeSpan.FromSeconds(30));
        Assert.Contains("Kubernetes cluster agent unavailable (KubeConfigException", verdict, StringComparison.Ordinal);
        Assert.Contains("the silo runs without it", verdict, StringComparison.Ordinal);
        Assert.True(await DurableCluster.AcquireAsync(silo.Http, new { user = "pod-user" }), silo.LogTail());

        // A graceful stop (the kubelet's SIGTERM) still leaves the cluster: the row says Dead (6), not Active.
        await silo.StopGracefullyAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, silo.ExitCode);
        Assert.Equal(6, Assert.Single(await MembershipAsync(cluster)).Status);
    }

    [Fact]
    public async Task Some_pod_variables_without_the_others_stop_the_silo_naming_the_missing_ones()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());

        var (exitCode, output) = await SiloProcess.RunToExitAsync(cluster.Settings(), Pod(@namespace: null, address: "10.0.0.300"));

        Assert.Equal(1, exitCode);
        Assert.Contains("- POD_NAMESPACE is not set, but POD_NAME and POD_IP are: in a pod set all of POD_NAME, POD_NAMESPACE, POD_IP from the downward API", output, StringComparison.Ordinal);
        Assert.Contains("- POD_IP is '10.0.0.300', which is not an IP address; set it from the downward API (fieldRef: status.podIP).", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_embedded_default_in_a_pod_warns_that_each_pod_is_a_cluster_of_its_own()
    {
        await using var silo = await SiloProcess.StartAsync([], environment: Pod());

        Assert.Contains(silo.StartOutput, line => line.Contains("POD_NAME is set but the storage is memory: the embedded default's clustering is loopback, so every pod is a cluster of its own", StringComparison.Ordinal));
        Assert.DoesNotContain(silo.StartOutput, line => line.Contains("Pod mode:", StringComparison.Ordinal));
    }

    private static async Task<List<(string Name, string Address, int Port, int ProxyPort, int Status)>> MembershipAsync(DurableCluster cluster)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT silo_name, address, port, proxy_port, status FROM orleans_membership WHERE deployment_id = @cluster", connection);
        command.Parameters.AddWithValue("cluster", cluster.ClusterId);
        var rows = new List<(string, string, int, int, int)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4)));
        }

        return rows;
    }

    /// <summary>The first output line containing <paramref name="text"/>, waiting at most <paramref name="timeout"/> for it.</summary>
    private static async Task<string> WaitForLineAsync(SiloProcess silo, string text, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        do
        {
            if (silo.Output.FirstOrDefault(line => line.Contains(text, StringComparison.Ordinal)) is { } line)
            {
                return line;
            }
        }
        while (!deadline.IsCancellationRequested && await tick.WaitForNextTickAsync(CancellationToken.None) && !deadline.IsCancellationRequested);

        throw new TimeoutException($"No line containing '{text}' within {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s.{Environment.NewLine}{silo.LogTail()}");
    }
}
