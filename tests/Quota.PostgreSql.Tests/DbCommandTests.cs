using System.Diagnostics;
using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Storage;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary><c>quota db migrate</c> and <c>quota db status</c>, run as the real CLI against a real database.</summary>
public sealed class DbCommandTests(PostgresFixture postgres)
{
    [Fact]
    public async Task Migrate_applies_the_schema_then_reports_it_up_to_date()
    {
        var connection = await postgres.Server.CreateDatabaseAsync();

        var before = await RunAsync("db", "status", "--connection", connection);
        var first = await RunAsync("db", "migrate", "--connection", connection);
        var second = await RunAsync("db", "migrate", "--connection", connection);
        var after = await RunAsync("db", "status", "--connection", connection, "--json");

        Assert.Equal(0, first.ExitCode);
        Assert.Contains("applied 0001_orleans, 0002_usage_history, 0003_queue_items.", first.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, second.ExitCode);
        Assert.Contains($"the schema is up to date ({SchemaMigrator.Migrations.Count} migrations); nothing applied.", second.Stdout, StringComparison.Ordinal);
        Assert.Contains("pending", before.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\"applied\":false", after.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"applied\":true", after.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_database_exits_3_without_echoing_the_password()
    {
        var port = SiloProcess.FreePorts(1)[0];

        var result = await RunAsync("db", "migrate", "--connection", $"Host=127.0.0.1;Port={port};Database=quota;Username=quota;Password=s3cret-pw;Timeout=2");

        Assert.Equal(3, result.ExitCode);
        Assert.Contains($"cannot reach the database at 127.0.0.1:{port}/quota", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret-pw", result.Stderr + result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_connection_the_cli_says_how_to_give_one()
    {
        var result = await RunAsync("db", "migrate");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("pass --connection", result.Stderr, StringComparison.Ordinal);
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var (root, configuration, framework) = SiloProcess.Build();
        var start = new ProcessStartInfo(SiloProcess.DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(root, "client", "bin", configuration, framework, "quota.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Remove("QUOTA_DB");
        start.Environment.Remove("ConnectionStrings__Quota");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
