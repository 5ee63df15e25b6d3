using Microsoft.Extensions.DependencyInjection;
using Quota.Abstractions;
using Quota.Grains.Diagnostics;

namespace Quota.Grains.Tests;

/// <summary>
/// The console's cluster overview asks every silo for its own numbers (<see cref="ClusterNumbers"/> through each silo's
/// <see cref="ISiloNumbersService"/>): decisions made on subjects living on either silo are counted on that silo's row,
/// exactly, and the cluster's totals are their sum, whichever silo asks. Where a subject lives is Orleans' choice, so it
/// is observed (the management grain's statistics), never assumed.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterNumbersTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Every_silo_reports_and_decisions_on_subjects_of_each_silo_are_counted_on_its_row_exactly()
    {
        var before = await ReadAsync(asking: 0);
        Assert.Equal(2, before.Count);
        Assert.All(before, silo => Assert.Null(silo.NotAnswering));
        Assert.Equal([true, false], before.OrderByDescending(s => s.Local).Select(s => s.Local));

        // One allowed decision per user until a user lives on each silo (bounded: Orleans places new activations on
        // either silo), then more on each so the two rows differ: 3 more on the first silo's user, 5 on the other's.
        var run = Guid.NewGuid().ToString("N")[..8];
        var expected = before.ToDictionary(s => s.Endpoint, _ => (Allowed: 0L, Denied: 0L));
        var userOn = new Dictionary<string, string>();
        for (var i = 0; userOn.Count < 2; i++)
        {
            Assert.True(i < 200, $"200 users all landed on one silo ({string.Join(", ", userOn.Keys)}).");
            var user = $"overview-{run}-{i}";
            Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { User = user })).Allowed);
            var silo = await SiloOfAsync("user", user);
            expected[silo] = (expected[silo].Allowed + 1, expected[silo].Denied);
            userOn.TryAdd(silo, user);
        }

        var extra = 3;
        foreach (var (silo, user) in userOn.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            for (var i = 0; i < extra; i++)
            {
                Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { User = user })).Allowed);
            }

            expected[silo] = (expected[silo].Allowed + extra, expected[silo].Denied);
            extra += 2;
        }

        // A denial: one-per-minute:* admits one a minute.
        var resource = $"one-per-minute:overview-{run}";
        Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [resource] })).Allowed);
        Assert.False((await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [resource] })).Allowed);
        var resourceSilo = await SiloOfAsync("resource", resource);
        expected[resourceSilo] = (expected[resourceSilo].Allowed + 1, expected[resourceSilo].Denied + 1);

        // Either silo may serve the page: both see the same rows.
        foreach (var asking in new[] { 0, 1 })
        {
            var after = await ReadAsync(asking);
            Assert.Equal(2, after.Count);
            foreach (var silo in after)
            {
                Assert.Null(silo.NotAnswering);
                var was = before.Single(s => s.Endpoint == silo.Endpoint).Numbers!;
                Assert.Equal(expected[silo.Endpoint], (silo.Numbers!.Allowed - was.Allowed, silo.Numbers.Denied - was.Denied));
            }

            var denial = Assert.Single(after.SelectMany(s => s.Numbers!.Denials), d => d.Id == resource);
            Assert.Equal((SubjectKind.Resource, "per-minute"), (denial.Kind, denial.Policy));
            Assert.Contains(after.Single(s => s.Endpoint == resourceSilo).Numbers!.Denials, d => d.Id == resource);
        }
    }

    private Task<IReadOnlyList<SiloReading>> ReadAsync(int asking) =>
        fixture.Cluster.Silos[asking].ServiceProvider.GetRequiredService<ClusterNumbers>().ReadAsync(fixture.Time.GetUtcNow() - TimeSpan.FromMinutes(5), TestContext.Current.CancellationToken);

    /// <summary>The silo-to-silo endpoint of the silo a subject's activation lives on (as <see cref="SiloReading.Endpoint"/> names it).</summary>
    private async Task<string> SiloOfAsync(string grainType, string key)
    {
        var statistics = await fixture.Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        return statistics.Single(g => g.GrainId.Type.ToString() == grainType && g.GrainId.Key.ToString() == key).SiloAddress.Endpoint.ToString();
    }
}
