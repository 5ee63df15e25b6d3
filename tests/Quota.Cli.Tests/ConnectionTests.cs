using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary>What the CLI says when there is no service to talk to, or the command line is wrong.</summary>
public sealed class ConnectionTests
{
    [Theory]
    [InlineData("acquire", "--user", "alice")]
    [InlineData("users", "list")]
    [InlineData("apply", "-f", "-")]
    [InlineData("bench", "--duration", "1s", "--warmup", "0s")]
    public async Task An_unreachable_service_exits_3_with_a_hint(params string[] args)
    {
        var port = SiloFixture.FreePorts(1)[0];
        var url = $"http://127.0.0.1:{port}";

        var result = await new QuotaCli(url).RunWithInput("{}", args);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Empty(result.Stdout);
        Assert.Equal(
            $"cannot reach Quota at {url}: connection refused. Start a silo with 'dotnet run --project silo' or set --url / QUOTA_URL.",
            result.Stderr.Trim());
    }

    [Fact]
    public async Task Url_option_overrides_QUOTA_URL()
    {
        var port = SiloFixture.FreePorts(1)[0];
        var result = await new QuotaCli("http://127.0.0.1:1").Run("users", "list", "--url", $"http://127.0.0.1:{port}/");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.StartsWith($"cannot reach Quota at http://127.0.0.1:{port}: connection refused.", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_url_that_is_not_http_exits_2()
    {
        var result = await new QuotaCli("localhost:8080").Run("users", "list");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("quota: 'localhost:8080' is not an http:// or https:// address; set --url or QUOTA_URL, e.g. http://127.0.0.1:8080.", result.Stderr.Trim());
    }

    [Theory]
    [InlineData("Required command was not provided.\nUnrecognized command or argument 'frobnicate'.", "frobnicate")]
    [InlineData("Required command was not provided.", "users")]
    [InlineData("Required argument 'actual' missing for command: 'settle'.", "settle", "lease-only")]
    [InlineData("Cannot parse argument 'many' for option '--cost' as expected type 'System.Nullable`1[System.Int64]'.", "acquire", "--cost", "many")]
    public async Task A_wrong_command_line_exits_2(string error, params string[] args)
    {
        var result = await new QuotaCli("http://127.0.0.1:1").Run(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal(error, result.Stderr.Trim().ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Help_exits_0()
    {
        var result = await new QuotaCli("http://127.0.0.1:1").Run("--help");

        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var command in new[] { "acquire", "settle", "release", "usage", "users", "keys", "resources", "tenants", "upstreams", "scheduler", "changes", "apply", "bench" })
        {
            Assert.Contains("  " + command, result.Stdout, StringComparison.Ordinal);
        }
    }
}
