using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// A silo that exports the gauges of at most two queues (<c>Quota:Telemetry:MaxQueueNames=2</c>), whose per-policy
/// counts keep at most two policy names (<c>Quota:Telemetry:MaxPolicyNames=2</c>) and count
/// a decision near the limit from half of it (<c>NearLimitRatio=0.5</c>), with three resource patterns each under its
/// own policy: <c>tm-alpha:*</c> (fixed window, 4 an hour, policy <c>alpha</c>), <c>tm-beta:*</c> (<c>beta</c>, the same),
/// <c>tm-gamma:*</c> (<c>gamma</c>, the same) and <c>tm-slot:*</c> (concurrency 1, also a policy named <c>beta</c>).
/// </summary>
public sealed class TelemetrySilo : SiloFixture
{
    public const int Limit = 4;

    protected override IEnumerable<string> Settings =>
    [
        "--Quota:Telemetry:MaxPolicyNames=2",
        "--Quota:Telemetry:NearLimitRatio=0.5",
        "--Quota:Telemetry:MaxQueueNames=2",
        .. Resource(0, "tm-alpha:*", "alpha", "fixed-window", ("Limit", $"{Limit}"), ("Window", "01:00:00")),
        .. Resource(1, "tm-beta:*", "beta", "fixed-window", ("Limit", $"{Limit}"), ("Window", "01:00:00")),
        .. Resource(2, "tm-gamma:*", "gamma", "fixed-window", ("Limit", $"{Limit}"), ("Window", "01:00:00")),
        .. Resource(3, "tm-slot:*", "beta", "concurrency", ("Limit", "1"), ("LeaseTtl", "01:00:00")),
    ];

    private static IEnumerable<string> Resource(int index, string name, string policy, string algorithm, params (string Key, string Value)[] settings)
    {
        var prefix = $"--Quota:Policies:Resources:{index}";
        yield return $"{prefix}:Name={name}";
        yield return $"{prefix}:Policies:0:Name={policy}";
        yield return $"{prefix}:Policies:0:Algorithm={algorithm}";
        foreach (var (key, value) in settings)
        {
            yield return $"{prefix}:Policies:0:{key}={value}";
        }
    }
}

[CollectionDefinition(Name)]
public sealed class TelemetryHostCollection : ICollectionFixture<TelemetrySilo>
{
    public const string Name = "telemetry host";
}

/// <summary>
/// The real <c>/metrics</c> of a real silo: the service is named <c>quota</c>; per-policy decision counts
/// (<c>quota.rate_limiting.*</c>) with bounded labels; time waited in queues; ASP.NET Core's request duration; the
/// runtime's and the process's metrics. Only <c>gamma</c> is ever used after both <c>alpha</c> and <c>beta</c>, so
/// whatever order the tests run in, those two are the names kept and <c>gamma</c> is folded into <c>other</c>.
/// </summary>
[Collection(TelemetryHostCollection.Name)]
public sealed class TelemetryMetricsTests(TelemetrySilo host) : HostTest(host)
{
    [Fact]
    public async Task Service_is_named_quota_in_target_info()
    {
        var text = await Api.Metrics();

        Assert.Matches(new Regex("^target_info\\{[^}]*service_name=\"quota\"[^}]*\\} 1$", RegexOptions.Multiline), text);
    }

