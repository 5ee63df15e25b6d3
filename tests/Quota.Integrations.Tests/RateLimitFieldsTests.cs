using Quota.Abstractions;
using Quota.Algorithms.Limiting;

namespace Quota.Integrations.Tests;

/// <summary>The one writer of the IETF rate-limit fields, shared by the silo's HTTP API and the ASP.NET Core integration.</summary>
public sealed class RateLimitFieldsTests
{
    private static PolicyState State(string subject, string policy, AlgorithmKind algorithm, long limit, long remaining, long? window, long resetMs) =>
        new() { Subject = subject, Policy = policy, Algorithm = algorithm, Limit = limit, Remaining = remaining, WindowSeconds = window, ResetAfterMs = resetMs };

    [Fact]
    public void EveryPolicyIsOneItemWithItsQuotaWindowAndState()
    {
        PolicyState[] policies =
        [
            State("user:alice", "per-minute", AlgorithmKind.SlidingWindow, 100, 57, 60, 12_001),
            State("resource:slots", "in-flight", AlgorithmKind.Concurrency, 2, 0, null, 0),
        ];

        Assert.Equal("\"user:alice/per-minute\";q=100;w=60, \"resource:slots/in-flight\";q=2;qu=\"concurrent-requests\"", RateLimitFields.Policy(policies));
        Assert.Equal("\"user:alice/per-minute\";r=57;t=13, \"resource:slots/in-flight\";r=0;t=0", RateLimitFields.State(policies));
    }

    [Fact]
    public void NamesAreSfStringsAndNothingIsWrittenWithoutPolicies()
    {
        PolicyState[] policies = [State("user:a\"b\\c\u00e9", "p", AlgorithmKind.FixedWindow, 1, 1, 1, 1)];

        Assert.Equal("\"user:a\\\"b\\\\c?/p\";q=1;w=1", RateLimitFields.Policy(policies));
        Assert.Null(RateLimitFields.Policy([]));
        Assert.Null(RateLimitFields.State([]));
    }

    [Theory]
    [InlineData(1, "1")]
    [InlineData(1000, "1")]
    [InlineData(1001, "2")]
    [InlineData(59_999, "60")]
    [InlineData(0, null)]
    [InlineData(-1, null)]
    public void RetryAfterIsWholeSecondsRoundedUpAndAbsentWithoutAWait(long milliseconds, string? expected) =>
        Assert.Equal(expected, RateLimitFields.RetryAfter(milliseconds));
}
