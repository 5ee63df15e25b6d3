using System.Diagnostics;
using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary>
/// The CLI as a .NET tool: <c>dotnet pack client</c> makes the package <c>quota</c>, <c>dotnet tool install quota
/// --add-source DIR --tool-path DIR</c> installs it, and the installed <c>quota</c> command works, against a real silo too.
/// </summary>
public sealed class ToolPackageTests(OpenSilo host) : CliTest(host)
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task The_packed_tool_installs_and_runs_as_quota()
    {
        var (root, configuration, _) = Quota.Testing.SiloProcess.Build();
        var work = Path.Combine(Path.GetTempPath(), $"quota-tool-{Guid.NewGuid():N}");
        var packages = Path.Combine(work, "packages");
        var tools = Path.Combine(work, "tools");
        try
        {
            // --no-build: the test run has built client/ already; rebuilding it here would replace the quota.dll other tests run.
            var pack = await DotnetAsync("pack", Path.Combine(root, "client", "Quota.Cli.csproj"), "--no-build", "-c", configuration, "-o", packages);
            Assert.True(pack.Code == 0, pack.Output);
            Assert.Single(Directory.GetFiles(packages, "quota.*.nupkg"));

            var install = await DotnetAsync("tool", "install", "quota", "--add-source", packages, "--tool-path", tools);
            Assert.True(install.Code == 0, install.Output);
            Assert.Contains("Tool 'quota' (version '1.0.0') was successfully installed.", install.Output, StringComparison.Ordinal);

            var quota = Path.Combine(tools, OperatingSystem.IsWindows() ? "quota.exe" : "quota");
            var help = await RunAsync(quota, null, "--help");
            Assert.True(help.Code == 0, help.Output);
            Assert.Contains("Usage:", help.Output, StringComparison.Ordinal);
            Assert.Contains("  quota [command] [options]", help.Output, StringComparison.Ordinal);
            Assert.Contains("apply", help.Output, StringComparison.Ordinal);

            var usage = await RunAsync(quota, Host.BaseAddress.ToString(), "usage", "resource", "telegram");
            Assert.True(usage.Code == 0, usage.Output);
            Assert.Contains("per-second", usage.Output, StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    private static Task<(int Code, string Output)> DotnetAsync(params string[] arguments) =>
        RunAsync(Quota.Testing.SiloProcess.DotnetHost(), null, arguments);

    private static async Task<(int Code, string Output)> RunAsync(string program, string? url, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment.Remove("QUOTA_TOKEN");
        if (url is not null)
        {
            start.Environment["QUOTA_URL"] = url;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(StepTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {StepTimeout.TotalMinutes} minutes.");
        }

        return (process.ExitCode, $"$ {Path.GetFileName(program)} {string.Join(' ', arguments)}{Environment.NewLine}{await stdout}{await stderr}");
    }
}
