using System.Net;
using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>
/// The PostgreSQL mode is how Quota is deployed, often behind a proxy where every caller is loopback: without a token
/// nobody administers unless <c>Quota:Admin:AllowLoopback=true</c> is set, and the silo says so.
/// </summary>
public sealed class AdminDefaultTests(PostgresFixture postgres)
{
    [Fact]
    public async Task Without_a_token_nobody_administers_by_default_and_the_silo_says_so()
    {
        var connection = await postgres.Server.CreateDatabaseAsync();
        await using var silo = await SiloProcess.StartAsync(
        [
            "--Quota:Storage:Provider=postgres",
            $"--ConnectionStrings:Quota={connection}",
            $"--Quota:Secrets:MasterKeys:0={DurableCluster.MasterKey}",
            $"--Quota:Secrets:Pepper={DurableCluster.Pepper}",
        ]);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        string? line;
        while ((line = silo.StartOutput.FirstOrDefault(l => l.Contains("Admin rule:", StringComparison.Ordinal))) is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), TestContext.Current.CancellationToken);
        }

        Assert.True(line is not null, $"The silo did not name its admin rule at start:{Environment.NewLine}{silo.LogTail()}");
        Assert.Contains("Admin rule: nobody.", line, StringComparison.Ordinal);
        using var admin = await silo.Http.GetAsync(new Uri("/v1/admin/users", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Forbidden, admin.StatusCode);
    }
}
