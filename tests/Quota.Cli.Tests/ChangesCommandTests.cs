using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary><c>quota changes</c>: the change log, newest first.</summary>
public sealed class ChangesCommandTests(OpenSilo host) : CliTest(host)
{
    [Fact]
    public async Task Lists_a_subjects_changes_newest_first()
    {
        var user = Ids.User();
        var label = "user:" + user;
        Assert.Equal("no changes recorded.", Exits(0, await Cli.Run("changes", "--subject", label)).Stdout.Trim());

        Exits(0, await Cli.Run("users", "set", user, "--policy", Policy("per-hour", "fixed-window", 3, "01:00:00")));
        Exits(0, await Cli.Run("users", "delete", user));

        var changes = Exits(0, await Cli.Run("changes", "--subject", label));
        var header = changes.Lines.First(line => line.StartsWith('|')).Trim('|').Split('|').Select(cell => cell.Trim());
        Assert.Equal(new[] { "SEQUENCE", "AT (UTC)", "SUBJECT", "ACTION", "SOURCE", "OLD → NEW" }, header);
        var rows = changes.Lines.Where(line => line.Contains(label, StringComparison.Ordinal))
            .Select(line => line.Trim('|').Split('|').Select(cell => cell.Trim()).ToArray())
            .ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(new[] { label, "reset", "api", "own: true → false, policies: per-hour fixed-window 3/01:00:00 → per-minute sliding-window 100/00:01:00" }, rows[0][2..]);
        Assert.Equal(new[] { label, "set", "api", "own: false → true, policies: per-minute sliding-window 100/00:01:00 → per-hour fixed-window 3/01:00:00" }, rows[1][2..]);
        Assert.True(long.Parse(rows[0][0], System.Globalization.CultureInfo.InvariantCulture) > long.Parse(rows[1][0], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Matches(@"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", rows[0][1]);

        var newest = Json(Exits(0, await Cli.Run("changes", "--subject", label, "--limit", "1", "--json")))["changes"]!.AsArray();
        var only = Assert.Single(newest);
        Assert.Equal("reset", only!["action"]!.GetValue<string>());
        Assert.Equal(3, only["old"]!["policies"]![0]!["limit"]!.GetValue<long>());

        // Without a subject: the newest changes of everyone, at most --limit.
        var recent = Json(Exits(0, await Cli.Run("changes", "-n", "1", "--json")))["changes"]!.AsArray();
        Assert.Single(recent);
    }
}
