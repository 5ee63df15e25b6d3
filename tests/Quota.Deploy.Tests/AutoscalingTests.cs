using System.Diagnostics;
using System.Text;
using Quota.Grains;
using Quota.Testing;
using YamlDotNet.RepresentationModel;

namespace Quota.Deploy.Tests;

/// <summary>
/// <c>deploy/autoscaling/queue-worker-scaledobject.yaml</c>, the KEDA example of docs/queues.md: a ScaledObject whose
/// Prometheus trigger reads the queue gauge a silo really exports (<c>QueueMetricsTests</c> scrapes it from a real
/// silo), with a query promtool parses. No KEDA runs here: the file is read, not applied.
/// </summary>
public sealed class AutoscalingTests
{
    private static readonly string File = Path.Combine(SiloProcess.Build().Root, "deploy", "autoscaling", "queue-worker-scaledobject.yaml");

    [Fact]
    public void The_scaled_object_scales_a_worker_deployment_on_the_queue_s_desired_workers()
    {
        var root = Load();

        Assert.Equal("keda.sh/v1alpha1", Scalar(root, "apiVersion"));
        Assert.Equal("ScaledObject", Scalar(root, "kind"));
        var spec = (YamlMappingNode)root["spec"];
        Assert.Equal("audit-worker", Scalar((YamlMappingNode)spec["scaleTargetRef"], "name"));
        Assert.Equal("0", Scalar(spec, "minReplicaCount"));
        Assert.Equal("10", Scalar(spec, "maxReplicaCount"));
        var trigger = (YamlMappingNode)Assert.Single(((YamlSequenceNode)spec["triggers"]).Children);
        Assert.Equal("prometheus", Scalar(trigger, "type"));
        Assert.Equal("AverageValue", Scalar(trigger, "metricType"));
        var metadata = (YamlMappingNode)trigger["metadata"];

        // The gauge's Prometheus name and label: quota.queue.desired_workers with the quota.queue tag.
        Assert.Equal("quota.queue", QuotaInstruments.QueueTag);
        Assert.Equal("max(quota_queue_desired_workers{quota_queue=\"audit\"})", Scalar(metadata, "query"));
        Assert.Equal("1", Scalar(metadata, "threshold"));
        Assert.StartsWith("http://", Scalar(metadata, "serverAddress"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Promtool_parses_the_trigger_s_query()
    {
        var query = Scalar((YamlMappingNode)((YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)Load()["spec"])["triggers"]).Children[0])["metadata"], "query");
        var rules = Path.Combine(Path.GetTempPath(), $"quota-keda-{Guid.NewGuid():N}.yml");
        await System.IO.File.WriteAllTextAsync(rules, new StringBuilder("groups:\n  - name: keda\n    rules:\n      - record: keda:query\n        expr: '")
            .Append(query.Replace("'", "''", StringComparison.Ordinal)).Append("'\n").ToString(), TestContext.Current.CancellationToken);
        try
        {
            var start = new ProcessStartInfo("promtool") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in (string[])["check", "rules", rules])
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start) ?? throw new InvalidOperationException("promtool did not start; .ci/run installs Debian's prometheus package, which brings it.");
            var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken) + await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);

            Assert.True(process.ExitCode == 0, output);
            Assert.Contains("SUCCESS: 1 rules found", output, StringComparison.Ordinal);
        }
        finally
        {
            System.IO.File.Delete(rules);
        }
    }

    private static YamlMappingNode Load()
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(File);
        stream.Load(reader);
        return (YamlMappingNode)Assert.Single(stream.Documents).RootNode;
    }

    private static string Scalar(YamlMappingNode node, string key) =>
        ((YamlScalarNode)node[key]).Value ?? throw new InvalidOperationException($"{File}: {key} has no value.");
}
