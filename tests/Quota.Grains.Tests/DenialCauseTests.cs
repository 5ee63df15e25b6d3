using Quota.Abstractions;

namespace Quota.Grains.Tests;

/// <summary>
/// A denial states its cause; <c>limitedBy</c> still names the policy, or for a cause that is not a policy the cause,
/// exactly as clients have always read it.
/// </summary>
public sealed class DenialCauseTests
{
    private static readonly PolicyReading Allowance = new("allowance", 0, 10, 0, 60, 6_000);
    private static readonly PolicyReading PerMinute = new("per-minute", 0, 100, 40, 60, 30_000);

    [Fact]
    public void APolicyDenialNamesThePolicyAndTakesItsNumbers()
    {
        var result = DecisionResults.Denied([Answer(SubjectKind.Tenant, new() { Outcome = DecisionOutcome.Denied, Cause = DenialCause.Policy, LimitedBy = "per-minute", RetryAfter = TimeSpan.FromSeconds(2), Policies = [Allowance, PerMinute] })]);

        Assert.Equal(DenialCause.Policy, result.Cause);
        Assert.Equal("tenant:acme/per-minute", result.LimitedBy);
        Assert.Equal((100, 40, 30_000, 2_000), (result.Limit, result.Remaining, result.ResetAfterMs, result.RetryAfterMs));
    }

    [Theory]
    [InlineData(DenialCause.Queue, "queue")]
    [InlineData(DenialCause.Checkpoint, "checkpoint")]
    [InlineData(DenialCause.Circuit, "circuit")]
    [InlineData(DenialCause.Paused, "paused")]
    [InlineData(DenialCause.Secret, "secret")]
    public void ACauseThatIsNotAPolicyIsNamedInLimitedByAsBefore(DenialCause cause, string name)
    {
        var result = DecisionResults.Denied([Answer(SubjectKind.User, new() { Outcome = DecisionOutcome.Denied, Cause = cause, RetryAfter = TimeSpan.FromSeconds(1), Policies = [PerMinute] })]);

        Assert.Equal(cause, result.Cause);
        Assert.Equal(name, DenialCauses.Name(cause));
        Assert.Equal($"user:acme/{name}", result.LimitedBy);

        // No policy of that name: the headline numbers are the most constrained policy's.
        Assert.Equal((100, 40), (result.Limit, result.Remaining));
    }

    [Fact]
    public void ATenantWithoutAllowanceIsLimitedByItsAllowanceWithTheAllowancesNumbers()
    {
        var result = DecisionResults.Denied([Answer(SubjectKind.Tenant, new() { Outcome = DecisionOutcome.Denied, Cause = DenialCause.Allowance, RetryAfter = TimeSpan.FromSeconds(1), Policies = [PerMinute, Allowance] })]);

        Assert.Equal(DenialCause.Allowance, result.Cause);
        Assert.Equal("tenant:acme/allowance", result.LimitedBy);
        Assert.Equal((10, 0, 6_000), (result.Limit, result.Remaining, result.ResetAfterMs));
    }

    [Fact]
    public void AnAllowedAnswerHasNoCause()
    {
        var result = DecisionResults.Allowed([Answer(SubjectKind.User, new() { Allowed = true, Outcome = DecisionOutcome.Allowed, Policies = [PerMinute] })], leaseNonce: null);

        Assert.Equal(DenialCause.None, result.Cause);
        Assert.Null(result.LimitedBy);
    }

    private static SubjectAnswer Answer(SubjectKind kind, SubjectDecision decision) => new(kind, "acme", "user", decision);
}
