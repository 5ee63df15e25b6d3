using Orleans.Runtime;
using Quota.Server.Http;

namespace Quota.Http.Tests;

/// <summary>What a failure inside the silo is answered with: failover and cancellation inside the cluster are 503s, never 500s.</summary>
public sealed class FailureClassTests
{
    [Fact]
    public void A_call_cancelled_inside_the_cluster_is_a_503_to_retry()
    {
        var (status, title, _) = Failures.Classify(new OperationCanceledException("the activation is deactivating"));

        Assert.Equal((503, "The cluster gave the request up"), (status, title));
        Assert.Equal("tag:quota,2026:problem:subject-moving", Failures.SubjectMoving);
    }

    [Fact]
    public void A_dead_or_refusing_silo_is_a_503_even_when_wrapped()
    {
        Assert.Equal(503, Failures.Classify(new AggregateException(new SiloUnavailableException("gone"))).Status);
        Assert.Equal(503, Failures.Classify(new TimeoutException()).Status);
    }

    [Fact]
    public void Anything_else_is_a_500_that_names_no_detail()
    {
        var (status, _, detail) = Failures.Classify(new InvalidOperationException("secret internals"));

        Assert.Equal(500, status);
        Assert.DoesNotContain("secret", detail, StringComparison.Ordinal);
    }
}
