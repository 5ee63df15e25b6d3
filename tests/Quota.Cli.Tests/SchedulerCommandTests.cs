using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary>
/// <c>quota scheduler status|run|history</c>, and the scheduler's settings on <c>tenants set</c> (<c>--adaptive</c>,
/// <c>--adaptive-min</c>, <c>--adaptive-max</c>) and <c>upstreams tokens set</c> (<c>--successor</c>), against the real
/// silo. The silo's scheduler runs by itself once a minute after its last run; a test asks for a run first, so no run
/// of the silo's own comes between its steps.
/// </summary>
public sealed class SchedulerCommandTests(OpenSilo host) : CliTest(host)
{
    private static readonly string PerMinute100 = Policy("per-minute", "fixed-window", 100, "00:01:00");

    [Fact]
    public async Task Run_retires_a_token_whose_successor_is_live_and_history_shows_it()
    {
        var name = Ids.New("up-");
        Exits(0, await Cli.Run("upstreams", "set", name, "--buffer-percent", "0"));
        Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", PerMinute100));
        Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t2", "--policy", PerMinute100));
        var first = Json(Exits(0, await Cli.Run("scheduler", "run", "--json")))["run"]!.GetValue<long>();

        var named = Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", PerMinute100, "--successor", "t2"));
        HasLine(named.Stdout, @"^successor:\s+t2$", named);

        var run = Exits(0, await Cli.Run("scheduler", "run"));
        HasLine(run.Stdout, $@"^run:\s+{first + 1}$", run);
        HasLine(run.Stdout, @"^at:\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$", run);
        var reason = "successor t2 is live (configured, circuit closed, not paused)";
        Assert.Equal(new[] { "retire", $"token:{name}/t1", "in use, pooled -> retiring; t2 took over (pooled)", reason }, Row(run, "retire", $"token:{name}/t1"));

        var history = Json(Exits(0, await Cli.Run("scheduler", "history", "--subject", $"token:{name}/t1", "--json")))["changes"]!.AsArray();
        var change = Assert.Single(history)!;
        Assert.Equal(first + 1, change["run"]!.GetValue<long>());
        Assert.Equal("retire", change["kind"]!.GetValue<string>());
        Assert.Equal($"token:{name}/t1", change["subject"]!.GetValue<string>());
        Assert.Equal("in use, pooled", change["old"]!.GetValue<string>());
        Assert.Equal("retiring; t2 took over (pooled)", change["new"]!.GetValue<string>());
        Assert.Equal(reason, change["reason"]!.GetValue<string>());

        var table = Exits(0, await Cli.Run("scheduler", "history", "-s", $"token:{name}/t1", "-n", "1"));
        Assert.Equal(new[] { "AT (UTC)", "RUN", "KIND", "SUBJECT", "OLD -> NEW", "REASON" }, Cells(table.Lines.First(line => line.StartsWith('|'))));
        var row = Cells(table.Lines.Single(line => line.Contains($"token:{name}/t1", StringComparison.Ordinal)));
        Assert.Matches(@"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", row[0]);
        Assert.Equal(new[] { (first + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), "retire", $"token:{name}/t1", "in use, pooled -> retiring; t2 took over (pooled)", reason }, row[1..]);

        // The retiring token stays listed (its leases may still count it) until a later run removes it.
        var tokens = Exits(0, await Cli.Run("upstreams", "tokens", "list", name));
        Assert.Equal(new[] { "t1", "100", "100", "pool", "none", "t2 (retiring)", "per-minute" }, Row(tokens, "t1"));
        Assert.Equal(new[] { "t2", "100", "100", "pool", "none", "-", "per-minute" }, Row(tokens, "t2"));
        var t1 = Exits(0, await Cli.Run("upstreams", "tokens", "get", name, "t1"));
        HasLine(t1.Stdout, @"^retiring since:\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$", t1);

        Assert.Equal("no scheduler changes recorded.", Exits(0, await Cli.Run("scheduler", "history", "--subject", $"token:{name}/t2")).Stdout.Trim());
    }

