using System.Text.RegularExpressions;
using Quota.Testing;

namespace Quota.Http.Tests;

/// <summary>
/// The real silo process with bad settings: it exits with code 1 before starting anything, listing every problem once
/// by its key, in plain words, with no stack trace.
/// </summary>
public sealed class StartupConfigurationTests
{
    [Fact]
    public async Task Every_bad_setting_is_listed_once_by_its_key_and_the_silo_exits_with_1()
    {
        var (exitCode, output) = await SiloProcess.RunToExitAsync(
        [
            "--Quota:Http:MaxBodyBytes=-5",
            "--Quota:Scheduler:Interval=banana",
            "--Quota:Limits:MaxRequestsInFlight=lots",
            "--Quota:Storage:BufferCapacity=0",
            "--Quota:Cluster:AdvertisedAddress=somewhere",
            "--Quota:Admin:Token=short",
            "--Quota:Decisions:MaxWait=01:00:00",
        ]);

        Assert.Equal(1, exitCode);
        foreach (var (key, says) in new[]
        {
            ("Quota:Http:MaxBodyBytes", "must be from 512 to 16777216 (got -5)"),
            ("Quota:Scheduler:Interval", ": 'banana' is not a duration; write hh:mm:ss such as 00:01:00"),
            ("Quota:Limits:MaxRequestsInFlight", ": 'lots' is not a whole number"),
            ("Quota:Storage:BufferCapacity", "must be from 1 to 10000000 rows (got 0)"),
            ("Quota:Cluster:AdvertisedAddress", "is 'somewhere', which is not an IP address"),
            ("Quota:Admin:Token", "is too short"),
            ("Quota:Decisions:MaxWait", "must be between 00:00:00 and 00:10:00 (got 01:00:00)"),
        })
        {
            var lines = Lines(output).Where(line => line.StartsWith($"stderr: - {key}", StringComparison.Ordinal)).ToList();
            Assert.True(lines.Count == 1, $"expected one line for {key}, got {lines.Count}:{Environment.NewLine}{output}");
            Assert.Contains(says, lines[0], StringComparison.Ordinal);
        }

        Assert.Contains("stderr: The Quota silo did not start: its configuration has 7 problems.", Lines(output));
        AssertNoStackTrace(output);
        Assert.DoesNotContain("short", output.Replace("is too short", string.Empty, StringComparison.Ordinal).Replace("=short", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Infrastructure_choices_are_listed_with_the_other_problems()
    {
        var (exitCode, output) = await SiloProcess.RunToExitAsync(["--Quota:Storage:Provider=redis", "--Quota:Scheduler:Samples=0", "--Quota:Limits:MaxQueueDelay=-00:00:01"]);

        Assert.Equal(1, exitCode);
        Assert.Single(Lines(output), line => line.StartsWith("stderr: - Quota:Storage:Provider is 'redis'; use 'memory'", StringComparison.Ordinal));
        Assert.Single(Lines(output), line => line.StartsWith("stderr: - Quota:Scheduler:Samples must be from 1 to 1000 (got 0)", StringComparison.Ordinal));
        Assert.Single(Lines(output), line => line.StartsWith("stderr: - Quota:Limits:MaxQueueDelay must be from 00:00:00 (off) to 00:01:00 (got -00:00:01)", StringComparison.Ordinal));
        AssertNoStackTrace(output);
    }

    [Fact]
    public async Task The_postgres_mode_without_its_settings_names_each_missing_one()
    {
        var (exitCode, output) = await SiloProcess.RunToExitAsync(["--Quota:Storage:Provider=postgres", "--Quota:Http:MaxBodyBytes=0"]);

        Assert.Equal(1, exitCode);
        foreach (var start in new[] { "ConnectionStrings:Quota is empty", "Quota:Secrets:MasterKeys is not set", "Quota:Secrets:Pepper is not set", "Quota:Http:MaxBodyBytes must be" })
        {
            Assert.Single(Lines(output), line => line.Contains($"- {(start.StartsWith("Conn", StringComparison.Ordinal) ? "Quota:Storage:Provider is 'postgres' but " : string.Empty)}{start}", StringComparison.Ordinal));
        }

        AssertNoStackTrace(output);
    }

    [Fact]
    public async Task Membership_probe_settings_are_checked_with_the_others()
    {
        var (exitCode, output) = await SiloProcess.RunToExitAsync(
        [
            "--Quota:Cluster:Membership:ProbeTimeout=00:00:00.100",
            "--Quota:Cluster:Membership:NumMissedProbesLimit=0",
            "--Quota:Cluster:Membership:NumVotesForDeathDeclaration=5",
        ]);

        Assert.Equal(1, exitCode);
        Assert.Single(Lines(output), line => line == "stderr: - Quota:Cluster:Membership:ProbeTimeout must be from 00:00:01 to 00:01:00 (got 00:00:00.1000000); the default is 00:00:03.");
        Assert.Single(Lines(output), line => line == "stderr: - Quota:Cluster:Membership:NumMissedProbesLimit must be from 1 to 10 (got 0); the default is 3.");
        Assert.Single(Lines(output), line => line == "stderr: - Quota:Cluster:Membership:NumVotesForDeathDeclaration (5) is more than Quota:Cluster:Membership:NumProbedSilos (3): a silo could never be declared dead; lower the votes or probe more silos.");
        Assert.Contains("stderr: The Quota silo did not start: its configuration has 3 problems.", Lines(output));
        AssertNoStackTrace(output);
    }

    [Fact]
    public async Task Telemetry_settings_are_checked_with_the_others()
    {
        var (exitCode, output) = await SiloProcess.RunToExitAsync(
        [
            "--Quota:Telemetry:NearLimitRatio=1.5",
            "--Quota:Telemetry:MaxPolicyNames=0",
            "--Quota:Telemetry:MaxQueueNames=10001",
            "--Quota:Telemetry:OtlpEndpoint=ftp://127.0.0.1:4318",
            "--Quota:Telemetry:OtlpProtocol=smoke-signals",
        ]);

        Assert.Equal(1, exitCode);
        Assert.Single(Lines(output), line => line == "stderr: - Quota:Telemetry:NearLimitRatio must be above 0 and at most 1 (got 1.5); the default is 0.9 (90% of a policy's limit used).");
        Assert.Single(Lines(output), line => line == "stderr: - Quota:Telemetry:MaxPolicyNames must be from 1 to 10000 (got 0); the default is 100.");
        Assert.Single(Lines(output), line => line == "stderr: - Quota:Telemetry:MaxQueueNames must be from 1 to 10000 (got 10001); the default is 100.");
        Assert.Single(Lines(output), line => line == "stderr: - Quota:Telemetry:OtlpEndpoint must be an absolute http or https URL such as http://127.0.0.1:4318 (got 'ftp://127.0.0.1:4318/').");
        Assert.Single(Lines(output), line => line == "stderr: - Quota:Telemetry:OtlpProtocol must be http/protobuf or grpc (got 'smoke-signals'); leave it unset for http/protobuf.");
        Assert.Contains("stderr: The Quota silo did not start: its configuration has 5 problems.", Lines(output));
        AssertNoStackTrace(output);
    }

    private static string[] Lines(string output) => output.Split(Environment.NewLine);

    private static void AssertNoStackTrace(string output)
    {
        Assert.DoesNotMatch(new Regex(@"^(stderr: )?\s+at ", RegexOptions.Multiline), output);
        Assert.DoesNotContain("Exception", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Hosting failed to start", output, StringComparison.Ordinal);
    }
}
