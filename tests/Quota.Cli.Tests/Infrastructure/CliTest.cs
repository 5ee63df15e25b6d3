using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

[assembly: AssemblyFixture(typeof(Quota.Cli.Tests.Infrastructure.OpenSilo))]

namespace Quota.Cli.Tests.Infrastructure;

/// <summary>
/// A test that runs the real CLI against a running silo. When the test fails, the silo's recent output is added to
/// the test's output.
/// </summary>
public abstract class CliTest(SiloFixture host) : IDisposable
{
    private readonly List<string> _tempDirectories = [];

    /// <summary>The CLI pointed at the host (QUOTA_URL), without a token.</summary>
    protected QuotaCli Cli { get; } = QuotaCli.For(host);

    protected SiloFixture Host { get; } = host;

    public void Dispose()
    {
        if (TestContext.Current.TestState?.Result == TestResult.Failed)
        {
            TestContext.Current.TestOutputHelper?.WriteLine(Host.LogTail());
        }

        foreach (var dir in _tempDirectories)
        {
            Directory.Delete(dir, recursive: true);
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Asserts the exit code, showing everything the CLI printed when it differs.</summary>
    protected static CliResult Exits(int expected, CliResult result)
    {
        Assert.True(result.ExitCode == expected, $"expected exit code {expected}, got {result}");
        return result;
    }

    /// <summary>Asserts that <paramref name="text"/> has a line matching <paramref name="pattern"/> (a regex).</summary>
    protected static void HasLine(string text, string pattern, CliResult result) =>
        Assert.True(
            text.Split('\n').Any(line => Regex.IsMatch(line.TrimEnd('\r'), pattern)),
            $"no line matches /{pattern}/ in {result}");

    /// <summary>Stdout parsed as JSON (for --json).</summary>
    protected static JsonNode Json(CliResult result)
    {
        try
        {
            return JsonNode.Parse(result.Stdout) ?? throw new InvalidOperationException("null");
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            throw new Xunit.Sdk.XunitException($"stdout is not JSON ({e.Message}): {result}");
        }
    }

    /// <summary>A table row: cells separated by '|' (ASCII borders), trimmed.</summary>
    protected static string[]? Row(CliResult result, string firstCell) =>
        result.Lines
            .Where(line => line.StartsWith('|'))
            .Select(line => line.Trim('|').Split('|').Select(cell => cell.Trim()).ToArray())
            .FirstOrDefault(cells => cells[0] == firstCell);

    /// <summary>A policy JSON for --policy.</summary>
    protected static string Policy(string name, string algorithm, long limit, string window) =>
        $$"""{"name":"{{name}}","algorithm":"{{algorithm}}","limit":{{limit}},"window":"{{window}}"}""";

    /// <summary>A file in a fresh temporary directory, deleted after the test.</summary>
    protected string TempFile(string name, string content)
    {
        var dir = Path.Combine(Path.GetTempPath(), "quota-cli-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        _tempDirectories.Add(dir);
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, content);
        return path;
    }
}
