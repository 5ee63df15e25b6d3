using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>The PostgreSQL mode refuses an insecure or incomplete configuration at start, naming what is missing.</summary>
public sealed class StartupTests(PostgresFixture postgres)
{
    [Fact]
    public async Task Without_a_master_key_and_pepper_the_silo_refuses_to_start_naming_both()
    {
        var connection = await postgres.Server.CreateDatabaseAsync();

        var (exitCode, output) = await SiloProcess.RunToExitAsync(["--Quota:Storage:Provider=postgres", $"--ConnectionStrings:Quota={connection}"]);

        Assert.NotEqual(0, exitCode);
        Assert.Contains("Quota:Secrets:MasterKeys is not set", output, StringComparison.Ordinal);
        Assert.Contains("Quota:Secrets:Pepper is not set", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_a_pepper_but_no_master_key_only_the_master_key_is_named()
    {
        var connection = await postgres.Server.CreateDatabaseAsync();

        var (exitCode, output) = await SiloProcess.RunToExitAsync(
            ["--Quota:Storage:Provider=postgres", $"--ConnectionStrings:Quota={connection}", $"--Quota:Secrets:Pepper={DurableCluster.Pepper}"]);

        Assert.NotEqual(0, exitCode);
        Assert.Contains("Quota:Secrets:MasterKeys is not set", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Quota:Secrets:Pepper is not set", output, StringComparison.Ordinal);
        Assert.DoesNotContain(DurableCluster.Pepper, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_connection_string_the_silo_says_which_setting_to_set()
    {
        var (exitCode, output) = await SiloProcess.RunToExitAsync(["--Quota:Storage:Provider=postgres"]);

        Assert.NotEqual(0, exitCode);
        Assert.Contains("ConnectionStrings:Quota is empty", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_provider_is_refused_naming_the_choices()
    {
        var (exitCode, output) = await SiloProcess.RunToExitAsync(["--Quota:Storage:Provider=redis"]);

        Assert.NotEqual(0, exitCode);
        Assert.Contains("use 'memory' (the default: nothing to install) or 'postgres'", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_database_stops_the_start_with_where_it_looked_and_no_password()
    {
        var port = SiloProcess.FreePorts(1)[0];

        var (exitCode, output) = await SiloProcess.RunToExitAsync(
        [
            "--Quota:Storage:Provider=postgres",
            $"--ConnectionStrings:Quota=Host=127.0.0.1;Port={port};Database=quota;Username=quota;Password=hunter2-secret;Timeout=2",
            $"--Quota:Secrets:MasterKeys:0={DurableCluster.MasterKey}",
            $"--Quota:Secrets:Pepper={DurableCluster.Pepper}",
        ]);

        Assert.NotEqual(0, exitCode);
        Assert.Contains($"Could not apply Quota's schema to 127.0.0.1:{port}/quota as quota", output, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-secret", output.Replace("Password=***", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
    }
}
