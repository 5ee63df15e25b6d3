using System.Diagnostics;
using System.Text;

namespace Quota.Cli.Tests.Infrastructure;

/// <summary>What one run of the CLI did.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Stdout split into lines, trailing blanks removed.</summary>
    public string[] Lines => Stdout.Split('\n').Select(line => line.TrimEnd('\r', ' ')).Where(line => line.Length > 0).ToArray();

    public override string ToString() =>
        $"exit code {ExitCode}{Environment.NewLine}--- stdout ---{Environment.NewLine}{Stdout}--- stderr ---{Environment.NewLine}{Stderr}";
}

/// <summary>
/// Runs the real CLI (<c>client/bin/{Configuration}/{tfm}/quota.dll</c>, <c>QUOTA_CLI_DLL</c> overrides) as a child
/// process with <c>QUOTA_URL</c> set, capturing stdout, stderr and the exit code. <c>QUOTA_TOKEN</c> is set only
/// when a token is given.
/// </summary>
public sealed class QuotaCli(string url, string? token = null)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(45);
    private static readonly Lazy<string> Dll = new(Locate);

    /// <summary>A CLI for <paramref name="host"/>.</summary>
    public static QuotaCli For(SiloFixture host, string? token = null) => new(host.BaseAddress.ToString().TrimEnd('/'), token);

    public QuotaCli WithToken(string? newToken) => new(url, newToken);

    public Task<CliResult> Run(params string[] args) => RunWithInput(null, args);

    /// <summary>Runs with <paramref name="stdin"/> on standard input.</summary>
    public async Task<CliResult> RunWithInput(string? stdin, params string[] args)
    {
        var start = new ProcessStartInfo(SiloFixture.DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(Dll.Value);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["QUOTA_URL"] = url;
        start.Environment.Remove("QUOTA_TOKEN");
        if (token is not null)
        {
            start.Environment["QUOTA_TOKEN"] = token;
        }

        start.Environment.Remove("NO_COLOR");
        start.Environment["DOTNET_NOLOGO"] = "1";

        using var process = new Process { StartInfo = start };
        process.Start();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();

        using var timeout = new CancellationTokenSource(RunTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"quota {string.Join(' ', args)} did not finish within {RunTimeout.TotalSeconds} s.");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    private static string Locate()
    {
        if (Environment.GetEnvironmentVariable("QUOTA_CLI_DLL") is { Length: > 0 } overridden)
        {
            return File.Exists(overridden)
                ? overridden
                : throw new InvalidOperationException($"QUOTA_CLI_DLL names '{overridden}', which does not exist.");
        }

        var (root, configuration, framework) = Quota.Testing.SiloProcess.Build();
        var dll = Path.Combine(root, "client", "bin", configuration, framework, "quota.dll");
        return File.Exists(dll)
            ? dll
            : throw new InvalidOperationException($"{dll} does not exist; build client/Quota.Cli.csproj ({configuration}) first.");
    }
}
