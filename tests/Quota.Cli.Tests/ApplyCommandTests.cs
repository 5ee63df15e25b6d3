using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary><c>quota apply</c>: declarative documents in YAML or JSON, dry run first.</summary>
public sealed class ApplyCommandTests(OpenSilo host) : CliTest(host)
{
    [Fact]
    public async Task Apply_says_where_the_schedulers_adaptation_in_force_differs_from_the_document()
    {
        var (name, tenant) = (Ids.New("up-"), Ids.New("ten-"));
        var perHour = Policy("per-hour", "sliding-log", 20, "01:00:00");
        Exits(0, await Cli.Run("upstreams", "set", name, "--buffer-percent", "0", "--window", "01:00:00"));
        Exits(0, await Cli.Run("tenants", "set", tenant, "--upstream", name, "--strategy", "dedicated"));
        Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t1", "--policy", perHour, "--dedicated-to", tenant));
        Exits(0, await Cli.Run("upstreams", "tokens", "set", name, "t2", "--policy", perHour));

        // 18 of t1's 20 (90%, above 85%): the run moves the tenant to the cool pooled t2.
        Exits(0, await Cli.Run("acquire", "--tenant", tenant, "--cost", "18"));
        var run = Exits(0, await Cli.Run("scheduler", "run"));
        Assert.Contains($"token:{name}/t1", run.Stdout, StringComparison.Ordinal);

        var document = TempFile("quota.yaml", $"""
            upstreams:
              {name}:
                bufferPercent: 0
                window: "01:00:00"
                tokens:
                  t1: {"{"} dedicatedTo: {tenant}, policies: [ {"{"} name: per-hour, algorithm: sliding-log, limit: 20, window: "01:00:00" {"}"} ] {"}"}
                  t2: {"{"} policies: [ {"{"} name: per-hour, algorithm: sliding-log, limit: 20, window: "01:00:00" {"}"} ] {"}"}
            """);
        var applied = Exits(0, await Cli.Run("apply", "-f", document));
        Assert.Contains("the scheduler's adaptations differ from the document", applied.Stdout, StringComparison.Ordinal);
        string[] Adapted(string subject) => applied.Lines.Where(line => line.StartsWith('|'))
            .Select(line => line.Trim('|').Split('|').Select(cell => cell.Trim()).ToArray())
            .Single(cells => cells.Length == 5 && cells[0] == subject && cells[1] == "dedicatedTo");
        var t1 = Adapted($"token:{name}/t1");
        Assert.Equal(new[] { $"token:{name}/t1", "dedicatedTo", tenant, "none" }, t1[..4]);
        Assert.Contains("used 18 of its limit of 20", t1[4], StringComparison.Ordinal);
        Assert.Equal(new[] { $"token:{name}/t2", "dedicatedTo", "none", tenant }, Adapted($"token:{name}/t2")[..4]);
    }

