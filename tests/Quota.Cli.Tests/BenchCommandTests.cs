using System.Globalization;
using System.Text.Json.Nodes;
using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary><c>quota bench</c> against the real silo: short runs, exact limits under load, and its errors.</summary>
public sealed class BenchCommandTests(OpenSilo host) : CliTest(host)
{
    [Fact]
    public async Task A_short_run_prints_the_results_table_and_exits_0()
    {
        var result = Exits(0, await Cli.Run("bench", "--duration", "1s", "--warmup", "0s", "--workers", "4", "--keys", "50"));

        HasLine(result.Stdout, @"^service:\s+http://127\.0\.0\.1:[0-9]+$", result);
        HasLine(result.Stdout, @"^subjects:\s+bench-[0-9a-f]{6}-\*: 50 users, 1 subject per request, cost 1$", result);
        HasLine(result.Stdout, @"^load:\s+4 workers, closed loop$", result);
        HasLine(result.Stdout, @"^measured:\s+1\.0 s after 0\.0 s of warmup \(whole run: ", result);
        Assert.True(Count(result, "admitted") + Count(result, "denied") > 0, result.ToString());
        Assert.Equal(0, Count(result, "errors"));
        foreach (var latency in new[] { "latency p50", "latency p99", "latency p99.9", "latency max" })
        {
            Assert.Matches(@"^[0-9.]+ (us|ms|s)$", Row(result, latency)![1]);
        }

        Assert.All(result.Stdout, c => Assert.True(c < 128, $"non-ASCII output: {result}"));
        Assert.All(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.StartsWith("bench: ", line, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Json_prints_one_object_with_the_settings_and_the_counts()
    {
        var result = Exits(0, await Cli.Run("bench", "--duration", "1s", "--warmup", "0s", "--workers", "4", "--keys", "50", "--json"));
        var json = Json(result);

        Assert.Matches("^bench-[0-9a-f]{6}$", json["prefix"]!.GetValue<string>());
        Assert.Equal(Host.BaseAddress.ToString().TrimEnd('/'), json["url"]!.GetValue<string>());
        Assert.Equal(4, json["workers"]!.GetValue<int>());
        Assert.Equal(50, json["keys"]!.GetValue<int>());
        Assert.Equal(1.0, json["durationSeconds"]!.GetValue<double>());
        Assert.Equal(1.0, json["measuredSeconds"]!.GetValue<double>());
        Assert.False(json["cancelled"]!.GetValue<bool>());

        var requests = Long(json, "requests");
        Assert.True(requests > 0, result.ToString());
        Assert.Equal(0, Long(json, "errors"));
        Assert.True(json["decisionsPerSecond"]!.GetValue<double>() > 0, result.ToString());
        Assert.Equal(requests, Long(json["latencyUs"]!, "samples"));

        // The whole run (warmup included, as the silo counted it) holds at least what was measured.
        Assert.True(Long(json["run"]!, "requests") >= requests, result.ToString());
        Assert.Empty(json["errorKinds"]!.AsArray());
    }

    [Fact]
    public async Task A_hot_key_admits_exactly_its_limit_under_load()
    {
        var prefix = Ids.New("cli-hot-");
        Exits(0, await Cli.Run("users", "set", prefix + "-hot", "--policy", Policy("per-hour", "sliding-log", 200, "01:00:00")));

        var json = Json(Exits(0, await Cli.Run("bench", "--prefix", prefix, "--hot-share", "1", "--workers", "32", "--duration", "2s", "--json")));

        var hot = Assert.Single(json["limited"]!.AsArray())!;
        Assert.Equal($"user:{prefix}-hot", hot["subject"]!.GetValue<string>());
        Assert.Equal("per-hour", hot["policy"]!.GetValue<string>());
        Assert.Equal("sliding-log", hot["algorithm"]!.GetValue<string>());
        Assert.Equal(200, Long(hot, "limit"));
        Assert.Equal(3600, Long(hot, "windowSeconds"));
        Assert.Equal(200, Long(hot, "admitted"));
        Assert.Equal(1.0, hot["admittedPerLimit"]!.GetValue<double>());
        Assert.Null(hot["notComparable"]);

        // Every request named the hot user: the run admitted 200 and denied all the rest.
        var run = json["run"]!;
        Assert.Equal(200, Long(run, "admitted"));
        Assert.Equal(Long(run, "requests") - 200, Long(run, "denied"));
        Assert.Equal(Long(run, "denied"), Long(hot, "denied"));
        Assert.Equal(0, Long(run, "errors"));
        Assert.Equal("""{"subjects":1,"comparable":1,"exact":1,"above":0,"below":0}""", json["limitedSummary"]!.ToJsonString());
    }

    [Fact]
    public async Task Three_subjects_take_all_or_nothing_and_the_table_shows_the_limited_resource()
    {
        var prefix = OpenSilo.NewBenchPrefix();

        // One key: every request names user PREFIX-0, resource PREFIX-r0 and resource PREFIX-g0; both resources
        // allow 30 per hour, so exactly 30 requests are admitted, and neither resource gave a permit to a request the
        // other denied.
        var result = Exits(0, await Cli.Run("bench", "--prefix", prefix, "--subjects", "3", "--keys", "1", "--workers", "8", "--duration", "1s", "--warmup", "0s"));

        HasLine(result.Stdout, $@"^subjects:\s+{prefix}-\*: 1 user, 3 subjects per request, cost 1$", result);
        HasLine(result.Stdout, @"^limited subjects \(denied at least once; counted over the whole run, warmup included\): [12]; admitted/limit comparable for [12]: exactly 1\.000 on [12], above on 0, below on 0$", result);
        var rows = new[] { $"resource:{prefix}-r0", $"resource:{prefix}-g0" }.Select(subject => Row(result, subject)).OfType<string[]>().ToList();
        Assert.NotEmpty(rows);
        foreach (var row in rows)
        {
            Assert.Equal([OpenSilo.BenchPolicy, "sliding-log", "30", "3,600 s", "30"], row[1..6]);
            Assert.Equal("1.000", row[7]);
        }

        Assert.Null(Row(result, $"user:{prefix}-0"));
    }

    [Fact]
    public async Task Resources_without_a_policy_stop_the_run_before_it_starts_naming_the_fix()
    {
        var prefix = Ids.New("cli-nobench-");

        var result = Exits(2, await Cli.Run("bench", "--prefix", prefix, "--subjects", "2", "--duration", "1s", "--warmup", "0s"));

        Assert.Empty(result.Stdout);
        HasLine(result.Stderr, $@"^quota: the service does not know the bench's resources: resources\[0\]: resource '{prefix}-r0' is not configured", result);
        HasLine(result.Stderr, $@"^hint: a resource exists only where a policy is configured\. .* --Quota:Policies:Resources:0:Name={prefix}-\* .* or run with --subjects 1\.$", result);
    }

    [Theory]
    [InlineData("--workers", "0", "--workers must be between 1 and 4096 (got 0)")]
    [InlineData("--workers", "5000", "--workers must be between 1 and 4096 (got 5000)")]
    [InlineData("--keys", "0", "--keys must be between 1 and 1,000,000 (got 0)")]
    [InlineData("--hot-share", "2", "--hot-share must be between 0 and 1 (got 2)")]
    [InlineData("--hot-share", "-0.5", "--hot-share must be between 0 and 1 (got -0.5)")]
    [InlineData("--subjects", "4", "--subjects must be 1, 2 or 3 (got 4)")]
    [InlineData("--cost", "0", "--cost must be 1 or more (got 0)")]
    [InlineData("--duration", "abc", "--duration: 'abc' is not a duration; write it like 10s, 1m, 500ms or 00:00:10.")]
    [InlineData("--duration", "10", "--duration: '10' is not a duration")]
    [InlineData("--duration", "0s", "--duration must be more than 0 and at most 24 hours (got 0s)")]
    [InlineData("--warmup", "2h", "--warmup must be between 0s and 1 hour (got 2h)")]
    [InlineData("--prefix", "", "--prefix must not be empty")]
    public async Task Bad_options_exit_2_naming_the_option_and_its_range(string option, string value, string message)
    {
        var result = Exits(2, await Cli.Run("bench", option, value));

        Assert.Empty(result.Stdout);
        Assert.StartsWith("quota: " + message, result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>A count from the results table: the VALUE cell's number, before any "(share)".</summary>
    private static long Count(CliResult result, string label)
    {
        var row = Row(result, label) ?? throw new Xunit.Sdk.XunitException($"no '{label}' row in {result}");
        return long.Parse(row[1].Split(' ')[0], NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
    }

    private static long Long(JsonNode node, string name) =>
        node[name]?.GetValue<long>() ?? throw new Xunit.Sdk.XunitException($"no '{name}' in {node.ToJsonString()}");
}
