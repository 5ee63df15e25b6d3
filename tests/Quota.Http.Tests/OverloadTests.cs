using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Quota.Http.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.Http.Tests;

/// <summary>
/// A silo with a ceiling of 8 requests in flight (<c>Quota:Limits:MaxRequestsInFlight</c>): low is admitted while
/// fewer than 4 are in flight, normal below 6, high below 7, critical below 8. Requests are held in flight
/// deterministically as waiters on a full concurrency resource, released by abandoning them.
/// </summary>
public sealed class OverloadSilo : SiloFixture
{
    public const int Ceiling = 8;

    protected override IEnumerable<string> Settings =>
    [
        $"--Quota:Limits:MaxRequestsInFlight={Ceiling}",

        // Shedding by queue delay on, at an allowance no test machine reaches, so its gauge is exported.
        "--Quota:Limits:MaxQueueDelay=00:01:00",
        "--Quota:Decisions:MaxWait=00:01:00",
        "--Quota:Policies:Resources:0:Name=slots:*",
        "--Quota:Policies:Resources:0:Policies:0:Name=in-flight",
        "--Quota:Policies:Resources:0:Policies:0:Algorithm=concurrency",
        "--Quota:Policies:Resources:0:Policies:0:Limit=1",
        "--Quota:Policies:Resources:0:Policies:0:LeaseTtl=01:00:00",
        "--Quota:Policies:Resources:1:Name=test-burst:*",
        "--Quota:Policies:Resources:1:Policies:0:Name=per-hour",
        "--Quota:Policies:Resources:1:Policies:0:Algorithm=token-bucket",
        "--Quota:Policies:Resources:1:Policies:0:Limit=3",
        "--Quota:Policies:Resources:1:Policies:0:Window=01:00:00",
    ];
}

[CollectionDefinition(Name)]
public sealed class OverloadHostCollection : ICollectionFixture<OverloadSilo>
{
    public const string Name = "overload host";
}

[Collection(OverloadHostCollection.Name)]
public sealed partial class OverloadTests(OverloadSilo host) : HostTest(host), IAsyncDisposable
{
    private static readonly string[] PriorityNames = ["low", "normal", "high", "critical"];
    private readonly List<(Task<Reply> Reply, CancellationTokenSource Abandon)> _parked = [];
    private string? _slots;

    [Fact]
    public async Task Priorities_are_shed_lowest_first_as_requests_in_flight_rise()
    {
        var before = await Api.Metrics();
        await HoldSlotAsync();

        // Occupancy 4: low is shed (its share is a half of 8); the rest are admitted and decided.
        await ParkAsync(4);
        await ExpectAsync(shed: ["low"], admitted: ["normal", "high", "critical"]);

        // Occupancy 6: normal joins (three quarters of 8).
        await ParkAsync(2);
        await ExpectAsync(shed: ["low", "normal"], admitted: ["high", "critical"]);

        // Occupancy 7: high joins (seven eighths); critical is admitted up to the ceiling itself.
        await ParkAsync(1);
        await ExpectAsync(shed: ["low", "normal", "high"], admitted: ["critical"]);

        // Occupancy 8: the ceiling; everything is shed.
        await ParkAsync(1);
        await ExpectAsync(shed: ["low", "normal", "high", "critical"], admitted: []);

        // Each priority was shed once per stage at or above its share: low 4 times, normal 3, high 2, critical 1.
        var after = await Api.MetricsUntil(text => PriorityNames.Select((p, i) => Shed(text, p) - Shed(before, p) == 4 - i).All(x => x));
        for (var i = 0; i < PriorityNames.Length; i++)
        {
            Assert.Equal(4 - i, Shed(after, PriorityNames[i]) - Shed(before, PriorityNames[i]));
        }
    }

