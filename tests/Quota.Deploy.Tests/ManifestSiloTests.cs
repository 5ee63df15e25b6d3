using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using k8s.Models;
using Npgsql;
using Quota.Deploy.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.Deploy.Tests;

/// <summary>
/// The production overlay's pod, as far as it can run here without Kubernetes: a real silo process given exactly the
/// environment the rendered Deployment gives its container (values, the generated Secret's keys, the downward API's
/// fields) and the ConfigMap's policies document. Only what must differ on one machine is replaced: the database (a
/// throwaway PostgreSQL), the ports (free loopback ports), the pod's IP (127.0.0.2, loopback) and where the policies
/// file lies. It must start in pod mode, answer the manifest's probes, admit the Secret's admin token, apply the
/// ConfigMap's policies, and leave within the grace period the manifest gives it.
/// </summary>
public sealed class ManifestSiloTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string PodName = "quota-silo-6c9d5f7b8-k2xqp";
    private const string PodAddress = "127.0.0.2";

    [Fact]
    public async Task The_production_pod_environment_starts_a_silo_that_serves_its_probes_secrets_and_policies()
    {
        var rendered = RenderedOverlay.Get("production");
        var deployment = rendered.Single<V1Deployment>();
        var pod = deployment.Spec.Template.Spec;
        var container = Assert.Single(pod.Containers);
        var secret = rendered.Single<V1Secret>();
        var configMap = rendered.Single<V1ConfigMap>();
        var database = await postgres.Server.CreateDatabaseAsync();
        var policiesDirectory = Directory.CreateTempSubdirectory("quota-policies-");
        try
        {
            var environment = new Dictionary<string, string?>
            {
                // Kubernetes sets these in every pod; absent here, so the agent runs without an API server (and says so).
                ["KUBERNETES_SERVICE_HOST"] = null,
                ["KUBERNETES_SERVICE_PORT"] = null,
            };
            foreach (var variable in container.Env)
            {
                environment[variable.Name] = variable switch
                {
                    { Value: { } value } => value,
                    { ValueFrom.SecretKeyRef: { } key } => Encoding.UTF8.GetString(secret.Data[key.Key]),
                    { ValueFrom.FieldRef.FieldPath: "metadata.name" } => PodName,
                    { ValueFrom.FieldRef.FieldPath: "metadata.namespace" } => deployment.Metadata.NamespaceProperty,
                    { ValueFrom.FieldRef.FieldPath: "status.podIP" } => PodAddress,
                    _ => throw new InvalidOperationException($"The test does not know how Kubernetes fills {variable.Name}."),
                };
            }

            // The volume: the ConfigMap's file at the manifest's file name, in a directory of this machine.
            var mount = Assert.Single(container.VolumeMounts);
            var (fileName, document) = Assert.Single(configMap.Data);
            Assert.Equal(Path.Combine(mount.MountPath, fileName), environment["Quota__PoliciesFile"]);
            var policiesFile = Path.Combine(policiesDirectory.FullName, fileName);
            await File.WriteAllTextAsync(policiesFile, document);
            environment["Quota__PoliciesFile"] = policiesFile;

            Assert.Equal(RenderedOverlay.ConnectionString, environment["ConnectionStrings__Quota"]);
            environment["ConnectionStrings__Quota"] = database;
            var adminToken = environment["Quota__Admin__Token"]!;
            var clusterId = environment["Quota__Cluster__ClusterId"]!;

            // The command line wins over the environment: ports and the listen address stay on loopback.
            await using var silo = await SiloProcess.StartAsync([$"--Quota:Cluster:ListenAddress={PodAddress}"], clusterId, environment);

            Assert.Contains(silo.StartOutput, line => line.Contains($"Pod mode: silo {PodName} in namespace quota advertises {PodAddress}", StringComparison.Ordinal));
            Assert.Equal((PodName, PodAddress, 3), await MembershipRowAsync(database, clusterId));
            foreach (var probe in new[] { container.StartupProbe, container.LivenessProbe, container.ReadinessProbe })
            {
                using var response = await silo.Http.GetAsync(new Uri(probe.HttpGet.Path, UriKind.Relative));
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{probe.HttpGet.Path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }

            using (var anonymous = await silo.Http.GetAsync(new Uri("/v1/admin/users", UriKind.Relative)))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            }

            using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/v1/admin/users", UriKind.Relative)))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
                using var admitted = await silo.Http.SendAsync(request);
                Assert.Equal(HttpStatusCode.OK, admitted.StatusCode);
            }

            // The ConfigMap's document is in force: every user has its per-minute and daily policies.
            using (var usage = JsonDocument.Parse(await silo.Http.GetStringAsync(new Uri("/v1/usage/user/manifest-user", UriKind.Relative))))
            {
                var limits = usage.RootElement.GetProperty("policies").EnumerateArray()
                    .Select(p => (p.GetProperty("policy").GetString(), p.GetProperty("limit").GetInt64())).OrderBy(p => p.Item1, StringComparer.Ordinal).ToArray();
                Assert.Equal([("daily", 10000L), ("per-minute", 100L)], limits);
            }

            // SIGTERM, as the kubelet sends it after the preStop pause: the silo must be gone before the rest of the grace period.
            var grace = TimeSpan.FromSeconds(pod.TerminationGracePeriodSeconds!.Value - (container.Lifecycle.PreStop.Sleep.Seconds));
            await silo.StopGracefullyAsync(grace);
            Assert.True(silo.ExitCode == 0, $"The silo should exit 0 within {grace.TotalSeconds} s of SIGTERM; exit code {silo.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}.{Environment.NewLine}{silo.LogTail()}");
            Assert.Equal(6, (await MembershipRowAsync(database, clusterId)).Status);
        }
        finally
        {
            policiesDirectory.Delete(recursive: true);
        }
    }

    private static async Task<(string Name, string Address, int Status)> MembershipRowAsync(string database, string clusterId)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT silo_name, address, status FROM orleans_membership WHERE deployment_id = @cluster", connection);
        command.Parameters.AddWithValue("cluster", clusterId);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), $"No membership row for cluster {clusterId}.");
        var row = (reader.GetString(0), reader.GetString(1), reader.GetInt32(2));
        Assert.False(await reader.ReadAsync(), $"More than one membership row for cluster {clusterId}.");
        return row;
    }
}
