using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Quota.Testing;

namespace Quota.Deploy.Tests;

/// <summary>
/// The operations assets under <c>deploy/monitoring</c>: the Prometheus alert rules pass <c>promtool check rules</c> and
/// their unit tests (<c>promtool test rules</c>: each alert fires when and as it should), the Grafana dashboard's
/// queries are valid PromQL, and every metric the two use is one a real silo exports. promtool comes from Debian's
/// <c>prometheus</c> package (.ci/run installs it).
/// </summary>
public sealed partial class MonitoringTests
{
    private static readonly string Directory = Path.Combine(SiloProcess.Build().Root, "deploy", "monitoring");
    private static readonly string Rules = Path.Combine(Directory, "quota-alerts.yml");
    private static readonly string Dashboard = Path.Combine(Directory, "grafana-dashboard.json");

    [Fact]
    public async Task Promtool_accepts_the_alert_rules()
    {
        var (code, output) = await PromtoolAsync(Directory, "check", "rules", Rules);

        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS: 6 rules found", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Alerts_fire_as_their_unit_tests_say()
    {
        var (code, output) = await PromtoolAsync(Directory, "test", "rules", "quota-alerts.test.yml");

        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dashboard_queries_are_valid_promql()
    {
        var expressions = DashboardExpressions();
        Assert.True(expressions.Count >= 15, $"The dashboard has {expressions.Count} queries.");

        // promtool parses PromQL in rule files: every query becomes a recording rule ($__rate_interval is Grafana's).
        var file = Path.Combine(Path.GetTempPath(), $"quota-dashboard-{Guid.NewGuid():N}.yml");
        var yaml = new StringBuilder("groups:\n  - name: dashboard\n    rules:\n");
        for (var i = 0; i < expressions.Count; i++)
        {
            var expr = expressions[i].Replace("$__rate_interval", "5m", StringComparison.Ordinal).Replace("$job", ".*", StringComparison.Ordinal);
            yaml.Append(System.Globalization.CultureInfo.InvariantCulture, $"      - record: dashboard:query{i}\n        expr: '{expr.Replace("'", "''", StringComparison.Ordinal)}'\n");
        }

        await File.WriteAllTextAsync(file, yaml.ToString(), TestContext.Current.CancellationToken);
        try
        {
            var (code, output) = await PromtoolAsync(Directory, "check", "rules", file);
            Assert.True(code == 0, output);
            Assert.Contains($"SUCCESS: {expressions.Count} rules found", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Every_metric_the_assets_use_is_exported_by_a_real_silo()
    {
        await using var silo = await SiloProcess.StartAsync(
        [
            "--Quota:Policies:Resources:0:Name=mon-slot",
            "--Quota:Policies:Resources:0:Policies:0:Name=in-flight",
            "--Quota:Policies:Resources:0:Policies:0:Algorithm=concurrency",
            "--Quota:Policies:Resources:0:Policies:0:Limit=1",
            "--Quota:Policies:Resources:0:Policies:0:LeaseTtl=01:00:00",
        ]);
        var http = silo.Http;
        var ct = TestContext.Current.CancellationToken;

        // A token used and its circuit opened (5 failures in a row, the default threshold); a caller that waited.
        Expect(await http.PutAsync("/v1/admin/upstreams/mon", Json("{\"bufferPercent\":5}"), ct), HttpStatusCode.OK);
        Expect(await http.PutAsync("/v1/admin/upstreams/mon/tokens/t1", Json("{\"policies\":[{\"name\":\"per-minute\",\"algorithm\":\"fixed-window\",\"limit\":10,\"window\":\"00:01:00\"}]}"), ct), HttpStatusCode.OK);
        Expect(await http.PostAsync("/v1/acquire", Json("{\"upstream\":\"mon\"}"), ct), HttpStatusCode.OK);
        for (var i = 0; i < 5; i++)
        {
            Expect(await http.PostAsync("/v1/feedback", Json("{\"upstream\":\"mon\",\"token\":\"t1\",\"status\":503}"), ct), HttpStatusCode.OK);
        }

        Expect(await http.PostAsync("/v1/acquire", Json("{\"resources\":[\"mon-slot\"]}"), ct), HttpStatusCode.OK);
        Expect(await http.PostAsync("/v1/acquire", Json("{\"resources\":[\"mon-slot\"],\"maxWaitMs\":100}"), ct), HttpStatusCode.TooManyRequests);

        var scrape = await (await http.GetAsync("/metrics", ct)).Content.ReadAsStringAsync(ct);
        var families = ExportedFamilies().Matches(scrape).Select(m => m.Groups[1].Value).ToHashSet();
        var labels = LabelNames().Matches(scrape).Select(m => m.Groups[1].Value).ToHashSet();

        var used = DashboardExpressions().Append(await File.ReadAllTextAsync(Rules, ct))
            .SelectMany(text => MetricLike().Matches(text).Select(m => m.Value))
            .Where(name => !labels.Contains(name))
            .Select(name => SeriesSuffix().Replace(name, ""))
            .ToHashSet();

        // Shedding needs an overloaded silo: OverloadTests (Quota.Http.Tests) reads quota_shed_total from one.
        used.Remove("quota_shed_total");
        Assert.Contains("quota_token_utilization", used);
        Assert.Empty(used.Where(name => !families.Contains(name)).Select(name => $"{name} is used by deploy/monitoring but not exported"));
    }

    private static List<string> DashboardExpressions()
    {
        var dashboard = JsonNode.Parse(File.ReadAllText(Dashboard))!;
        return [.. ((JsonArray)dashboard["panels"]!)
            .SelectMany(panel => panel!["targets"] as JsonArray ?? [])
            .Select(target => target!["expr"]!.GetValue<string>())];
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static void Expect(HttpResponseMessage response, HttpStatusCode status) =>
        Assert.True(response.StatusCode == status, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}, expected {(int)status}: {response.Content.ReadAsStringAsync().Result}");

    private static async Task<(int Code, string Output)> PromtoolAsync(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo("promtool") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("promtool did not start; .ci/run installs Debian's prometheus package, which brings it.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>A metric family in Prometheus text: its <c># TYPE</c> line.</summary>
    [GeneratedRegex("^# TYPE ([a-z0-9_]+) ", RegexOptions.Multiline)]
    private static partial Regex ExportedFamilies();

    [GeneratedRegex("[{,]([a-z0-9_]+)=\"")]
    private static partial Regex LabelNames();

    [GeneratedRegex("\\b(?:quota|dotnet|http)_[a-z0-9_]+")]
    private static partial Regex MetricLike();

    [GeneratedRegex("_(?:bucket|sum|count)$")]
    private static partial Regex SeriesSuffix();
}
