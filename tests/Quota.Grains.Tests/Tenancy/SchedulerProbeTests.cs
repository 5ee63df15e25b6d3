using Orleans.Core.Internal;
using Orleans.Runtime;
using Quota.Abstractions;

namespace Quota.Grains.Tests.Tenancy;

/// <summary>
/// The scheduler's and the pool's edge cases, each found by a review probe that failed before its fix: the pool's
/// view of shrunk tokens across moves, deactivations and restarts; a Retry-After beyond a timer's range; reserves
/// recorded as they hold; successor chains; rotation past a promised token; requests in flight that are not rate use;
/// re-applied documents keeping the scheduler's assignments; a run that cannot start; the change log of every token a
/// step changed.
/// </summary>
[Collection(SchedulerCollection.Name)]
public sealed class SchedulerProbeTests(SchedulerFixture fixture)
{
    // ---------------------------------------------------------------- pool's view of shrunk tokens (_tokenLimits)

    [Fact]
    public async Task PoolCountsATokenFullyOnceItRecoveredWhileDedicatedAndIsPooledAgain()
    {
        var upstream = TenancyFixture.Unique("pst");
        var owner = TenancyFixture.Unique("own");
        var change = TenancyFixture.Upstream(upstream, 2, 100);
        await fixture.ChangeAsync(change with { Tenants = new() { [owner] = new TenantSpec { Upstream = upstream, Strategy = "hybrid" } } });
        var pool = fixture.Grains.GetGrain<IPoolGrain>(upstream);
        var t1 = fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t1");

        // Pooled t1 paused by a Retry-After: the pool is told it admits 0.
        await t1.ReportAsync(new UpstreamFeedback { Status = 429, RetryAfterMs = 5_000 });
        Assert.Equal(95, (await pool.GetAllocationAsync())!.CapacityNow);

        // The operator dedicates it; it recovers fully while dedicated (so it tells the pool nothing), then is pooled again.
        await fixture.ChangeAsync(new TenancyChange { Tokens = [SchedulerFixture.Token(change, 0, owner)] });
        fixture.Time.Advance(TimeSpan.FromSeconds(6));
        await t1.Cast<ITokenClusterGrain>().LimitTickAsync();
        fixture.Time.Advance(TimeSpan.FromSeconds(200));
        await t1.Cast<ITokenClusterGrain>().LimitTickAsync();
        Assert.Equal(1.0, (await t1.GetStatusAsync())!.Health.LimitFactor);
        await fixture.ChangeAsync(new TenancyChange { Tokens = [SchedulerFixture.Token(change, 0, null)] });

        var report = (await pool.GetAllocationAsync())!;
        Assert.Equal((190L, 190L), (report.Capacity, report.CapacityNow));
    }

    [Fact]
    public async Task APausedDedicatedTokenMovedIntoThePoolIsNotLentAsIfFull()
    {
        var upstream = TenancyFixture.Unique("pin");
        var owner = TenancyFixture.Unique("own");
        var change = TenancyFixture.Upstream(upstream, 2, 100);
        await fixture.ChangeAsync(change with { Tenants = new() { [owner] = new TenantSpec { Upstream = upstream, Strategy = "hybrid" } } });
        await fixture.ChangeAsync(new TenancyChange { Tokens = [SchedulerFixture.Token(change, 0, owner)] });
        var t1 = fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t1");

        // Paused for ten minutes while dedicated, then pooled (by the operator; a drain or rotation does the same).
        await t1.ReportAsync(new UpstreamFeedback { Status = 429, RetryAfterMs = 600_000 });
        await fixture.ChangeAsync(new TenancyChange { Tokens = [SchedulerFixture.Token(change, 0, null)] });
        Assert.Equal(600_000, (await t1.GetStatusAsync())!.Health.PausedForMs);

        var report = (await fixture.Grains.GetGrain<IPoolGrain>(upstream).GetAllocationAsync())!;
        Assert.Equal((190L, 95L), (report.Capacity, report.CapacityNow));
    }

