using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Subjects;

namespace Quota.Grains.Tests.Subjects;

/// <summary>The decision core: all or nothing over a subject's policies, on plain values and fake time.</summary>
public sealed class SubjectLimitsTests
{
    private static readonly DateTimeOffset Noon = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static PolicyDefinition Fixed(string name, long limit, TimeSpan window) =>
        new() { Name = name, Algorithm = AlgorithmKind.FixedWindow, Limit = limit, Window = window };

    private static PolicyDefinition Concurrency(string name, long limit) =>
        new() { Name = name, Algorithm = AlgorithmKind.Concurrency, Limit = limit };

    private static SubjectLimits With(params PolicyDefinition[] definitions)
    {
        var limits = new SubjectLimits();
        limits.Apply(definitions, carryAcrossRenames: false, Noon);
        return limits;
    }

    [Fact]
    public void An_admitted_request_takes_on_every_policy_and_reports_each_limiters_numbers()
    {
        var limits = With(Fixed("minute", 10, TimeSpan.FromMinutes(1)), Fixed("hour", 100, TimeSpan.FromHours(1)));

        var verdict = limits.TryTake(3, Noon);

        Assert.Equal(DecisionOutcome.Allowed, verdict.Outcome);
        Assert.Null(verdict.LimitedBy);
        Assert.Equal(TimeSpan.Zero, verdict.RetryAfter);
        Assert.Equal(
            [new PolicyReading("minute", (byte)AlgorithmKind.FixedWindow, 10, 7, 60, 60_000), new PolicyReading("hour", (byte)AlgorithmKind.FixedWindow, 100, 97, 3600, 3_600_000)],
            verdict.Readings);
        Assert.Equal([new PolicyGrant("minute", 3, Noon.UtcTicks, 0), new PolicyGrant("hour", 3, Noon.UtcTicks, 0)], verdict.Grants);
        Assert.Equal(verdict.Readings, limits.Readings(Noon));
    }

    [Fact]
    public void A_denial_by_one_policy_refunds_the_others_exactly()
    {
        var limits = With(Fixed("minute", 10, TimeSpan.FromMinutes(1)), Fixed("small", 2, TimeSpan.FromSeconds(30)));
        Assert.True(limits.TryTake(2, Noon).Allowed);
        var before = limits.Readings(Noon.AddSeconds(1));

        var verdict = limits.TryTake(1, Noon.AddSeconds(1));

        Assert.Equal(DecisionOutcome.Denied, verdict.Outcome);
        Assert.Equal("small", verdict.LimitedBy);
        Assert.Equal(TimeSpan.FromSeconds(29), verdict.RetryAfter);
        Assert.Empty(verdict.Grants);
        Assert.Equal(before, verdict.Readings);
        Assert.Equal(before, limits.Readings(Noon.AddSeconds(1)));
    }

    [Fact]
    public void The_longest_retry_after_names_the_denying_policy()
    {
        var limits = With(Fixed("short", 1, TimeSpan.FromSeconds(10)), Fixed("long", 1, TimeSpan.FromMinutes(1)));
        Assert.True(limits.TryTake(1, Noon).Allowed);

        var verdict = limits.TryTake(1, Noon);

        Assert.Equal("long", verdict.LimitedBy);
        Assert.Equal(TimeSpan.FromMinutes(1), verdict.RetryAfter);
    }

    [Fact]
    public void A_cost_no_policy_can_ever_admit_wins_over_a_longer_wait_and_takes_nothing()
    {
        var limits = With(Fixed("long", 5, TimeSpan.FromHours(1)), Fixed("tiny", 10, TimeSpan.FromSeconds(1)));
        Assert.True(limits.TryTake(5, Noon).Allowed);

        var verdict = limits.TryTake(11, Noon);

        Assert.Equal(DecisionOutcome.CostExceedsLimit, verdict.Outcome);
        Assert.Equal("tiny", verdict.LimitedBy);
        Assert.Equal(Decision.Never, verdict.RetryAfter);
        Assert.Equal(5, limits.Readings(Noon)[1].Remaining);
    }

    [Fact]
    public void A_peek_takes_nothing_and_has_no_grants()
    {
        var limits = With(Fixed("minute", 1, TimeSpan.FromMinutes(1)));

        var verdict = limits.TryTake(0, Noon);

        Assert.True(verdict.Allowed);
        Assert.Empty(verdict.Grants);
        Assert.Equal(1, limits.Readings(Noon)[0].Remaining);
    }

    [Fact]
    public void Check_answers_what_a_take_would_without_taking()
    {
        var limits = With(Fixed("minute", 5, TimeSpan.FromMinutes(1)), Fixed("small", 2, TimeSpan.FromSeconds(30)));
        Assert.True(limits.TryTake(1, Noon).Allowed);
        var before = limits.Readings(Noon);

        var fits = limits.Check(1, Noon);
        var tooMany = limits.Check(2, Noon);
        var never = limits.Check(3, Noon);

        Assert.Equal(DecisionOutcome.Allowed, fits.Outcome);
        Assert.Equal(before, fits.Readings);
        Assert.Empty(fits.Grants);
        Assert.Equal((DecisionOutcome.Denied, "small", TimeSpan.FromSeconds(30)), (tooMany.Outcome, tooMany.LimitedBy, tooMany.RetryAfter));
        Assert.Equal((DecisionOutcome.CostExceedsLimit, "small", Decision.Never), (never.Outcome, never.LimitedBy, never.RetryAfter));
        Assert.Equal(before, limits.Readings(Noon));

        var taken = limits.TryTake(2, Noon);
        Assert.Equal((tooMany.Outcome, tooMany.LimitedBy, tooMany.RetryAfter), (taken.Outcome, taken.LimitedBy, taken.RetryAfter));
    }

