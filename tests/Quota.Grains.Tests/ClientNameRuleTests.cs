using Quota.Abstractions;

namespace Quota.Grains.Tests;

/// <summary>
/// <see cref="Quota.Client.IQuotaClient"/> called directly with a name the HTTP front door refuses answers the same
/// problem the front door's <c>400</c> names, never an exception from deep inside Orleans.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClientNameRuleTests(ClusterFixture cluster)
{
    private const string WhitespaceOnly = "is only whitespace; a name needs at least one visible character.";

    [Theory]
    [InlineData(" ")]
    [InlineData("\u00a0")]
    [InlineData("\u3000")]
    public async Task A_whitespace_only_name_is_answered_with_the_problem_the_front_door_names(string name)
    {
        var decision = await cluster.Quota.AcquireAsync(new AcquireRequest { User = name });
        Assert.Equal(DecisionOutcome.Invalid, decision.Outcome);
        Assert.Equal(new FieldProblem("user", WhitespaceOnly), decision.Problem);

        // GET /v1/usage/user/{id} answers 400 naming id: so does the client, without calling a grain.
        var usage = await cluster.Quota.GetUsageAsync(SubjectKind.User, name);
        Assert.Equal(new FieldProblem("id", WhitespaceOnly), usage.Problem);
        Assert.False(usage.Known);
        Assert.Empty(usage.Policies);

        var resourceUsage = await cluster.Quota.GetUsageAsync(SubjectKind.Resource, name);
        Assert.Equal(new FieldProblem("id", WhitespaceOnly), resourceUsage.Problem);

        // Nothing is configured under a name the rule refuses: answered as not configured, without a call.
        Assert.Null(await cluster.Quota.GetAllocationAsync(name));
        Assert.Null(await cluster.Quota.ReportAsync(name, "t1", new UpstreamFeedback { Status = 500 }));
        Assert.Null(await cluster.Quota.ReportAsync("api", name, new UpstreamFeedback { Status = 500 }));
    }

    [Fact]
    public async Task A_good_name_reads_usage_without_a_problem()
    {
        var usage = await cluster.Quota.GetUsageAsync(SubjectKind.User, "name-rule-alice");

        Assert.Null(usage.Problem);
        Assert.True(usage.Known);
        Assert.Equal("user:name-rule-alice", usage.Subject);
    }
}
