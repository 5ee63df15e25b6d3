using Grpc.Core;
using Quota.Testing;

namespace Quota.Rls.Tests;

/// <summary>A silo whose ceiling of active subjects is one: the second descriptor subject is shed.</summary>
public sealed class OneSubjectSilo : RlsSilo
{
    protected override IEnumerable<string> Settings => ["--Quota:Limits:MaxActiveSubjects=1"];
}

/// <summary>When the cluster cannot decide, Envoy hears UNAVAILABLE (so its failure_mode_deny applies), never a denial.</summary>
public sealed class UnavailableTests(OneSubjectSilo silo) : IClassFixture<OneSubjectSilo>
{
    [Fact]
    public async Task ADescriptorTheSiloCannotDecideIsUnavailable()
    {
        var domain = RlsSilo.NewDomain("shed");
        await silo.PutDomainAsync(domain, """[ { "key": "k", "rate_limit": { "unit": "minute", "requests_per_unit": 10 } } ]""");

        // The first subject takes the silo's only place (and keeps it: its window is no longer full).
        var first = await silo.Rls.ShouldRateLimitAsync(For(domain, Descriptor(("k", "a"))), cancellationToken: TestContext.Current.CancellationToken);
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await silo.Rls.ShouldRateLimitAsync(For(domain, Descriptor(("k", "b"))), cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal(Code.Ok, first.OverallCode);
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("nothing was consumed", error.Status.Detail, StringComparison.Ordinal);
    }
}

/// <summary>The service's settings are checked at start with every other one.</summary>
public sealed class StartupTests
{
    [Fact]
    public async Task BadRlsSettingsStopTheSiloNamingEachOne()
    {
        var (exitCode, output) = await SiloProcess.RunToExitAsync(["--Quota:Rls:Url=https://127.0.0.1:9443/rls", "--Quota:Rls:NearLimitRatio=1.5"]);

        Assert.Equal(1, exitCode);
        Assert.Contains("Quota:Rls:Url: 'https://127.0.0.1:9443/rls' is not a listening address", output, StringComparison.Ordinal);
        Assert.Contains("Quota:Rls:NearLimitRatio: must be more than 0 and at most 1 (got 1.5)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEmptyUrlTurnsTheServiceOff()
    {
        await using var host = await SiloProcess.StartAsync(["--Quota:Rls:Url="]);
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(host.RlsAddress);
        var client = new RateLimitService.RateLimitServiceClient(channel);

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.ShouldRateLimitAsync(For("gw", Descriptor(("k", "a"))), cancellationToken: TestContext.Current.CancellationToken));
        var health = await host.Http.GetStringAsync("/healthz", TestContext.Current.CancellationToken);

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal("ok\n", health);
        Assert.DoesNotContain("rate-limit service", host.LogTail(400), StringComparison.Ordinal);
    }
}