    [Fact]
    public async Task Shed_request_is_503_with_retry_after_and_the_reduced_capacity_problem_and_consumes_nothing()
    {
        var burst = Ids.New("test-burst:");
        await HoldSlotAsync();
        await ParkAsync(4);

        var reply = (await Api.Acquire(new { resources = new[] { burst }, priority = "low" })).Expect(HttpStatusCode.ServiceUnavailable);

        Assert.Equal("application/problem+json", reply.MediaType);
        Assert.Equal("1", reply.Header("Retry-After"));
        Assert.Equal("https://iana.org/assignments/http-problem-types#temporary-reduced-capacity", reply.Json["type"]!.GetValue<string>());
        Assert.Equal(503, reply.Json["status"]!.GetValue<int>());
        Assert.Equal(1000, reply.Json["retryAfterMs"]!.GetValue<long>());
        Assert.Contains("low priority (4 of Quota:Limits:MaxRequestsInFlight=8", reply.Json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Null(reply.Header("Connection"));

        // Nothing was taken: the burst resource still has all 3 (read at normal priority, admitted at 5 of 6).
        Assert.Equal(3, await Api.Remaining("resource", burst, "per-hour"));
    }

    [Fact]
    public async Task Other_v1_requests_count_as_normal_and_health_readiness_and_metrics_answer_at_the_ceiling()
    {
        await HoldSlotAsync();
        await ParkAsync(5);

        // At 5 in flight a normal request is admitted (the 6th place is normal's last).
        (await Api.Usage("resource", _slots!)).Expect(HttpStatusCode.OK);

        await ParkAsync(3);
        var usage = (await Api.Usage("resource", _slots!)).Expect(HttpStatusCode.ServiceUnavailable);
        Assert.Contains("normal priority (6 of", usage.Json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        (await Api.Release(new { leaseId = "whatever" })).Expect(HttpStatusCode.ServiceUnavailable);

        Assert.Equal("ok\n", (await Api.Get("/healthz")).Expect(HttpStatusCode.OK).Body);
        Assert.Equal("ready\n", (await Api.Get("/readyz")).Expect(HttpStatusCode.OK).Body);
        var metrics = (await Api.Get("/metrics")).Expect(HttpStatusCode.OK).Body;
        Assert.Equal(OverloadSilo.Ceiling, Gauge(metrics, "quota_requests_in_flight"));
        Assert.Matches(@"(?m)^quota_queue_delay_seconds\{[^}]*\} [0-9.eE+-]+", metrics);
        Assert.InRange(Gauge(metrics, "quota_queue_delay_seconds"), 0, 60);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, abandon) in _parked)
        {
            await abandon.CancelAsync();
        }

        foreach (var (reply, abandon) in _parked)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reply);
            abandon.Dispose();
        }

        // The gate is shared by every test of this silo: leave it empty.
        await Api.MetricsUntil(text => Gauge(text, "quota_requests_in_flight") == 0);
    }

    /// <summary>Takes a fresh concurrency resource's only permit, so requests for it wait.</summary>
    private async Task HoldSlotAsync()
    {
        _slots = Ids.New("slots:");
        (await Api.Acquire(new { resources = new[] { _slots } })).Expect(HttpStatusCode.OK);
    }

    /// <summary>Parks <paramref name="count"/> more critical waiters on the held resource and waits until the gate counts them.</summary>
    private async Task ParkAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var abandon = new CancellationTokenSource();
            _parked.Add((Api.AcquireAbandonable(new { resources = new[] { _slots }, priority = "critical", maxWaitMs = 60_000 }, abandon.Token), abandon));
        }

        await Api.MetricsUntil(text => Gauge(text, "quota_requests_in_flight") == _parked.Count);
        Assert.All(_parked, p => Assert.False(p.Reply.IsCompleted, "A parked request was answered instead of waiting."));
    }

    /// <summary>One acquire of a fresh user at each priority, one at a time: the named ones shed, the others decided.</summary>
    private async Task ExpectAsync(string[] shed, string[] admitted)
    {
        Assert.Equal(PriorityNames.Order(), shed.Concat(admitted).Order());
        foreach (var priority in PriorityNames)
        {
            var reply = await Api.Acquire(new { user = Ids.User(), priority });
            var expected = shed.Contains(priority) ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK;
            Assert.True(reply.Status == expected, $"At {_parked.Count} in flight a {priority} request got {(int)reply.Status}, not {(int)expected}: {reply.Body}");
        }
    }

    /// <summary>quota_shed_total for reason in_flight at <paramref name="priority"/>; 0 when absent.</summary>
    private static double Shed(string text, string priority) =>
        Sample(text, "quota_shed_total", $"priority=\"{priority}\"", "reason=\"in_flight\"");

    private static double Gauge(string text, string metric) => Sample(text, metric);

    private static double Sample(string text, string metric, params string[] labels)
    {
        foreach (Match line in SampleLine().Matches(text))
        {
            if (line.Groups["name"].Value == metric && labels.All(l => line.Groups["labels"].Value.Contains(l, StringComparison.Ordinal)))
            {
                return double.Parse(line.Groups["value"].Value, CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    [GeneratedRegex("(?m)^(?<name>[a-z_]+)\\{(?<labels>[^}]*)\\} (?<value>[0-9.eE+-]+)")]
    private static partial Regex SampleLine();
}
