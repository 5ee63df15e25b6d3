using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>
/// The console's overview (<c>/console/</c>) over two real silo processes in one cluster: served by either silo, it
/// has a row per silo and cards that sum them, so decisions sent through both silos are counted exactly once in the
/// cluster's totals; a silo that hangs (SIGSTOP: its sockets stay open, nothing answers) is a row saying it did not
/// answer, and the page still renders. The HTML is read over HTTP; the browser tests drive the same page on one silo.
/// </summary>
public sealed partial class ClusterOverviewTests(PostgresFixture postgres)
{
    [Fact]
    public async Task The_overview_on_either_silo_shows_both_silos_and_exact_cluster_totals_and_a_hung_silo_as_not_answering()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var first = await cluster.StartSiloAsync();
        var second = await cluster.StartSiloAsync();

        // Each silo learns of the other through the membership table: the overview lists what its silo knows.
        var before = await OverviewAsync(first, rows: 2);
        await OverviewAsync(second, rows: 2);

        // 30 users through the first silo, 20 through the second (Orleans places them on either), and a user allowed
        // once in flight, denied the second time.
        for (var i = 0; i < 50; i++)
        {
            Assert.True(await DurableCluster.AcquireAsync((i < 30 ? first : second).Http, new { user = $"overview-{i}" }));
        }

        await DurableCluster.SetUserPoliciesAsync(first.Http, "overview-tight", new { name = "one-at-a-time", algorithm = "concurrency", limit = 1, leaseTtl = "01:00:00" });
        Assert.True(await DurableCluster.AcquireAsync(second.Http, new { user = "overview-tight" }));
        Assert.False(await DurableCluster.AcquireAsync(second.Http, new { user = "overview-tight" }));

        foreach (var silo in new[] { first, second })
        {
            var after = await OverviewAsync(silo, rows: 2);
            Assert.Equal((before.Allowed + 51, before.Denied + 1), (after.Allowed, after.Denied));
            Assert.Equal((after.Allowed, after.Denied), (after.Rows.Sum(r => r.Allowed), after.Rows.Sum(r => r.Denied)));
            Assert.Equal(1, after.Rows.Count(r => r.Name.EndsWith("(this page)", StringComparison.Ordinal)));
            Assert.Matches(DenialRow(), after.Html);
        }

        second.Pause();
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var response = await first.Http.GetAsync(new Uri("/console/", UriKind.Relative), TestContext.Current.CancellationToken);
            var html = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the page took {clock.Elapsed} with a silo hung");
            Assert.Matches($"<tr class=\"bad\" data-silo=\"[^\"]+:{second.SiloPort}\"><td>[^<]*</td><td>[^<]*</td><td colspan=\"7\">not answering: did not answer within 2 s</td></tr>", html);
            var shown = Parse(html);
            Assert.Equal(("1 of 2 silos answering", 1), (shown.Answering, shown.Rows.Count));
        }
        finally
        {
            second.Resume();
        }
    }

    /// <summary>Reads <c>/console/</c> until it lists <paramref name="rows"/> answering silos (bounded: membership news takes seconds).</summary>
    private static async Task<Overview> OverviewAsync(SiloProcess silo, int rows)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var html = await silo.Http.GetStringAsync(new Uri("/console/", UriKind.Relative));
            var overview = Parse(html);
            if (overview.Rows.Count == rows)
            {
                return overview;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the overview on 127.0.0.1:{silo.SiloPort} still lists {overview.Rows.Count} answering silos, not {rows}, after 60 s:\n{html}");
            await Task.Delay(200);
        }
    }

    private static Overview Parse(string html)
    {
        long Card(string id) => long.Parse(Regex.Match(html, $"id=\"{id}\">(\\d+)<").Groups[1].Value, CultureInfo.InvariantCulture);
        var rows = SiloRow().Matches(html)
            .Select(m => new Row(m.Groups["name"].Value, long.Parse(m.Groups["allowed"].Value, CultureInfo.InvariantCulture), long.Parse(m.Groups["denied"].Value, CultureInfo.InvariantCulture)))
            .ToList();
        var answering = Regex.Match(html, "(\\d+) active silos?, (\\d+) answering");
        return new Overview(Card("allowed-total"), Card("denied-total"), rows, $"{answering.Groups[2].Value} of {answering.Groups[1].Value} silos answering", html);
    }

    // An answering silo's row: name, endpoint, allowed/s, denied/s, then the totals (OverviewPage).
    [GeneratedRegex("<tr data-silo=\"[^\"]+\"><td>(?<name>[^<]*)</td><td>[^<]*</td><td class=\"n\">[^<]*</td><td class=\"n\">[^<]*</td><td class=\"n\">(?<allowed>\\d+)</td><td class=\"n\">(?<denied>\\d+)</td>")]
    private static partial Regex SiloRow();

    [GeneratedRegex("<tr><td>user</td><td>one-at-a-time</td><td class=\"n\">1</td>")]
    private static partial Regex DenialRow();

    private sealed record Row(string Name, long Allowed, long Denied);

    private sealed record Overview(long Allowed, long Denied, List<Row> Rows, string Answering, string Html);
}
