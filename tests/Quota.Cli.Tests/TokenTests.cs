using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary>A silo with <c>Quota:Admin:Token</c>: admin commands need QUOTA_TOKEN (or --token); it is never printed.</summary>
public sealed class TokenTests(TokenSilo host) : CliTest(host), IClassFixture<TokenSilo>
{
    [Fact]
    public async Task Admin_commands_without_the_token_exit_2_with_a_hint()
    {
        foreach (var args in new[] { new[] { "users", "list" }, ["changes"], ["resources", "get", "telegram"] })
        {
            var result = Exits(2, await Cli.Run(args));
            Assert.Empty(result.Stdout);
            var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("quota: Unauthorized (HTTP 401)", lines[0]);
            Assert.Equal("hint: this service requires its admin token: set QUOTA_TOKEN (or pass --token).", lines[^1]);
        }
    }

    [Fact]
    public async Task With_the_token_they_succeed_and_it_never_shows()
    {
        var cli = Cli.WithToken(TokenSilo.Token);
        var user = Ids.User();

        var results = new List<CliResult>
        {
            Exits(0, await cli.Run("users", "set", user, "--policy", Policy("per-hour", "fixed-window", 2, "01:00:00"))),
            Exits(0, await cli.Run("users", "get", user, "--json")),
            Exits(0, await cli.Run("users", "list")),
            Exits(0, await cli.Run("keys", "create", user)),
            Exits(0, await cli.Run("changes", "--subject", "user:" + user)),
            Exits(0, await cli.Run("apply", "-f", TempFile("q.yaml", $"users:\n  {user}:\n    policies:\n      - {{ name: per-hour, algorithm: fixed-window, limit: 2, window: \"01:00:00\" }}\n"))),

            // --token works too, and is not echoed either.
            Exits(0, await Cli.Run("resources", "list", "--token", TokenSilo.Token)),
        };

        Assert.Equal(2, Json(results[1])["policies"]![0]!["limit"]!.GetValue<long>());
        Assert.Equal("applied: 1 unchanged", results[5].Lines[^1]);
        foreach (var result in results)
        {
            Assert.DoesNotContain(TokenSilo.Token, result.Stdout + result.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_wrong_token_exits_2_without_printing_it()
    {
        const string wrong = "not-the-token-4e1d";
        var result = Exits(2, await Cli.WithToken(wrong).Run("users", "list"));

        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("quota: Forbidden (HTTP 403)", lines[0]);
        Assert.Equal("  The admin token is not valid.", lines[1]);
        Assert.Equal("hint: the service rejected the admin token: check QUOTA_TOKEN (or --token).", lines[2]);
        Assert.DoesNotContain(wrong, result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decisions_need_no_token()
    {
        var user = Ids.User();
        Exits(0, await Cli.Run("acquire", "--user", user));
        Exits(0, await Cli.Run("usage", "user", user));
    }

    [Fact]
    public async Task Include_secret_needs_the_admin_token()
    {
        var admin = Cli.WithToken(TokenSilo.Token);
        var name = Ids.New("up-");
        var secret = Ids.New("secret-");
        Exits(0, await admin.Run("upstreams", "set", name));
        Exits(0, await admin.Run(
            "upstreams", "tokens", "set", name, "t1", "--policy", Policy("per-minute", "fixed-window", 100, "00:01:00"),
            "--secret-file", TempFile("secret", secret)));

        var refused = Exits(2, await Cli.Run("acquire", "--upstream", name, "--include-secret"));
        var lines = refused.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("quota: Forbidden (HTTP 403)", lines[0]);
        Assert.StartsWith("  includeSecret: only admin-scoped callers may receive secrets", lines[1], StringComparison.Ordinal);

        var plain = Exits(0, await Cli.Run("acquire", "--upstream", name));
        HasLine(plain.Stdout, $@"^token:\s+t1 \(upstream {name}\)$", plain);
        Assert.DoesNotContain(secret, plain.Stdout, StringComparison.Ordinal);

        var granted = Exits(0, await admin.Run("acquire", "--upstream", name, "--include-secret"));
        HasLine(granted.Stdout, $@"^secret:\s+{secret}$", granted);
    }
}
