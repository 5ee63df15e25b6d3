using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>
/// Real silo processes forming one cluster through PostgreSQL: a limit holds across them exactly, and what a
/// subject persists (its policies, its calendar counters) survives a full restart of the cluster.
/// </summary>
public sealed class ClusterTests(PostgresFixture postgres)
{
    private static readonly object Daily = new { name = "daily", algorithm = "calendar", limit = 10, period = "day", timeZone = "UTC" };

    [Fact]
    public async Task Two_silos_form_one_cluster_and_share_one_limit()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var a = await cluster.StartSiloAsync();
        var b = await cluster.StartSiloAsync();
        await DurableCluster.SetUserPoliciesAsync(a.Http, "alice", new { name = "per-hour", algorithm = "fixed-window", limit = 5, window = "01:00:00" });

        var admitted = 0;
        for (var i = 0; i < 4; i++)
        {
            admitted += await DurableCluster.AcquireAsync(a.Http, new { user = "alice" }) ? 1 : 0;
            admitted += await DurableCluster.AcquireAsync(b.Http, new { user = "alice" }) ? 1 : 0;
        }

        Assert.Equal(2, await cluster.ActiveSilosAsync());
        Assert.Equal(5, admitted);
    }

    [Fact]
    public async Task Three_silos_form_one_cluster_and_share_one_limit()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var silos = new[] { await cluster.StartSiloAsync(), await cluster.StartSiloAsync(), await cluster.StartSiloAsync() };
        await DurableCluster.SetUserPoliciesAsync(silos[0].Http, "bob", Daily);

        var answers = await Task.WhenAll(Enumerable.Range(0, 30).Select(i => DurableCluster.AcquireAsync(silos[i % 3].Http, new { user = "bob" })));

        Assert.Equal(3, await cluster.ActiveSilosAsync());
        Assert.Equal(10, answers.Count(a => a));
    }

    [Fact]
    public async Task Policies_and_calendar_counters_survive_a_full_restart()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var first = await cluster.StartSiloAsync();
        await DurableCluster.SetUserPoliciesAsync(first.Http, "carol", Daily);
        for (var i = 0; i < 7; i++)
        {
            Assert.True(await DurableCluster.AcquireAsync(first.Http, new { user = "carol" }));
        }

        await first.StopGracefullyAsync(TimeSpan.FromSeconds(60));
        Assert.True(first.HasExited, first.LogTail());

        var second = await cluster.StartSiloAsync();

        // A clean stop writes exact counts: the restarted cluster knows 7 were used, and admits exactly 3 more.
        Assert.Equal(3, await DurableCluster.RemainingAsync(second.Http, "carol", "daily"));
        var admitted = 0;
        for (var i = 0; i < 5; i++)
        {
            admitted += await DurableCluster.AcquireAsync(second.Http, new { user = "carol" }) ? 1 : 0;
        }

        Assert.Equal(3, admitted);
    }

    [Fact]
    public async Task A_killed_cluster_loses_no_admitted_permit_of_a_calendar_quota()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var only = await cluster.StartSiloAsync();
        await DurableCluster.SetUserPoliciesAsync(only.Http, "dave", new { name = "daily", algorithm = "calendar", limit = 1000, period = "day", timeZone = "UTC" });
        for (var i = 0; i < 250; i++)
        {
            Assert.True(await DurableCluster.AcquireAsync(only.Http, new { user = "dave" }));
        }

        await only.KillAsync();
        cluster.Recreate();
        var next = await cluster.StartSiloAsync();

        // The checkpoint holds a ceiling: at least the 250 admitted, at most one claim (1% of 1000) more.
        var remaining = await DurableCluster.RemainingAsync(next.Http, "dave", "daily");
        Assert.InRange(remaining, 750 - 10, 750);
    }
}