    [Fact]
    public async Task Dry_run_then_apply_then_apply_again_is_create_create_unchanged()
    {
        var user = Ids.User();
        var resource = Ids.New("res-");
        var document = TempFile("quota.yaml", $"""
            users:
              {user}:
                policies:
                  - name: per-hour
                    algorithm: fixed-window
                    limit: 4
                    window: "01:00:00"
            resources:
              {resource}:
                policies:
                  - {"{"} name: per-second, algorithm: token-bucket, limit: 10, window: "00:00:01" {"}"}
            """);

        var dry = Exits(0, await Cli.Run("apply", "-f", document, "--dry-run"));
        Assert.Equal(new[] { "user:" + user, "create", "none → per-hour fixed-window 4/01:00:00" }, Row(dry, "user:" + user));
        Assert.Equal(new[] { "resource:" + resource, "create", "none → per-second token-bucket 10/00:00:01" }, Row(dry, "resource:" + resource));
        Assert.Equal("dry run, nothing applied: 2 create", dry.Lines[^1]);
        Assert.False(Json(Exits(0, await Cli.Run("users", "get", user, "--json")))["own"]!.GetValue<bool>());

        var applied = Exits(0, await Cli.Run("apply", "-f", document));
        Assert.Equal(new[] { "user:" + user, "create", "none → per-hour fixed-window 4/01:00:00" }, Row(applied, "user:" + user));
        Assert.Equal(new[] { "resource:" + resource, "create", "none → per-second token-bucket 10/00:00:01" }, Row(applied, "resource:" + resource));
        Assert.Equal("applied: 2 create", applied.Lines[^1]);
        Assert.Equal(4, Json(Exits(0, await Cli.Run("users", "get", user, "--json")))["policies"]![0]!["limit"]!.GetValue<long>());

        var again = Exits(0, await Cli.Run("apply", "-f", document));
        Assert.Equal(new[] { "user:" + user, "unchanged", "no change" }, Row(again, "user:" + user));
        Assert.Equal(new[] { "resource:" + resource, "unchanged", "no change" }, Row(again, "resource:" + resource));
        Assert.Equal("applied: 2 unchanged", again.Lines[^1]);

        // The change log names apply as the source, once per subject.
        var changes = Json(Exits(0, await Cli.Run("changes", "--subject", "user:" + user, "--json")))["changes"]!.AsArray();
        var change = Assert.Single(changes);
        Assert.Equal("apply", change!["source"]!.GetValue<string>());
        Assert.Equal("set", change["action"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_json_document_with_json_output_prints_the_plan()
    {
        var user = Ids.User();
        var raw = Ids.New("raw-key-");
        var document = TempFile("quota.json", $$"""
            {
              "users": { "{{user}}": { "policies": [ {{Policy("per-hour", "fixed-window", 4, "01:00:00")}} ] } },
              "keys": [ { "user": "{{user}}", "key": "{{raw}}" } ]
            }
            """);

        var plan = Json(Exits(0, await Cli.Run("apply", "-f", document, "--dry-run", "--json")));
        Assert.True(plan["dryRun"]!.GetValue<bool>());
        Assert.Equal(1, plan["summary"]!["create"]!.GetValue<int>());
        Assert.Equal(1, plan["summary"]!["register"]!.GetValue<int>());

        var applied = Exits(0, await Cli.Run("apply", "-f", document));
        Assert.Equal("applied: 1 create, 1 register", applied.Lines[^1]);
        Assert.DoesNotContain(raw, applied.Stdout, StringComparison.Ordinal);
        Exits(0, await Cli.RunWithInput(raw, "acquire", "--key-file", "-"));
    }

    [Fact]
    public async Task The_document_is_sent_as_yaml_or_json_by_extension_then_format_then_its_first_character()
    {
        // YAML's flow style starts with '{' too: the extension, not the first character, says it is YAML.
        var user = Ids.User();
        var flow = $"{{ users: {{ {user}: {{ policies: [ {{ name: per-hour, algorithm: fixed-window, limit: 4, window: 01:00:00 }} ] }} }} }}";

        var byExtension = Exits(0, await Cli.Run("apply", "-f", TempFile("flow.yml", flow), "--dry-run"));
        Assert.Equal(new[] { "user:" + user, "create" }, Row(byExtension, "user:" + user)![..2]);

        var sniffed = Exits(2, await Cli.RunWithInput(flow, "apply", "-f", "-", "--dry-run"));
        HasLine(sniffed.Stderr, "^  body: is not valid JSON", sniffed);

        var byFormat = Exits(0, await Cli.RunWithInput(flow, "apply", "-f", "-", "--format", "yaml", "--dry-run"));
        Assert.Equal(new[] { "user:" + user, "create" }, Row(byFormat, "user:" + user)![..2]);

        Exits(2, await Cli.Run("apply", "-f", "-", "--format", "toml"));
    }

    [Fact]
    public async Task A_bad_document_exits_2_printing_every_error_with_its_field_and_applies_nothing()
    {
        var good = Ids.User();
        var bad = Ids.User();
        var document = TempFile("bad.json", $$"""
            {
              "users": {
                "{{good}}": { "policies": [ {{Policy("per-hour", "fixed-window", 4, "01:00:00")}} ] },
                "{{bad}}": { "policies": [ { "name": "a", "algorithm": "nope", "limit": 1 } ] },
                "{{bad}}-2": { }
              },
              "keys": [ { "key": "short" } ]
            }
            """);

        var result = Exits(2, await Cli.Run("apply", "-f", document));
        Assert.Empty(result.Stdout);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("quota: Invalid request (HTTP 400)", lines[0]);
        Assert.Equal(
            new[] { $"users.{bad}.policies[0].algorithm", $"users.{bad}-2.policies", "keys[0].user", "keys[0].key" },
            lines[1..].Select(line => line.Trim().Split(": ")[0]));

        // All or nothing: the valid user was not applied either.
        Assert.False(Json(Exits(0, await Cli.Run("users", "get", good, "--json")))["own"]!.GetValue<bool>());

        var yaml = Exits(2, await Cli.Run("apply", "-f", TempFile("broken.yaml", "users: [unclosed")));
        HasLine(yaml.Stderr, "^  body: is not valid YAML", yaml);

        var missing = Exits(2, await Cli.Run("apply", "-f", "/nonexistent/quota.yaml"));
        Assert.StartsWith("quota: cannot read /nonexistent/quota.yaml", missing.Stderr, StringComparison.Ordinal);

        var noFile = Exits(2, await Cli.Run("apply"));
        Assert.Contains("--file", noFile.Stderr, StringComparison.Ordinal);
    }
}
