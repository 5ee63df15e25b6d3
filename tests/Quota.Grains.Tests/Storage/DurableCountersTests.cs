using Quota.Algorithms.Limiting;
using Quota.Grains.Storage;

namespace Quota.Grains.Tests.Storage;

/// <summary>Which counters are durable, what a checkpoint claims, and when a write must start at once.</summary>
public sealed class DurableCountersTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static Limiter Daily(long limit) => new PolicyDefinition
    {
        Name = "daily",
        Algorithm = AlgorithmKind.Calendar,
        Limit = limit,
        Period = CalendarPeriod.Day,
        TimeZone = "UTC",
    }.CreateLimiter();

    private static Limiter Fixed(TimeSpan window) =>
        new PolicyDefinition { Name = "fixed", Algorithm = AlgorithmKind.FixedWindow, Limit = 100, Window = window }.CreateLimiter();

    [Fact]
    public void Calendar_quotas_and_fixed_windows_of_an_hour_or_more_are_durable_and_nothing_else()
    {
        Assert.True(DurableCounters.IsDurable(Daily(10)));
        Assert.True(DurableCounters.IsDurable(Fixed(TimeSpan.FromHours(1))));
        Assert.False(DurableCounters.IsDurable(Fixed(TimeSpan.FromMinutes(59))));
        Assert.False(DurableCounters.IsDurable(new PolicyDefinition { Name = "s", Algorithm = AlgorithmKind.SlidingWindow, Limit = 10, Window = TimeSpan.FromDays(1) }.CreateLimiter()));
        Assert.False(DurableCounters.IsDurable(new PolicyDefinition { Name = "t", Algorithm = AlgorithmKind.TokenBucket, Limit = 10, Window = TimeSpan.FromDays(1) }.CreateLimiter()));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(99, 1)]
    [InlineData(100, 1)]
    [InlineData(1000, 10)]
    [InlineData(1_000_000, 10_000)]
    public void The_claim_is_one_percent_of_the_limit_and_at_least_one(long limit, long claim) =>
        Assert.Equal(claim, DurableCounters.ClaimFor(limit));

    [Fact]
    public void A_checkpoint_claims_ahead_and_an_exact_one_does_not()
    {
        var daily = Daily(1000);
        daily.Acquire(250, Noon);
        var counters = new DurableCounters();

        var ahead = counters.Next([daily], Noon, exact: false).Counters["daily"];
        var exact = counters.Next([daily], Noon, exact: true).Counters["daily"];

        Assert.Equal(260, ahead.Claimed);
        Assert.Equal(250, exact.Claimed);
        Assert.Equal(((PeriodLimiter)daily).PeriodStartTicks, ahead.PeriodStartTicks);
    }

    [Fact]
    public void The_claim_never_reaches_past_the_limit_unless_usage_already_did()
    {
        var daily = Daily(1000);
        daily.Acquire(995, Noon);
        var counters = new DurableCounters();
        Assert.Equal(1000, counters.Next([daily], Noon, exact: false).Counters["daily"].Claimed);

        daily.Consume(20, Noon);
        Assert.Equal(1015, counters.Next([daily], Noon, exact: false).Counters["daily"].Claimed);
    }

    [Fact]
    public void A_write_is_needed_at_once_for_a_new_period_and_within_half_a_claim_of_the_ceiling()
    {
        var daily = Daily(1000);
        var counters = new DurableCounters();
        Assert.False(counters.NeedsWriteNow([daily], Noon));

        daily.Acquire(1, Noon);
        Assert.True(counters.NeedsWriteNow([daily], Noon));

        counters.Written(counters.Next([daily], Noon, exact: false));
        Assert.False(counters.NeedsWriteNow([daily], Noon));

        // Ceiling 11, half a claim is 5: at 7 the next write starts, before the ceiling is reached.
        daily.Acquire(4, Noon);
        Assert.False(counters.NeedsWriteNow([daily], Noon));
        daily.Acquire(1, Noon);
        Assert.False(counters.NeedsWriteNow([daily], Noon));
        daily.Acquire(1, Noon);
        Assert.True(counters.NeedsWriteNow([daily], Noon));

        // The next day is a new period with no checkpoint of its own.
        counters.Written(counters.Next([daily], Noon, exact: false));
        daily.Acquire(1, Noon.AddDays(1));
        Assert.True(counters.NeedsWriteNow([daily], Noon.AddDays(1)));
    }

    [Fact]
    public void Restore_applies_the_ceiling_to_the_current_period_only()
    {
        var before = Daily(1000);
        before.Acquire(300, Noon);
        var saved = new DurableCounters().Next([before], Noon, exact: false);

        var today = Daily(1000);
        var tomorrow = Daily(1000);

        Assert.Equal(1, new DurableCounters().Restore(saved, [today], Noon.AddHours(2)));
        Assert.Equal(310, today.GetUsage(Noon.AddHours(2)).Used);
        Assert.Equal(0, new DurableCounters().Restore(saved, [tomorrow], Noon.AddDays(1)));
        Assert.Equal(0, tomorrow.GetUsage(Noon.AddDays(1)).Used);
    }

    [Fact]
    public void What_was_written_is_compared_with_what_would_be_written()
    {
        var daily = Daily(1000);
        daily.Acquire(5, Noon);
        var counters = new DurableCounters();
        var ahead = counters.Next([daily], Noon, exact: false);
        counters.Written(ahead);

        Assert.False(counters.DiffersFromWritten(counters.Next([daily], Noon, exact: false)));
        Assert.True(counters.DiffersFromWritten(counters.Next([daily], Noon, exact: true)));
    }

    [Fact]
    public void A_subject_busy_during_its_last_write_claims_twice_what_it_admitted_meanwhile()
    {
        var daily = Daily(1000);
        daily.Acquire(100, Noon);
        var counters = new DurableCounters { PermitsDuringLastWrite = 40 };

        Assert.Equal(180, counters.Next([daily], Noon, exact: false).Counters["daily"].Claimed);

        counters.PermitsDuringLastWrite = 2;
        Assert.Equal(110, counters.Next([daily], Noon, exact: false).Counters["daily"].Claimed);
    }

    [Fact]
    public void The_next_write_starts_within_half_of_the_claim_that_was_written()
    {
        var daily = Daily(1000);
        daily.Acquire(100, Noon);
        var counters = new DurableCounters { PermitsDuringLastWrite = 40 };
        counters.Written(counters.Next([daily], Noon, exact: false));

        // Ceiling 180 from a claim of 80: the next write starts past 140, not at 175 as the least claim would say.
        daily.Acquire(40, Noon);
        Assert.False(counters.NeedsWriteNow([daily], Noon));
        daily.Acquire(1, Noon);
        Assert.True(counters.NeedsWriteNow([daily], Noon));
    }

    [Fact]
    public void A_request_past_the_written_ceiling_or_in_an_unwritten_period_must_wait_for_a_checkpoint()
    {
        var daily = Daily(1000);
        var counters = new DurableCounters();
        Assert.True(counters.WouldPassCeiling([daily], 1, Noon));

        daily.Acquire(100, Noon);
        counters.Written(counters.Next([daily], Noon, exact: false));

        // Ceiling 110: up to 10 more fit; 11 do not; a request the quota denies anyway is not held.
        Assert.False(counters.WouldPassCeiling([daily], 10, Noon));
        Assert.True(counters.WouldPassCeiling([daily], 11, Noon));
        Assert.False(counters.WouldPassCeiling([daily], 901, Noon));
        Assert.True(counters.WouldPassCeiling([daily], 1, Noon.AddDays(1)));
    }

    [Fact]
    public void Held_demand_is_added_to_the_claim_while_it_is_held()
    {
        var daily = Daily(1000);
        var counters = new DurableCounters { Demand = 50 };

        Assert.Equal(60, counters.Next([daily], Noon, exact: false).Counters["daily"].Claimed);

        counters.Demand = 0;
        Assert.Equal(10, counters.Next([daily], Noon, exact: false).Counters["daily"].Claimed);
    }

    [Fact]
    public void A_later_checkpoint_never_writes_a_lower_ceiling_for_the_same_period()
    {
        // Found in review: a write with a large held demand, then a smaller claim, must not lower the ceiling that
        // requests admitted meanwhile were checked against.
        var daily = Daily(1000);
        var counters = new DurableCounters { Demand = 50 };
        counters.Written(counters.Next([daily], Noon, exact: false));
        counters.Demand = 0;
        daily.Acquire(30, Noon);

        Assert.Equal(60, counters.Next([daily], Noon, exact: false).Counters["daily"].Claimed);
        Assert.Equal(30, counters.Next([daily], Noon, exact: true).Counters["daily"].Claimed);
        Assert.Equal(10, counters.Next([daily], Noon.AddDays(1), exact: false).Counters["daily"].Claimed);
    }

    [Fact]
    public void No_write_is_needed_once_the_written_ceiling_reaches_the_limit()
    {
        var daily = Daily(100);
        daily.Acquire(99, Noon);
        var counters = new DurableCounters();
        counters.Written(counters.Next([daily], Noon, exact: false));

        daily.Acquire(1, Noon);

        Assert.False(counters.NeedsWriteNow([daily], Noon));
    }

    [Fact]
    public void Merging_keeps_the_higher_ceiling_of_a_period_and_the_later_period()
    {
        var stored = new UsageCheckpointState();
        stored.Counters["daily"] = new CounterCheckpoint(100, 70);
        stored.Counters["monthly"] = new CounterCheckpoint(200, 5);
        var next = new UsageCheckpointState();
        next.Counters["daily"] = new CounterCheckpoint(100, 60);
        next.Counters["monthly"] = new CounterCheckpoint(100, 900);
        next.Counters["hourly"] = new CounterCheckpoint(100, 3);

        var merged = DurableCounters.Merge(stored, next);

        Assert.Equal(new CounterCheckpoint(100, 70), merged.Counters["daily"]);
        Assert.Equal(new CounterCheckpoint(200, 5), merged.Counters["monthly"]);
        Assert.Equal(new CounterCheckpoint(100, 3), merged.Counters["hourly"]);
    }
}
