using Quota.Abstractions;

namespace Quota.Grains.Tests;

/// <summary>
/// <see cref="RequestRules.Validate"/> answers the common shape (one user or one resource) without building a list:
/// requests of that shape with a problem must still get the problem.
/// </summary>
public sealed class RequestRulesTests
{
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(30);

    public static TheoryData<string, AcquireRequest> Plain => new()
    {
        { "a user", new AcquireRequest { User = "alice" } },
        { "a user, empty resources", new AcquireRequest { User = "alice", Resources = [] } },
        { "a resource", new AcquireRequest { Resources = ["telegram"] } },
        { "a peek", new AcquireRequest { User = "alice", Cost = 0 } },
        { "the longest name and wait", new AcquireRequest { User = new string('a', RequestRules.MaxNameLength), MaxWaitMs = 30_000, Priority = Priority.Critical } },
    };

    public static TheoryData<string, AcquireRequest, string> WithAProblem => new()
    {
        { "empty user", new AcquireRequest { User = "" }, "user" },
        { "empty resource", new AcquireRequest { Resources = [""] }, "resources[0]" },
        { "null resource", new AcquireRequest { Resources = [null!] }, "resources[0]" },
        { "control character", new AcquireRequest { User = "al\nice" }, "user" },
        { "name too long", new AcquireRequest { Resources = [new string('r', RequestRules.MaxNameLength + 1)] }, "resources[0]" },
        { "negative cost", new AcquireRequest { User = "alice", Cost = -1 }, "cost" },
        { "negative wait", new AcquireRequest { User = "alice", MaxWaitMs = -1 }, "maxWaitMs" },
        { "wait past the ceiling", new AcquireRequest { User = "alice", MaxWaitMs = 30_001 }, "maxWaitMs" },
        { "undefined priority", new AcquireRequest { User = "alice", Priority = (Priority)7 }, "priority" },
        { "empty key beside a user", new AcquireRequest { User = "alice", ApiKey = "" }, "apiKey" },
        { "no subject", new AcquireRequest(), "user" },
    };

    [Theory]
    [MemberData(nameof(Plain))]
    public void A_plain_request_has_no_problem(string shape, AcquireRequest request) =>
        Assert.True(RequestRules.Validate(request, MaxWait).Count == 0, shape);

    [Theory]
    [MemberData(nameof(WithAProblem))]
    public void A_request_with_a_problem_gets_it_named(string shape, AcquireRequest request, string field)
    {
        var problems = RequestRules.Validate(request, MaxWait);

        Assert.True(problems.Count == 1, $"{shape}: {string.Join("; ", problems.Select(p => $"{p.Field}: {p.Detail}"))}");
        Assert.Equal(field, problems[0].Field);
    }
}
