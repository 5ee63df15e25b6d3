using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary>
/// <c>quota upstreams</c> (with <c>tokens</c> and <c>allocation</c>), <c>quota tenants</c>, <c>quota feedback</c>, and
/// <c>acquire</c>/<c>usage</c> with tenants and tokens, against the real silo.
/// </summary>
public sealed class TenancyCommandTests(OpenSilo host) : CliTest(host)
{
    private static readonly string PerMinute100 = Policy("per-minute", "fixed-window", 100, "00:01:00");

    [Fact]
    public async Task Upstreams_and_tokens_round_trip_and_the_secret_is_never_printed()
    {
        var name = Ids.New("up-");
        var (fileSecret, envSecret) = (Ids.New("file-secret-"), Ids.New("env-secret-"));
        var secretFile = TempFile("secret", fileSecret + "\n");
        var variable = "QUOTA_TEST_SECRET_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, envSecret);

        var results = new List<CliResult>();
        try
        {
            var set = Exits(0, await Cli.Run("upstreams", "set", name, "--buffer-percent", "10", "--window", "00:01:00"));
            Assert.Equal($"set upstream {name}", set.Lines[0]);
            HasLine(set.Stdout, @"^buffer:\s+10 %$", set);
            HasLine(set.Stdout, @"^window:\s+60 s$", set);

            var t1 = Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", PerMinute100, "--secret-file", secretFile));
            Assert.Equal($"set token t1 of upstream {name}", t1.Lines[0]);
            HasLine(t1.Stdout, @"^secret:\s+stored \(never shown\)$", t1);
            HasLine(t1.Stdout, @"^usable:\s+90$", t1);
            results.Add(t1);
            results.Add(Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t2", "--policy", PerMinute100, "--secret-env", variable)));

            // The secret reached the service whole: the file's newline dropped, the variable's value as is.
            var admin = Json(Exits(0, await Cli.Run("acquire", "--upstream", name, "--include-secret", "--json")));
            var chosen = admin["token"]!;
            Assert.Equal(chosen["id"]!.GetValue<string>() == "t1" ? fileSecret : envSecret, chosen["secret"]!.GetValue<string>());

            var list = Exits(0, await Cli.Run("upstreams", "tokens", "list", name));
            Assert.Equal(new[] { "t1", "100", "90", "pool", "stored", "-", "per-minute" }, Row(list, "t1"));
            Assert.Equal(new[] { "t2", "100", "90", "pool", "stored", "-", "per-minute" }, Row(list, "t2"));
            results.Add(list);

            var get = Exits(0, await Cli.Run("upstreams", "get", name));
            HasLine(get.Stdout, @"^capacity:\s+180$", get);
            results.Add(get);
            results.Add(Exits(0, await Cli.Run("upstreams", "get", name, "--json")));
            results.Add(Exits(0, await Cli.Run("upstreams", "tokens", "get", name, "t2", "--json")));
            results.Add(Exits(0, await Cli.Run("changes")));
            var upstreams = Exits(0, await Cli.Run("upstreams", "list"));
            Assert.Equal(new[] { name, "10", "60 s", "180", "0", "2", "0" }, Row(upstreams, name));

            foreach (var result in results)
            {
                Assert.DoesNotContain(fileSecret, result.Stdout + result.Stderr, StringComparison.Ordinal);
                Assert.DoesNotContain(envSecret, result.Stdout + result.Stderr, StringComparison.Ordinal);
            }

            Assert.Equal($"deleted token t2 of upstream {name}", Exits(0, await Cli.Run("upstreams", "tokens", "delete", name, "t2")).Lines[0]);
            Assert.Null(Row(Exits(0, await Cli.Run("upstreams", "tokens", "list", name)), "t2"));
            Assert.Equal($"deleted upstream {name}", Exits(0, await Cli.Run("upstreams", "delete", name)).Lines[0]);
            var gone = Exits(2, await Cli.Run("upstreams", "get", name));
            HasLine(gone.Stderr, @"^quota: Unknown subject \(HTTP 404\)$", gone);
            HasLine(gone.Stderr, $"^  name: upstream '{name}' is not configured", gone);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task Secrets_are_taken_only_from_a_file_or_the_environment()
    {
        var name = Ids.New("up-");

        var both = Exits(2, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", PerMinute100, "--secret-file", "x", "--secret-env", "Y"));
        Assert.Contains("either with --secret-file or with --secret-env", both.Stderr, StringComparison.Ordinal);
        var unset = Exits(2, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", PerMinute100, "--secret-env", "QUOTA_TEST_UNSET_" + Guid.NewGuid().ToString("N")));
        Assert.Contains("is not set", unset.Stderr, StringComparison.Ordinal);
        var plain = Exits(2, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", PerMinute100, "--secret", "in-plain-sight"));
        Assert.Contains("--secret", plain.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tenants_round_trip_and_problems_name_their_fields()
    {
        var (name, tenant) = (Ids.New("up-"), Ids.New("ten-"));
        Exits(0, await Cli.Run("upstreams", "set", name, "--buffer-percent", "0"));
        Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", PerMinute100));

        var set = Exits(0, await Cli.Run("tenants", "set", tenant, "--upstream", name, "--tier", "premium", "--reserved", "30", "--burst", "10", "--weight", "2", "--strategy", "shared", "--priority", "3"));
        Assert.Equal($"set tenant {tenant}", set.Lines[0]);
        HasLine(set.Stdout, @"^reserved:\s+30$", set);
        HasLine(set.Stdout, @"^tier:\s+premium$", set);

        var list = Exits(0, await Cli.Run("tenants", "list"));
        Assert.Equal(new[] { tenant, "premium", name, "shared", "30", "10", "2", "3" }, Row(list, tenant));
        Assert.Equal(30, Json(Exits(0, await Cli.Run("tenants", "get", tenant, "--json")))["reserved"]!.GetValue<long>());

        // 90 of 100 is beyond the 80% rule.
        var refused = Exits(2, await Cli.Run("tenants", "set", Ids.New("ten-"), "--upstream", name, "--reserved", "60"));
        HasLine(refused.Stderr, @"^quota: Invalid request \(HTTP 400\)$", refused);
        Assert.Contains(tenant, refused.Stderr, StringComparison.Ordinal);

        var acquired = Exits(0, await Cli.Run("acquire", "--tenant", tenant));
        HasLine(acquired.Stdout, $@"^token:\s+t1 \(upstream {name}\)$", acquired);
        var tenantUsage = Exits(0, await Cli.Run("usage", "tenant", tenant));
        HasLine(tenantUsage.Stdout, $@"^subject:\s+tenant:{tenant}$", tenantUsage);
        var tokenUsage = Exits(0, await Cli.Run("usage", "token", $"{name}/t1"));
        HasLine(tokenUsage.Stdout, $@"^subject:\s+token:{name}/t1$", tokenUsage);

        Assert.Equal($"deleted tenant {tenant}", Exits(0, await Cli.Run("tenants", "delete", tenant)).Lines[0]);
        Exits(2, await Cli.Run("tenants", "get", tenant));
    }

    [Fact]
    public async Task Allocation_prints_the_pool_its_tenants_and_its_tokens()
    {
        var (name, tenant) = (Ids.New("up-"), Ids.New("ten-"));
        Exits(0, await Cli.Run("upstreams", "set", name, "--buffer-percent", "0"));
        Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", PerMinute100));
        Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t2", "--policy", Policy("per-minute", "fixed-window", 50, "00:01:00")));
        Exits(0, await Cli.Run("tenants", "set", tenant, "--upstream", name, "--reserved", "40", "--tier", "basic"));

        var table = Exits(0, await Cli.Run("upstreams", "allocation", name));
        HasLine(table.Stdout, @"^capacity:\s+150$", table);
        HasLine(table.Stdout, @"^reserved:\s+40$", table);
        HasLine(table.Stdout, @"^lendable:\s+110$", table);
        HasLine(table.Stdout, @"^leased:\s+[0-9]+$", table);
        HasLine(table.Stdout, @"^learning:\s+(no|yes, for [0-9]+ ms)$", table);
        Assert.Equal(new[] { tenant, "basic" }, Row(table, tenant)![..2]);
        Assert.Equal("40", Row(table, tenant)![4]);
        Assert.Equal(new[] { "t1", "pool", "100", "100", "0", "0%", "closed", "0", "0 ms" }, Row(table, "t1"));
        Assert.Equal(new[] { "t2", "pool", "50", "50", "0", "0%", "closed", "0", "0 ms" }, Row(table, "t2"));

        var json = Json(Exits(0, await Cli.Run("upstreams", "allocation", name, "--json")));
        Assert.Equal(150, json["capacity"]!.GetValue<long>());
        Assert.Equal(tenant, json["tenants"]![0]!["tenant"]!.GetValue<string>());

        var unknown = Exits(2, await Cli.Run("upstreams", "allocation", Ids.New("up-")));
        HasLine(unknown.Stderr, @"^quota: Unknown subject \(HTTP 404\)$", unknown);
    }

    [Fact]
    public async Task Apply_takes_upstreams_and_tenants_and_is_idempotent()
    {
        var (name, tenant, secret) = (Ids.New("up-"), Ids.New("ten-"), Ids.New("doc-secret-"));
        var file = TempFile("tenancy.yaml", $$"""
            upstreams:
              {{name}}:
                bufferPercent: 0
                tokens:
                  t1:
                    secret: "{{secret}}"
                    policies:
                      - { name: per-minute, algorithm: fixed-window, limit: 100, window: "00:01:00" }
            tenants:
              {{tenant}}: { upstream: {{name}}, reserved: 20 }
            """);

        var plan = Exits(0, await Cli.Run("apply", "-f", file, "--dry-run"));
        Assert.Equal(new[] { $"upstream:{name}", "create", "none → bufferPercent: 0, window: 00:01:00" }, Row(plan, $"upstream:{name}"));
        Assert.Equal(new[] { $"token:{name}/t1", "create", "none → policies: per-minute fixed-window 100/00:01:00, hasSecret: true" }, Row(plan, $"token:{name}/t1"));
        Assert.Equal(new[] { $"tenant:{tenant}", "create" }, Row(plan, $"tenant:{tenant}")![..2]);
        Assert.Equal("dry run, nothing applied: 3 create", plan.Lines[^1]);
        Exits(2, await Cli.Run("upstreams", "get", name));

        Assert.Equal("applied: 3 create", Exits(0, await Cli.Run("apply", "-f", file)).Lines[^1]);
        Assert.Equal("applied: nothing to do", Exits(0, await Cli.Run("apply", "-f", file)).Lines[^1]);
        var got = Exits(0, await Cli.Run("tenants", "get", tenant));
        HasLine(got.Stdout, @"^reserved:\s+20$", got);

        var rejected = Exits(2, await Cli.Run("apply", "-f", TempFile("bad.yaml", $"tenants:\n  {tenant}: {{ upstream: {name}, reserved: 90 }}\n")));
        HasLine(rejected.Stderr, $@"^  upstreams\.{name}\.reserved: .*{tenant} 90", rejected);
        Assert.DoesNotContain(secret, plan.Stdout + rejected.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Feedback_reports_failures_until_the_circuit_opens()
    {
        var name = Ids.New("up-");
        Exits(0, await Cli.Run("upstreams", "set", name));
        Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", PerMinute100));

        for (var i = 1; i <= 4; i++)
        {
            var report = Exits(0, await Cli.Run("feedback", "--upstream", name, "--token-id", "t1", "--status", "502"));
            HasLine(report.Stdout, @"^circuit:\s+closed$", report);
            HasLine(report.Stdout, $@"^failures in a row:\s+{i}$", report);
        }

        var opened = Json(Exits(0, await Cli.Run("feedback", "--upstream", name, "--token-id", "t1", "--status", "0", "--json")));
        Assert.Equal("open", opened["health"]!["circuit"]!.GetValue<string>());
        Assert.Equal(1, opened["health"]!["timesOpened"]!.GetValue<long>());

        var bad = Exits(2, await Cli.Run("feedback", "--upstream", name, "--token-id", "t1", "--status", "700", "--retry-after-ms", "-5"));
        HasLine(bad.Stderr, "^  status: ", bad);
        HasLine(bad.Stderr, "^  retryAfterMs: ", bad);
        var unknown = Exits(2, await Cli.Run("feedback", "--upstream", name, "--token-id", "t9", "--status", "500"));
        HasLine(unknown.Stderr, "^  token: ", unknown);
    }
}