    [Fact]
    public async Task Status_shows_the_interval_and_the_last_run()
    {
        var run = Json(Exits(0, await Cli.Run("scheduler", "run", "--json")))["run"]!.GetValue<long>();

        var status = Exits(0, await Cli.Run("scheduler", "status"));
        HasLine(status.Stdout, @"^enabled:\s+yes$", status);
        HasLine(status.Stdout, @"^interval:\s+60 s$", status);
        HasLine(status.Stdout, @"^samples:\s+5$", status);
        HasLine(status.Stdout, $@"^runs:\s+{run}$", status);
        HasLine(status.Stdout, @"^last run:\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$", status);
        HasLine(status.Stdout, @"^last error:\s+none$", status);

        var json = Json(Exits(0, await Cli.Run("scheduler", "status", "--json")));
        Assert.True(json["enabled"]!.GetValue<bool>());
        Assert.Equal(60, json["intervalSeconds"]!.GetValue<double>());
        Assert.Equal(run, json["runs"]!.GetValue<long>());
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1001")]
    public async Task A_history_limit_outside_1_to_1000_names_limit(string limit)
    {
        var bad = Exits(2, await Cli.Run("scheduler", "history", "--limit", limit));

        HasLine(bad.Stderr, @"^quota: Invalid request \(HTTP 400\)$", bad);
        HasLine(bad.Stderr, $@"^  limit: must be a whole number from 1 to 1000 \(got '{limit}'\)", bad);
    }

    [Fact]
    public async Task Tenants_take_adaptive_settings_and_bad_bounds_name_the_field()
    {
        var (name, tenant) = (Ids.New("up-"), Ids.New("ten-"));
        Exits(0, await Cli.Run("upstreams", "set", name, "--buffer-percent", "0"));
        Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", PerMinute100));

        var bounded = Exits(0, await Cli.Run("tenants", "set", tenant, "--upstream", name, "--reserved", "30", "--adaptive-min", "20", "--adaptive-max", "50"));
        HasLine(bounded.Stdout, @"^reserved:\s+30$", bounded);
        HasLine(bounded.Stdout, @"^configured reserve:\s+30$", bounded);
        HasLine(bounded.Stdout, @"^adaptive:\s+on, from 20 to 50$", bounded);
        HasLine(bounded.Stdout, @"^adapted at:\s+never \(the reserve is as configured\)$", bounded);
        var json = Json(Exits(0, await Cli.Run("tenants", "get", tenant, "--json")));
        Assert.Equal("""{"enabled":true,"minimum":20,"maximum":50}""", json["adaptive"]!.ToJsonString());

        var off = Exits(0, await Cli.Run("tenants", "set", tenant, "--upstream", name, "--reserved", "30", "--adaptive", "off"));
        HasLine(off.Stdout, @"^adaptive:\s+off$", off);
        var plain = Exits(0, await Cli.Run("tenants", "set", tenant, "--upstream", name, "--reserved", "30"));
        HasLine(plain.Stdout, @"^adaptive:\s+on$", plain);

        var refused = Exits(2, await Cli.Run("tenants", "set", tenant, "--upstream", name, "--reserved", "30", "--adaptive-min", "60", "--adaptive-max", "50"));
        HasLine(refused.Stderr, @"^  adaptive\.minimum: is 60, above the maximum of 50\.$", refused);
        var unknown = Exits(2, await Cli.Run("tenants", "set", tenant, "--upstream", name, "--adaptive", "sometimes"));
        Assert.Contains("sometimes", unknown.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_successor_is_refused_naming_the_field()
    {
        var name = Ids.New("up-");
        Exits(0, await Cli.Run("upstreams", "set", name));
        Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", PerMinute100));

        var refused = Exits(2, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", PerMinute100, "--successor", "t9"));

        HasLine(refused.Stderr, @"^  successor: no token 't9' is configured on this upstream", refused);
        var t1 = Exits(0, await Cli.Run("upstreams", "tokens", "get", name, "t1"));
        HasLine(t1.Stdout, @"^successor:\s+none$", t1);
    }

    /// <summary>The row of a table whose first two cells are <paramref name="first"/> and <paramref name="second"/>.</summary>
    private static string[]? Row(CliResult result, string first, string second) =>
        result.Lines.Where(line => line.StartsWith('|')).Select(Cells).FirstOrDefault(cells => cells.Length > 1 && cells[0] == first && cells[1] == second);

    private static string[] Cells(string line) => [.. line.Trim('|').Split('|').Select(cell => cell.Trim())];
}
