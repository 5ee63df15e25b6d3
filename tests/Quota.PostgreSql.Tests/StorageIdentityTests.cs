using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>
/// Each subject's stored row is its own: the ADO.NET provider keys rows without the grain type and reads hex-like
/// keys as numbers, which Quota's storage wrapper undoes. Checked after a restart, so the answers come from the
/// database rather than from live activations.
/// </summary>
public sealed class StorageIdentityTests(PostgresFixture postgres)
{
    [Fact]
    public async Task Subjects_whose_names_collide_in_the_provider_keep_their_own_stored_policies()
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var first = await cluster.StartSiloAsync();
        await DurableCluster.SetUserPoliciesAsync(first.Http, "alice", new { name = "alice-user", algorithm = "calendar", limit = 10, period = "day", timeZone = "UTC" });
        await DurableCluster.SetUserPoliciesAsync(first.Http, "cafe", new { name = "cafe-lower", algorithm = "calendar", limit = 11, period = "day", timeZone = "UTC" });
        await first.StopGracefullyAsync(TimeSpan.FromSeconds(60));

        var second = await cluster.StartSiloAsync();

        Assert.Contains("alice-user", await second.Http.GetStringAsync(new Uri("/v1/admin/users/alice", UriKind.Relative)), StringComparison.Ordinal);
        Assert.Contains("cafe-lower", await second.Http.GetStringAsync(new Uri("/v1/admin/users/cafe", UriKind.Relative)), StringComparison.Ordinal);
        using var resource = await second.Http.GetAsync(new Uri("/v1/admin/resources/alice", UriKind.Relative));
        Assert.DoesNotContain("alice-user", await resource.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        foreach (var other in new[] { "CAFE", "0cafe", "0CAFE" })
        {
            var text = await second.Http.GetStringAsync(new Uri($"/v1/admin/users/{other}", UriKind.Relative));
            Assert.DoesNotContain("cafe-lower", text, StringComparison.Ordinal);
        }
    }
}