    [Fact]
    public void Check_agrees_with_a_take_on_every_algorithm()
    {
        PolicyDefinition[] each =
        [
            Fixed("fixed", 4, TimeSpan.FromSeconds(10)),
            new() { Name = "sliding", Algorithm = AlgorithmKind.SlidingWindow, Limit = 4, Window = TimeSpan.FromSeconds(10) },
            new() { Name = "log", Algorithm = AlgorithmKind.SlidingLog, Limit = 4, Window = TimeSpan.FromSeconds(10) },
            new() { Name = "bucket", Algorithm = AlgorithmKind.TokenBucket, Limit = 4, Window = TimeSpan.FromSeconds(10) },
            Concurrency("concurrent", 4),
        ];
        foreach (var definition in each)
        {
            var limits = With(definition);
            for (var step = 0; step < 12; step++)
            {
                var now = Noon.AddSeconds(step * 1.5);
                var cost = 1 + (step % 3);
                var check = limits.Check(cost, now);
                var take = limits.TryTake(cost, now);
                Assert.True(
                    (check.Outcome, check.LimitedBy, check.RetryAfter) == (take.Outcome, take.LimitedBy, take.RetryAfter),
                    $"{definition.Name} at step {step}: check said {check.Outcome}/{check.RetryAfter}, the take {take.Outcome}/{take.RetryAfter}");
            }
        }
    }

    [Fact]
    public void Fits_asks_every_policy_for_the_remaining_permits()
    {
        var limits = With(Fixed("a", 5, TimeSpan.FromMinutes(1)), Fixed("b", 3, TimeSpan.FromMinutes(1)));

        Assert.True(limits.Fits(3, Noon));
        Assert.False(limits.Fits(4, Noon));
    }

    [Fact]
    public void Refund_gives_back_grants_and_ignores_a_policy_gone_since()
    {
        var limits = With(Fixed("a", 5, TimeSpan.FromMinutes(1)));
        var grants = limits.TryTake(2, Noon).Grants;

        limits.Refund([.. grants, new PolicyGrant("gone", 1, Noon.UtcTicks, 0)], Noon);

        Assert.Equal(5, limits.Readings(Noon)[0].Remaining);
    }

    [Fact]
    public void Applying_policies_keeps_usage_by_name_and_drops_what_is_no_longer_named()
    {
        var limits = With(Fixed("a", 5, TimeSpan.FromMinutes(1)), Fixed("b", 5, TimeSpan.FromMinutes(1)));
        Assert.True(limits.TryTake(2, Noon).Allowed);

        limits.Apply([Fixed("a", 10, TimeSpan.FromMinutes(1)), Fixed("c", 5, TimeSpan.FromMinutes(1))], carryAcrossRenames: false, Noon);

        Assert.Equal([8L, 5L], limits.Readings(Noon).Select(r => r.Remaining));
        Assert.Equal(["a", "c"], limits.Definitions().Select(d => d.Name));
    }

    [Fact]
    public void Carried_across_renames_a_replaced_policy_passes_its_count_to_the_new_one_of_the_same_window()
    {
        var limits = new SubjectLimits();
        limits.Apply([Fixed("per-minute", 5, TimeSpan.FromMinutes(1)), Fixed("per-hour", 50, TimeSpan.FromHours(1))], carryAcrossRenames: true, Noon);
        Assert.True(limits.TryTake(2, Noon).Allowed);

        limits.Apply([Fixed("hourly", 50, TimeSpan.FromHours(1)), Fixed("minutely", 5, TimeSpan.FromMinutes(1))], carryAcrossRenames: true, Noon);

        Assert.Equal([48L, 3L], limits.Readings(Noon).Select(r => r.Remaining));
    }

    [Fact]
    public void Durable_counters_are_noticed_when_applied()
    {
        var limits = With(Fixed("minute", 5, TimeSpan.FromMinutes(1)));
        Assert.False(limits.HasDurable);

        limits.Apply([Fixed("hour", 5, TimeSpan.FromHours(1))], carryAcrossRenames: false, Noon);

        Assert.True(limits.HasDurable);
    }

    [Fact]
    public void All_full_until_something_is_counted_and_again_once_it_drains()
    {
        var limits = With(Fixed("minute", 5, TimeSpan.FromMinutes(1)));
        Assert.True(limits.AllFull(Noon));

        Assert.True(limits.TryTake(1, Noon).Allowed);

        Assert.False(limits.AllFull(Noon.AddSeconds(59)));
        Assert.True(limits.AllFull(Noon.AddMinutes(1)));
    }

    [Fact]
    public void Concurrency_grants_carry_their_lease_number_and_the_policy_is_known_as_concurrency()
    {
        var limits = With(Concurrency("parallel", 2), Fixed("minute", 5, TimeSpan.FromMinutes(1)));

        var verdict = limits.TryTake(1, Noon);

        Assert.NotEqual(0, verdict.Grants[0].LeaseNumber);
        Assert.Equal(0, verdict.Grants[1].LeaseNumber);
        Assert.Null(verdict.Readings[0].WindowSeconds);
        Assert.True(limits.IsConcurrency("parallel"));
        Assert.False(limits.IsConcurrency("minute"));
        Assert.False(limits.IsConcurrency("queue"));
        Assert.Equal(AlgorithmKind.FixedWindow, limits.AlgorithmOf("minute"));
        Assert.Null(limits.AlgorithmOf(null));
    }

    [Fact]
    public void No_policies_admit_everything_with_no_grants()
    {
        var limits = new SubjectLimits();

        var verdict = limits.TryTake(5, Noon);

        Assert.True(verdict.Allowed);
        Assert.Empty(verdict.Grants);
        Assert.Empty(verdict.Readings);
    }
}
