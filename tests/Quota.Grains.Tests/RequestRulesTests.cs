using CsCheck;
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
        { "a space inside", new AcquireRequest { User = "big tenant" } },
        { "a name in another script", new AcquireRequest { User = "zażółć-東京" } },
        { "a surrogate pair", new AcquireRequest { Resources = ["chat-\U0001F600"] } },
    };

    public static TheoryData<string, AcquireRequest, string> WithAProblem => new()
    {
        { "empty user", new AcquireRequest { User = "" }, "user" },
        { "empty resource", new AcquireRequest { Resources = [""] }, "resources[0]" },
        { "null resource", new AcquireRequest { Resources = [null!] }, "resources[0]" },
        { "control character", new AcquireRequest { User = "al\nice" }, "user" },
        { "whitespace only", new AcquireRequest { User = " " }, "user" },
        { "no-break space only", new AcquireRequest { User = "\u00a0" }, "user" },
        { "ideographic space only", new AcquireRequest { Resources = ["\u3000"] }, "resources[0]" },
        { "leading space", new AcquireRequest { User = " alice" }, "user" },
        { "trailing ideographic space", new AcquireRequest { User = "alice\u3000" }, "user" },
        { "zero-width space", new AcquireRequest { User = "al\u200bice" }, "user" },
        { "right-to-left override", new AcquireRequest { Resources = ["a\u202eb"] }, "resources[0]" },
        { "byte order mark", new AcquireRequest { User = "\ufeffalice" }, "user" },
        { "line separator", new AcquireRequest { User = "al\u2028ice" }, "user" },
        { "lone high surrogate", new AcquireRequest { User = "a\ud800b" }, "user" },
        { "lone low surrogate", new AcquireRequest { User = "a\udc00" }, "user" },
        { "whitespace-only tenant", new AcquireRequest { Tenant = "\t" }, "tenant" },
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

    // Characters from every corner that matters: printable ASCII (the fast path's own), space at the ends, other
    // whitespace, controls, separators, format characters, lone and paired surrogates, and other scripts.
    private static readonly Gen<char> Chars = Gen.Frequency(
        (8, Gen.Char[' ', '~']),
        (2, Gen.OneOf(' ', '\t', '\n', '\u0085', '\u00a0', '\u1680', '\u2000', '\u2028', '\u2029', '\u3000', '\u200b', '\u200d', '\u202e', '\ufeff', '\u00ad', '\u007f')),
        (1, Gen.Char['\ud800', '\udfff']),
        (2, Gen.Char['\u0080', '\uffff']));

    private static readonly Gen<string> Names = Gen.Frequency(
        (6, Chars.Array[0, 12].Select(chars => new string(chars))),
        (1, Chars.Array[RequestRules.MaxNameLength - 1, RequestRules.MaxNameLength + 1].Select(chars => new string(chars))));

    [Fact]
    public void The_fast_path_agrees_with_the_name_rule_on_every_name()
    {
        Names.Sample(name =>
        {
            var full = new List<FieldProblem>();
            RequestRules.CheckName(full, "user", name);
            var asUser = RequestRules.Validate(new AcquireRequest { User = name }, MaxWait);
            var asResource = RequestRules.Validate(new AcquireRequest { Resources = [name] }, MaxWait);

            Assert.Equal(full.Count == 0, RequestRules.IsName(name));
            Assert.Equal(full.Select(p => p.Detail), asUser.Select(p => p.Detail));
            Assert.Equal(full.Select(p => p.Detail), asResource.Select(p => p.Detail));
        }, iter: 20_000);
    }

    [Fact]
    public void Whitespace_at_an_end_is_refused_by_both_paths_and_inside_is_not()
    {
        foreach (var (name, ok) in new[] { (" a", false), ("a ", false), ("a b", true), ("\u00a0a", false), ("a\u3000b", true), ("a\u3000", false) })
        {
            Assert.True(ok == RequestRules.IsName(name), name);
            Assert.True(ok == (RequestRules.Validate(new AcquireRequest { User = name }, MaxWait).Count == 0), name);
        }
    }

    [Fact]
    public void TryValidateHandsOutTheRequestOnlyWhenItHasNoProblem()
    {
        var request = new AcquireRequest { User = "alice", MaxWaitMs = 5_000 };
        Assert.True(RequestRules.TryValidate(request, MaxWait, out var validated, out var none));
        Assert.Empty(none);
        Assert.Same(request, validated.Request);

        Assert.False(RequestRules.TryValidate(new AcquireRequest { User = "", Cost = -1 }, MaxWait, out var refused, out var problems));
        Assert.Equal(["user", "cost"], problems.Select(p => p.Field));
        Assert.Throws<InvalidOperationException>(() => refused.Request);
    }

    [Fact]
    public void OnlyTheSiloKnowsTheCeilingOnWaiting()
    {
        // A client validates without the ceiling; the silo applies it where the request reaches it.
        Assert.True(RequestRules.TryValidate(new AcquireRequest { User = "alice", MaxWaitMs = 60_000 }, maxWait: null, out _, out _));
        Assert.Null(RequestRules.CheckWaitCeiling(30_000, MaxWait));
        var beyond = RequestRules.CheckWaitCeiling(30_001, MaxWait);
        Assert.Equal(new FieldProblem("maxWaitMs", "at most 30000 ms may be waited (got 30001); the ceiling is Quota:Decisions:MaxWait."), beyond);
    }
}
