using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// Operating a host without an admin token, from this machine (loopback): the admin API and the dashboard are open
/// to local callers; /metrics is Prometheus text with bounded labels.
/// </summary>
[Collection(ConfiguredHostCollection.Name)]
public sealed partial class OperationsTests(ConfiguredSilo host) : HostTest(host)
{
    [Fact]
    public async Task Dashboard_answers_html_to_loopback_callers_without_a_token()
    {
        var reply = (await Api.Get("/dashboard")).Expect(HttpStatusCode.OK);

        Assert.Equal("text/html", reply.MediaType);
        Assert.Contains("<html", reply.Body, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Admin_api_answers_loopback_callers_without_a_token()
    {
        var user = Ids.User();

        (await Api.PutUser(user, Policies.FixedWindow("m", 1))).Expect(HttpStatusCode.OK);
        (await Api.Acquire(new { user })).Expect(HttpStatusCode.OK);
        (await Api.Acquire(new { user })).Expect(HttpStatusCode.TooManyRequests);
        Assert.Single(await Api.Changes($"user:{user}"));
    }

    [Fact]
    public async Task Metrics_count_decisions_by_outcome_without_naming_subjects()
    {
        var user = Ids.User();
        var burst = ConfiguredSilo.NewBurst();
        var allowed = Series("quota_decisions_total", ("algorithm", "none"), ("kind", "resource"), ("outcome", "allowed"));
        var denied = Series("quota_decisions_total", ("algorithm", "token-bucket"), ("kind", "resource"), ("outcome", "denied"));
        var tooBig = Series("quota_decisions_total", ("algorithm", "token-bucket"), ("kind", "resource"), ("outcome", "cost_exceeds_limit"));
        var initial = await Api.Metrics();

        for (var i = 0; i < ConfiguredSilo.BurstLimit; i++)
        {
            (await Api.Acquire(new { user, resources = new[] { burst } })).Expect(HttpStatusCode.OK);
        }

        (await Api.Acquire(new { user, resources = new[] { burst } })).Expect(HttpStatusCode.TooManyRequests);
        (await Api.Acquire(new { resources = new[] { Ids.New("test-burst:") }, cost = ConfiguredSilo.BurstLimit + 1 })).ExpectProblem(HttpStatusCode.BadRequest, "cost");

        var text = await Api.MetricsUntil(
            metrics => Value(metrics, allowed) >= Value(initial, allowed) + 3
                && Value(metrics, denied) >= Value(initial, denied) + 1
                && Value(metrics, tooBig) >= Value(initial, tooBig) + 1);

        Assert.Contains("# TYPE quota_decisions_total counter", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE quota_decision_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE quota_subjects_active gauge", text, StringComparison.Ordinal);
        Assert.Matches(SeriesLine("quota_decisions_total", "kind=\"user\",outcome=\"allowed\""), text);
        Assert.Matches(SeriesLine("quota_decision_duration_seconds_count", "kind=\"resource\""), text);
        Assert.Matches(SeriesLine("quota_subjects_active", "kind=\"user\""), text);

        // Labels are bounded: no user or resource name ever becomes a label value.
        Assert.DoesNotContain(user, text, StringComparison.Ordinal);
        Assert.DoesNotContain(burst, text, StringComparison.Ordinal);
        Assert.DoesNotContain("test-burst", text, StringComparison.Ordinal);
        foreach (var line in text.Split('\n').Where(l => l.StartsWith("quota_", StringComparison.Ordinal)))
        {
            foreach (Match label in LabelPattern().Matches(line))
            {
                // quota_upstream and quota_token name configured upstreams and tokens (the token gauges of any test on this host that activated one).
                Assert.Contains(label.Groups[1].Value, (string[])["otel_scope_name", "kind", "outcome", "algorithm", "action", "le", "quota_rate_limiting_policy", "quota_rate_limiting_result", "quota_subject_kind", "quota_upstream", "quota_token"]);
            }
        }
    }

    [Fact]
    public async Task Metrics_count_admin_changes_by_action()
    {
        var set = Series("quota_admin_changes_total", ("action", "set"));
        var reset = Series("quota_admin_changes_total", ("action", "reset"));
        var initial = await Api.Metrics();
        var user = Ids.User();

        (await Api.PutUser(user, Policies.FixedWindow("m", 5))).Expect(HttpStatusCode.OK);
        (await Api.DeleteUser(user)).Expect(HttpStatusCode.OK);

        var text = await Api.MetricsUntil(metrics => Value(metrics, set) >= Value(initial, set) + 1 && Value(metrics, reset) >= Value(initial, reset) + 1);
        Assert.Contains("# TYPE quota_admin_changes_total counter", text, StringComparison.Ordinal);
        Assert.DoesNotContain(user, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_are_prometheus_text()
    {
        var reply = (await Api.Get("/metrics")).Expect(HttpStatusCode.OK);

        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", reply.ContentType);
        Assert.All(reply.Body.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.Matches(ExpositionLine(), line));
    }

    [Fact]
    public async Task Readiness_and_health_answer()
    {
        var ready = (await Api.Get("/readyz")).Expect(HttpStatusCode.OK);
        Assert.Equal("text/plain", ready.MediaType);
        Assert.Equal("ready\n", ready.Body);

        var health = (await Api.Get("/healthz")).Expect(HttpStatusCode.OK);
        Assert.Equal("ok\n", health.Body);
    }

    /// <summary>A series: the metric and its labels besides <c>otel_scope_name</c>, in the exporter's order.</summary>
    private static string Series(string metric, params (string Name, string Value)[] labels) =>
        $"{metric}{{otel_scope_name=\"Quota\",{string.Join(',', labels.Select(l => $"{l.Name}=\"{l.Value}\""))}}}";

    /// <summary>A series' value in a scrape; 0 when absent.</summary>
    private static double Value(string text, string series)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(series.Length + 1)..].Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    private static Regex SeriesLine(string metric, string labels) =>
        new($"(?m)^{Regex.Escape(metric)}\\{{[^}}]*{Regex.Escape(labels)}[^}}]*\\}} [0-9.eE+-]+( [0-9]+)?$");

    [GeneratedRegex("[{,]([a-z_]+)=\"")]
    private static partial Regex LabelPattern();

    /// <summary>A line of the Prometheus text format: a comment (# TYPE, # HELP, # EOF) or a sample.</summary>
    [GeneratedRegex("^(# (TYPE|HELP) [a-zA-Z_:][a-zA-Z0-9_:]* .+|# EOF|[a-zA-Z_:][a-zA-Z0-9_:]*(\\{.*\\})? ([-+]?[0-9.eE+-]+|NaN|[+-]Inf)( [0-9]+)?)$")]
    private static partial Regex ExpositionLine();
}