    [Fact]
    public async Task ATokenGrainDeactivatedWhileShrunkDoesNotLeaveThePoolShortForever()
    {
        var upstream = TenancyFixture.Unique("pde");
        var tenant = TenancyFixture.Unique("ten");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100) with { Tenants = new() { [tenant] = new TenantSpec { Upstream = upstream } } });
        var pool = fixture.Grains.GetGrain<IPoolGrain>(upstream);
        var t1 = fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t1");
        await t1.ReportAsync(new UpstreamFeedback { Status = 429, RetryAfterMs = 20_000 });
        Assert.Equal(95, (await pool.GetAllocationAsync())!.CapacityNow);

        // The token grain is collected (idle: a paused token gets no requests); its 429 state lives only in memory.
        await t1.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        fixture.Time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(1.0, (await t1.GetStatusAsync())!.Health.LimitFactor);

        Assert.Equal(190, (await pool.GetAllocationAsync())!.CapacityNow);
    }

    [Fact]
    public async Task APoolReactivatedWhileATokenIsPausedStillLendsWithoutIt()
    {
        var upstream = TenancyFixture.Unique("pra");
        var tenant = TenancyFixture.Unique("ten");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100) with { Tenants = new() { [tenant] = new TenantSpec { Upstream = upstream } } });
        var pool = fixture.Grains.GetGrain<IPoolGrain>(upstream);
        var t1 = fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t1");
        await t1.ReportAsync(new UpstreamFeedback { Status = 429, RetryAfterMs = 600_000 });
        Assert.Equal(95, (await pool.GetAllocationAsync())!.CapacityNow);

        await pool.Cast<IGrainManagementExtension>().DeactivateOnIdle();

        // The new activation hears from the token within a recovery interval (its timer, awaited here).
        fixture.Time.Advance(TimeSpan.FromSeconds(10));
        await t1.Cast<ITokenClusterGrain>().LimitTickAsync();
        Assert.Equal(590_000, (await t1.GetStatusAsync())!.Health.PausedForMs);
        Assert.Equal(95, (await pool.GetAllocationAsync())!.CapacityNow);
    }

    [Fact]
    public async Task ARetryAfterLongerThanATimerAllowsIsTakenWithoutError()
    {
        var upstream = TenancyFixture.Unique("pra");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100));
        var t1 = fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t1");

        // 60 days: a valid TimeSpan beyond a timer's ~49.7 days (POST /v1/feedback refuses more than a day; the grain, called
        // directly, clamps what it is given to a day).
        var health = await t1.ReportAsync(new UpstreamFeedback { Status = 429, RetryAfterMs = (long)TimeSpan.FromDays(60).TotalMilliseconds });

        Assert.Equal(UpstreamFeedback.MaxRetryAfterMs, health!.PausedForMs); // taken as the longest accepted, a day
        Assert.Equal(95, (await fixture.Grains.GetGrain<IPoolGrain>(upstream).GetAllocationAsync())!.CapacityNow);
    }

    // ---------------------------------------------------------------- reserves: what is recorded vs what holds

    [Fact]
    public async Task BoundsThatLeaveOutTheWrittenReserveAreRefused()
    {
        // The scheduler adapts from the written reserve within the bounds: a minimum above it (the first step would
        // jump to the minimum) or a maximum below it is refused, naming the field.
        var upstream = TenancyFixture.Unique("mn");
        var (low, high) = (TenancyFixture.Unique("low"), TenancyFixture.Unique("high"));
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100));
        var outcome = await fixture.Tenancy.ChangeAsync(new TenancyChange
        {
            Tenants = new()
            {
                [low] = new TenantSpec { Upstream = upstream, Reserved = 20, Adaptive = new AdaptiveSpec { Minimum = 40 } },
                [high] = new TenantSpec { Upstream = upstream, Reserved = 20, Adaptive = new AdaptiveSpec { Maximum = 15 } },
            },
        }, dryRun: false);

        Assert.Equal(
        [
            ($"tenants.{high}.adaptive.maximum", "is 15, below the reserve of 20; the scheduler adapts the reserve from there within the bounds, so they must include it: raise the maximum or lower the reserve."),
            ($"tenants.{low}.adaptive.minimum", "is 40, above the reserve of 20; the scheduler adapts the reserve from there within the bounds, so they must include it: lower the minimum or raise the reserve."),
        ], outcome.Problems.OrderBy(p => p.Field, StringComparer.Ordinal).Select(p => (p.Field, p.Detail)));
        Assert.Null(await fixture.Tenancy.GetTenantAsync(low));
    }

    [Fact]
    public async Task AStaleRaiseAfterTheOperatorLoweredTheMaximumRecordsTheReserveInForce()
    {
        var upstream = TenancyFixture.Unique("mx");
        var busy = TenancyFixture.Unique("busy");
        var spec = new TenantSpec { Upstream = upstream, Reserved = 50 };
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100) with { Tenants = new() { [busy] = spec } });

        // Planned on 50 -> 60; before the step arrives the operator caps the tenant at 55.
        SchedulerAction[] steps = [new() { Kind = "reserve", Tenant = busy, Upstream = upstream, Old = 50, New = 60, Reason = "probe" }];
        await fixture.ChangeAsync(new TenancyChange { Tenants = new() { [busy] = spec with { Adaptive = new AdaptiveSpec { Maximum = 55 } } } });
        var outcome = await fixture.Tenancy.ScheduleAsync(2_000_000, steps);

        // The step is clamped to the new maximum, and what is recorded is what holds: 55, not the planned 60.
        var view = (await fixture.Tenancy.GetTenantAsync(busy))!;
        Assert.Equal(55, view.Reserved);
        Assert.Equal("55", Assert.Single(outcome.Applied).New);
        Assert.Equal("55", Assert.Single(await fixture.Tenancy.GetSchedulerHistoryAsync(10, $"tenant:{busy}")).New);
    }

    // ---------------------------------------------------------------- successors and rotation

    [Fact]
    public async Task ASuccessorChainWhoseMiddleTokenRetiresFirstStillCompletes()
    {
        // t1 -> t2 -> t3, all pooled and live, except t2 is paused by a Retry-After in the first run: t1 waits, t2 retires.
        var upstream = TenancyFixture.Unique("ch");
        var change = TenancyFixture.Upstream(upstream, 3, 100);
        await fixture.ChangeAsync(change);
        await fixture.ChangeAsync(new TenancyChange { Tokens = [SchedulerFixture.Token(change, 0, null, "t2"), SchedulerFixture.Token(change, 1, null, "t3")] });
        await fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t2").ReportAsync(new UpstreamFeedback { Status = 429, RetryAfterMs = 20_000 });

        var first = await fixture.Scheduler.RunAsync();
        Assert.Contains(first.Changes, c => c.Kind == "retire" && c.Subject == $"token:{upstream}/t2");

        // The pause ends, t2's leases end; several runs later the chain must have moved on: t2 gone, t1 retired too.
        SchedulerRun last = first;
        for (var i = 0; i < 4; i++)
        {
            fixture.Time.Advance(TimeSpan.FromSeconds(30));
            last = await fixture.Scheduler.RunAsync();
        }

        var view = (await fixture.Tenancy.GetUpstreamAsync(upstream))!;
        var t1 = view.Tokens.SingleOrDefault(t => t.Id == "t1");
        Assert.True(
            view.Tokens.All(t => t.Id != "t2") && (t1 is null || t1.RetiringSince is not null),
            $"stuck: tokens {string.Join(", ", view.Tokens.Select(t => $"{t.Id}(successor {t.Successor}, retiring {t.RetiringSince})"))}; held: {string.Join(" | ", last.Held.Where(h => h.Contains(upstream, StringComparison.Ordinal)))}");
    }

    [Fact]
    public async Task RotationMovesToAnotherCoolTokenWhenTheCoolestCannotTakeTheTenant()
    {
        // a (pooled, secret) names b (pooled, no secret yet) as successor: its retirement waits. h (no secret) is the
        // dedicated tenant's hot token; b and c are cool pooled tokens. b cannot be dedicated while a names it.
        var upstream = TenancyFixture.Unique("rs");
        var owner = TenancyFixture.Unique("own");
        TokenChange New(string id, string? secret, string? dedicatedTo = null, string? successor = null) =>
            new(upstream, id, new TokenSpec { Policies = [TenancyFixture.PerMinute(100)], Secret = secret, DedicatedTo = dedicatedTo, Successor = successor });
        await fixture.ChangeAsync(new TenancyChange
        {
            Upstreams = new() { [upstream] = new UpstreamSpec { BufferPercent = 5 } },
            Tokens = [New("b", null), New("c", null)],
        });
        await fixture.ChangeAsync(new TenancyChange
        {
            Tokens = [New("a", "secret-a", successor: "b")],
            Tenants = new() { [owner] = new TenantSpec { Upstream = upstream, Strategy = "dedicated" } },
        });
        await fixture.ChangeAsync(new TenancyChange { Tokens = [New("h", null, dedicatedTo: owner)] });

        Assert.Equal(90, await fixture.AcquireAsync(owner, 90));
        var run = await fixture.Scheduler.RunAsync();

        Assert.Equal(["c"], (await fixture.Tenancy.GetTenantAsync(owner))!.DedicatedTokens);
        Assert.Contains(run.Changes, c => c.Kind == "rotate" && c.Subject == $"token:{upstream}/h");
    }

    [Fact]
    public async Task RequestsInFlightUnderAConcurrencyPolicyAreNotRateUseAndDoNotRotateAToken()
    {
        var upstream = TenancyFixture.Unique("cc");
        var owner = TenancyFixture.Unique("own");
        var change = TenancyFixture.Upstream(upstream, 2, 100);
        await fixture.ChangeAsync(change with { Tenants = new() { [owner] = new TenantSpec { Upstream = upstream, Strategy = "dedicated" } } });
        var inFlight = new PolicySpec { Name = "in-flight", Algorithm = "concurrency", Limit = 10, LeaseTtl = TimeSpan.FromMinutes(5) };
        await fixture.ChangeAsync(new TenancyChange
        {
            Tokens = [change.Tokens[0] with { Spec = change.Tokens[0].Spec! with { Secret = null, DedicatedTo = owner, Policies = [TenancyFixture.PerMinute(100), inFlight] } }],
        });

        // Nine requests: 9 of 100 per minute (9%), nine of ten in flight.
        Assert.Equal(9, await fixture.AcquireAsync(owner, 9));
        var status = (await fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t1").GetStatusAsync())!;
        Assert.Equal(9, status.InFlight);
        Assert.True(status.Utilisation < 0.5, $"utilisation {status.Utilisation} (used {status.Used}): the rate policy is 9% used");

        var run = await fixture.Scheduler.RunAsync();
        Assert.DoesNotContain(run.Changes, c => c.Subject == $"token:{upstream}/t1");
        Assert.Equal(["t1"], (await fixture.Tenancy.GetTenantAsync(owner))!.DedicatedTokens);
    }

    [Fact]
    public async Task ReapplyingTheOperatorsUnchangedTokensAfterARetirementLeavesTheTenantALiveToken()
    {
        var upstream = TenancyFixture.Unique("ra");
        var owner = TenancyFixture.Unique("own");
        var change = TenancyFixture.Upstream(upstream, 3, 100);
        await fixture.ChangeAsync(change with { Tenants = new() { [owner] = new TenantSpec { Upstream = upstream, Strategy = "dedicated" } } });

        // The operator's document: t1 dedicated to the owner, succeeded by t3 (pooled as written).
        TokenChange[] document = [SchedulerFixture.Token(change, 0, owner, "t3"), SchedulerFixture.Token(change, 2, null)];
        await fixture.ChangeAsync(new TenancyChange { Tokens = document });
        var run = await fixture.Scheduler.RunAsync();
        Assert.Contains(run.Changes, c => c.Kind == "retire" && c.Subject == $"token:{upstream}/t1");
        Assert.Equal(["t3"], (await fixture.Tenancy.GetTenantAsync(owner))!.DedicatedTokens);

        // `apply -f` of the same document again (idempotent by contract).
        await fixture.ChangeAsync(new TenancyChange { Tokens = document, Source = "apply" });

        Assert.Equal(["t3"], (await fixture.Tenancy.GetTenantAsync(owner))!.DedicatedTokens);
        Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = owner })).Allowed);
    }

    // ---------------------------------------------------------------- status and records

    [Fact]
    public async Task ARunWhoseClaimWriteFailsShowsTheFailureInTheStatus()
    {
        await fixture.Scheduler.RunAsync();
        var before = await fixture.Scheduler.GetStatusAsync();
        Assert.Null(before.LastError);

        fixture.Storage.FailWrite = (name, _) => name == "scheduler";
        try
        {
            var error = await Assert.ThrowsAsync<OrleansException>(() => fixture.Scheduler.RunAsync());
            Assert.Equal("Write of 'scheduler' failed (injected by the test).", Assert.IsType<InvalidOperationException>(error.InnerException).Message);
        }
        finally
        {
            fixture.Storage.FailWrite = null;
        }

        var status = await fixture.Scheduler.GetStatusAsync();
        await fixture.Scheduler.RunAsync();
        Assert.Equal($"run {before.Runs + 1} could not start: its state could not be written (OrleansException)", status.LastError);
        Assert.Equal(before.Runs, status.Runs);
    }

    [Fact]
    public async Task ARotationIsInTheChangeLogOfTheTokenThatTookTheTenant()
    {
        var upstream = TenancyFixture.Unique("cl");
        var owner = TenancyFixture.Unique("own");
        var change = TenancyFixture.Upstream(upstream, 3, 100);
        await fixture.ChangeAsync(change with { Tenants = new() { [owner] = new TenantSpec { Upstream = upstream, Strategy = "dedicated" } } });
        await fixture.ChangeAsync(new TenancyChange { Tokens = [SchedulerFixture.Token(change, 0, owner)] });
        Assert.Equal(90, await fixture.AcquireAsync(owner, 90));

        var run = await fixture.Scheduler.RunAsync();
        Assert.Contains(run.Changes, c => c.Kind == "rotate" && c.Subject == $"token:{upstream}/t1");
        Assert.Equal(["t2"], (await fixture.Tenancy.GetTenantAsync(owner))!.DedicatedTokens);

        // t2's dedicatedTo changed (null -> owner): the change log of t2 must show it.
        var log = await fixture.Grains.GetGrain<IChangeLogGrain>(0).ListAsync(10, $"token:{upstream}/t2");
        Assert.Contains(log, r => r.Source == "scheduler");
    }

    // ---------------------------------------------------------------- checked and fine (these pass)

    [Fact]
    public async Task AnAdjustmentDoesNotSurviveARoundTripThroughTheDedicatedStrategy()
    {
        var upstream = TenancyFixture.Unique("st");
        var tenant = TenancyFixture.Unique("ten");
        var spec = new TenantSpec { Upstream = upstream, Reserved = 50 };
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100) with { Tenants = new() { [tenant] = spec } });
        var outcome = await fixture.Tenancy.ScheduleAsync(3_000_000, [new() { Kind = "reserve", Tenant = tenant, Upstream = upstream, Old = 50, New = 55, Reason = "probe" }]);
        Assert.Single(outcome.Applied);
        Assert.Equal(55, (await fixture.Tenancy.GetTenantAsync(tenant))!.Reserved);

        await fixture.ChangeAsync(new TenancyChange { Tenants = new() { [tenant] = spec with { Reserved = null, Strategy = "dedicated" } } });
        Assert.Equal(0, (await fixture.Tenancy.GetTenantAsync(tenant))!.Reserved);
        await fixture.ChangeAsync(new TenancyChange { Tenants = new() { [tenant] = spec } });
        var back = (await fixture.Tenancy.GetTenantAsync(tenant))!;
        Assert.Equal((50L, (DateTimeOffset?)null), (back.Reserved, back.AdaptedAt));
    }

    [Fact]
    public void NextChangeAtIsAlwaysAfterNowAndNullOnceRecovered()
    {
        var limit = new Quota.Algorithms.Health.AdaptiveLimit(new Quota.Algorithms.Health.AdaptiveLimitOptions());
        var t0 = TenancyFixture.Start;
        Assert.Null(limit.NextChangeAt(t0));
        limit.RateLimited(t0, TimeSpan.FromSeconds(25));
        Assert.Equal(t0 + TimeSpan.FromSeconds(25), limit.NextChangeAt(t0));
        for (var ms = 25_000; ms < 200_000; ms += 137)
        {
            var now = t0 + TimeSpan.FromMilliseconds(ms);
            if (limit.NextChangeAt(now) is { } next)
            {
                Assert.True(next > now, $"at +{ms} ms the next change {next:O} is not after now");
            }
            else
            {
                Assert.Equal(1.0, limit.FactorAt(now));
            }
        }

        Assert.Null(limit.NextChangeAt(t0 + TimeSpan.FromSeconds(200)));
    }
}
