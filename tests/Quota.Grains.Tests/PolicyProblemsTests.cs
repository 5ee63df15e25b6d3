using Quota.Abstractions;
using Quota.Algorithms.Limiting;

namespace Quota.Grains.Tests;

/// <summary>Problems with policies stay structured (path, detail) from where they are found to the answer.</summary>
public sealed class PolicyProblemsTests
{
    [Fact]
    public void EveryProblemNamesItsPathAndDetailWithoutTextBeingSplit()
    {
        // A name may hold ": " (the name rule allows it): splitting "path: detail" text at its first ": " would have cut
        // the path there.
        PolicySpec[] specs =
        [
            new() { Name = "a", Algorithm = "fixed-window", Limit = 0, Window = TimeSpan.FromMinutes(1) },
            null!,
            new() { Name = "a", Algorithm = "nope" },
        ];

        Assert.Null(PolicySpec.ToDefinitions(specs, "upstreams.u: x.policies", out var problems));

        Assert.Equal(
            [
                new FieldProblem("upstreams.u: x.policies[0].limit", "must be at least 1 (got 0); set it to the number of permits allowed."),
                new FieldProblem("upstreams.u: x.policies[1]", "a policy is required here."),
                new FieldProblem("upstreams.u: x.policies[2].algorithm", "'nope' is not an algorithm; use one of token-bucket, sliding-window, sliding-log, fixed-window, concurrency, calendar."),
                new FieldProblem("upstreams.u: x.policies[2].name", "'a' is used twice; policy names must be unique on a subject."),
            ],
            problems);
    }

    [Fact]
    public void ADefinitionsProblemsNameTheFieldAndPrintAsBefore()
    {
        var definition = new PolicyDefinition { Name = "p", Algorithm = AlgorithmKind.Calendar, Limit = 5, TimeZone = "Nowhere/Else" };

        Assert.Equal(
            [
                new PolicyProblem("period", "a calendar policy needs a period; set it to day, week or month."),
                new PolicyProblem("timeZone", "'Nowhere/Else' is not a known time zone; use an IANA name such as 'UTC' or 'Europe/Warsaw'."),
            ],
            definition.Problems());
        Assert.Equal(definition.Problems().Select(p => $"{p.Field}: {p.Detail}"), definition.Validate());
    }
}
