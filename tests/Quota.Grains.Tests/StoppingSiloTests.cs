using Quota.Abstractions;

namespace Quota.Grains.Tests;

/// <summary>
/// A caller of the Orleans client waiting in a subject's queue when the subject's silo stops gracefully is answered
/// the retryable denial a stopping silo's HTTP front door gives (overloaded, with a Retry-After): nothing was taken for
/// it, and a cancellation it did not ask for would read as its own doing. A cluster of its own (a class fixture, not the
/// collection's): a silo is stopped.
/// </summary>
public sealed class StoppingSiloTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task A_waiter_on_a_stopping_silo_is_denied_with_a_retry_after_not_cancelled()
    {
        // one-per-minute:* admits one a minute: the second caller waits in the subject's queue.
        const string Resource = "one-per-minute:stopping";
        Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [Resource] })).Allowed);
        var waiting = fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [Resource], MaxWaitMs = 60_000 });
        await fixture.WaitForWaitersAsync(SubjectKind.Resource, Resource, 1);

        // The silo the subject lives on stops gracefully, whichever it is.
        var management = fixture.Cluster.Client.GetGrain<IManagementGrain>(0);
        var hosting = (await management.GetDetailedGrainStatistics())
            .Single(g => g.GrainId.Key.ToString() == Resource && g.GrainType.Contains("Resource", StringComparison.Ordinal)).SiloAddress;
        await fixture.Cluster.StopSiloAsync(fixture.Cluster.Silos.Single(s => s.SiloAddress.Equals(hosting)));

        var answer = await waiting.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.False(answer.Allowed);
        Assert.Equal(DecisionOutcome.Overloaded, answer.Outcome);
        Assert.Equal(DenialCause.Overloaded, answer.Cause);
        Assert.Equal(1000, answer.RetryAfterMs);
        Assert.Equal("resources[0]", answer.Problem?.Field);
        Assert.Equal(
            $"resource:{Resource} went away while this request waited (its silo is stopping, or it moved); nothing was decided or consumed. Retry after Retry-After.",
            answer.Problem?.Detail);
    }
}