    [Fact]
    public async Task Policies_count_acquired_denied_and_near_limit_per_policy_and_kind()
    {
        var alpha = Ids.New("tm-alpha:");
        var acquired = Series("quota_rate_limiting_requests_total", "alpha", "acquired");
        var denied = Series("quota_rate_limiting_requests_total", "alpha", "denied");
        var near = Series("quota_rate_limiting_near_limit_total", "alpha", null);
        var initial = await Api.Metrics();

        // 1 of 4 used: not near; 2, 3 and 4 of 4: at or above half, near; the fifth is denied by alpha.
        for (var i = 0; i < TelemetrySilo.Limit; i++)
        {
            (await Api.Acquire(new { resources = new[] { alpha } })).Expect(HttpStatusCode.OK);
        }

        (await Api.Acquire(new { resources = new[] { alpha } })).Expect(HttpStatusCode.TooManyRequests);

        var text = await Api.MetricsUntil(metrics => Value(metrics, denied) >= Value(initial, denied) + 1);
        Assert.Equal(Value(initial, acquired) + 4, Value(text, acquired));
        Assert.Equal(Value(initial, near) + 3, Value(text, near));
        Assert.Equal(Value(initial, denied) + 1, Value(text, denied));
        Assert.DoesNotContain(alpha, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Policy_names_past_the_cap_are_counted_as_other()
    {
        var other = Series("quota_rate_limiting_requests_total", "other", "acquired");
        var initial = await Api.Metrics();

        (await Api.Acquire(new { resources = new[] { Ids.New("tm-alpha:") } })).Expect(HttpStatusCode.OK);
        (await Api.Acquire(new { resources = new[] { Ids.New("tm-beta:") } })).Expect(HttpStatusCode.OK);
        (await Api.Acquire(new { resources = new[] { Ids.New("tm-gamma:") } })).Expect(HttpStatusCode.OK);

        var text = await Api.MetricsUntil(metrics => Value(metrics, other) >= Value(initial, other) + 1);
        Assert.Equal(Value(initial, other) + 1, Value(text, other));
        Assert.Contains("quota_rate_limiting_policy=\"beta\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("quota_rate_limiting_policy=\"gamma\"", text, StringComparison.Ordinal);
        var policies = Regex.Matches(text, "quota_rate_limiting_policy=\"([^\"]*)\"").Select(m => m.Groups[1].Value).Distinct().Order().ToArray();
        Assert.Equal(["alpha", "beta", "other"], policies);
    }

    [Fact]
    public async Task Time_waited_in_a_queue_is_recorded_by_kind_and_result()
    {
        var slot = Ids.New("tm-slot:");
        var count = $"quota_rate_limiting_request_time_in_queue_seconds_count{{otel_scope_name=\"Quota\",quota_rate_limiting_result=\"denied\",quota_subject_kind=\"resource\"}}";
        var sum = count.Replace("_count{", "_sum{", StringComparison.Ordinal);
        var initial = await Api.Metrics();

        (await Api.Acquire(new { resources = new[] { slot } })).Expect(HttpStatusCode.OK);

        // The slot is held: this caller waits its whole 300 ms in the subject's queue and is denied at its deadline.
        (await Api.Acquire(new { resources = new[] { slot }, maxWaitMs = 300 })).Expect(HttpStatusCode.TooManyRequests);

        var text = await Api.MetricsUntil(metrics => Value(metrics, count) >= Value(initial, count) + 1);
        Assert.Equal(Value(initial, count) + 1, Value(text, count));
        Assert.InRange(Value(text, sum) - Value(initial, sum), 0.3, 5);
    }

    [Fact]
    public async Task Request_duration_runtime_and_process_metrics_are_exported()
    {
        (await Api.Acquire(new { resources = new[] { "tm-never-configured" } })).Expect(HttpStatusCode.NotFound);

        // Other tests of this class acquire too: wait for this request's own series (recorded once it was answered).
        var notFound = new Regex("^http_server_request_duration_seconds_count\\{[^}]*http_request_method=\"POST\",http_response_status_code=\"404\",http_route=\"/v1/acquire\"[^}]*\\} [1-9]", RegexOptions.Multiline);
        var text = await Api.MetricsUntil(notFound.IsMatch);

        Assert.Contains("# TYPE http_server_request_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Matches(notFound, text);
        foreach (var metric in (string[])["dotnet_process_cpu_time_seconds_total", "dotnet_process_memory_working_set_bytes", "dotnet_gc_heap_total_allocated_bytes_total", "dotnet_thread_pool_thread_count_total"])
        {
            Assert.Matches(new Regex($"^{metric}\\{{[^}}]*otel_scope_name=\"System.Runtime\"", RegexOptions.Multiline), text);
        }
    }

    /// <summary>A per-policy series of a resource's policy (labels in the exporter's order).</summary>
    private static string Series(string metric, string policy, string? result) => result is null
        ? $"{metric}{{otel_scope_name=\"Quota\",quota_rate_limiting_policy=\"{policy}\",quota_subject_kind=\"resource\"}}"
        : $"{metric}{{otel_scope_name=\"Quota\",quota_rate_limiting_policy=\"{policy}\",quota_rate_limiting_result=\"{result}\",quota_subject_kind=\"resource\"}}";

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
}
