using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

namespace Quota.Server.Hosting;

/// <summary>The silo's whole life as a program: configuration checked, then hosted until stopped.</summary>
public static class QuotaSilo
{
    /// <summary>The exit code when the configuration has a problem (the host never started).</summary>
    public const int ConfigurationProblem = 1;

    /// <summary>
    /// Builds the silo from <paramref name="args"/> and the usual configuration sources, checks every setting before
    /// anything starts, and runs until stopped. A configuration with problems ends here with
    /// <see cref="ConfigurationProblem"/>: each problem printed once to standard error with its key and what to write
    /// instead, no stack trace (the host and its logging never started, so nothing is logged).
    /// </summary>
    /// <returns>The process's exit code: 0 after a normal stop.</returns>
    public static async Task<int> RunAsync(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var problems = ConfigurationCheck.UnreadableValues(builder.Configuration, out var unreadable);
        builder.AddQuotaSilo();
        var app = builder.Build();
        problems.AddRange(ConfigurationCheck.InvalidValues(app.Services, unreadable));
        if (problems.Count > 0)
        {
            await Console.Error.WriteLineAsync(Report(problems));
            await app.DisposeAsync();
            return ConfigurationProblem;
        }

        app.UseQuota();

        // RunAsync disposes the host when it stops.
        await app.RunAsync();
        return 0;
    }

    /// <summary>The problems as an operator reads them: a count, one line (or paragraph) each, where settings go.</summary>
    internal static string Report(IReadOnlyList<string> problems)
    {
        var nl = Environment.NewLine;
        return $"The Quota silo did not start: its configuration has {(problems.Count == 1 ? "a problem" : $"{problems.Count} problems")}.{nl}"
            + string.Concat(problems.Select(p => $"- {p}{nl}"))
            + "Settings come from appsettings.json, environment variables (Quota__Http__MaxBodyBytes) and the command line "
            + "(--Quota:Http:MaxBodyBytes=16384); docs/operations.md lists them all.";
    }
}
