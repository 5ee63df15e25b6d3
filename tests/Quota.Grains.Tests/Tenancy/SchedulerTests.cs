using Orleans.Storage;
using Quota.Abstractions;

namespace Quota.Grains.Tests.Tenancy;

/// <summary>
/// A tenancy cluster whose storage can fail writes on demand (a database outage, or a crash between two writes). The
/// scheduler does not run by itself here: tests run it explicitly, so every run is one the test made.
/// </summary>
public sealed class SchedulerFixture : TenancyFixture
{
    public SharedStorage Storage { get; } = new();

    public ISchedulerGrain Scheduler => Grains.GetGrain<ISchedulerGrain>(0);

    /// <summary>The window between use samples: a minute and two seconds, so each sample sees only its own window.</summary>
    public static readonly TimeSpan Cycle = TimeSpan.FromSeconds(62);

    protected override IGrainStorage? SharedStorage => Storage;

    /// <summary>One of <paramref name="change"/>'s tokens rewritten with an owner and successor, keeping its secret.</summary>
    public static TokenChange Token(TenancyChange change, int index, string? dedicatedTo, string? successor = null) =>
        change.Tokens[index] with { Spec = change.Tokens[index].Spec! with { Secret = null, DedicatedTo = dedicatedTo, Successor = successor } };

    /// <summary>Takes <paramref name="perTenant"/> permits for each tenant, waits two seconds, runs, and moves to the next window.</summary>
    public async Task<SchedulerRun> CycleAsync(string[] tenants, int perTenant)
    {
        foreach (var tenant in tenants)
        {
            Assert.Equal(perTenant, await AcquireAsync(tenant, perTenant));
        }

        Time.Advance(TimeSpan.FromSeconds(2));
        var run = await Scheduler.RunAsync();
        Time.Advance(Cycle - TimeSpan.FromSeconds(2));
        return run;
    }

    /// <summary>Asks <paramref name="count"/> single permits for <paramref name="tenant"/>; answers how many were granted.</summary>
    public async Task<int> AcquireAsync(string tenant, int count)
    {
        var granted = 0;
        for (var i = 0; i < count; i++)
        {
            granted += (await Quota.AcquireAsync(new AcquireRequest { Tenant = tenant })).Allowed ? 1 : 0;
        }

        return granted;
    }
}

[CollectionDefinition(Name)]
public sealed class SchedulerCollection : ICollectionFixture<SchedulerFixture>
{
    public const string Name = "scheduler";
}

/// <summary>
/// The scheduler's rules on crafted use, on fake time, through the whole decision path: each rule's exact effect, the
/// reservation rule and token ceilings holding throughout, the history, and runs cut short.
/// </summary>
[Collection(SchedulerCollection.Name)]
public sealed class SchedulerTests(SchedulerFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task ReservesFollowUseWithinTheirBoundsAndTheHistoryRecordsEachStep()
    {
        var upstream = TenancyFixture.Unique("ad");
        string[] names = ["busy", "idle", "capped", "optout", "floored"];
        var t = names.ToDictionary(n => n, TenancyFixture.Unique);
        var specs = new Dictionary<string, TenantSpec?>
        {
            [t["busy"]] = new() { Upstream = upstream, Reserved = 50 },
            [t["idle"]] = new() { Upstream = upstream, Reserved = 50 },
            [t["capped"]] = new() { Upstream = upstream, Reserved = 50, Adaptive = new AdaptiveSpec { Maximum = 55 } },
            [t["optout"]] = new() { Upstream = upstream, Reserved = 50, Adaptive = new AdaptiveSpec { Enabled = false } },
            [t["floored"]] = new() { Upstream = upstream, Reserved = 50, Adaptive = new AdaptiveSpec { Minimum = 48 } },
        };

        // Four tokens of 100 less 5%: a pool of 380, reserves may take 304; these take 250.
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 4, 100) with { Tenants = specs });
        string[] heavy = [t["busy"], t["capped"], t["optout"]];

        // Four windows of use: the heavy tenants take their whole reserve, the others nothing. No change yet: a
        // tenant needs five samples.
        for (var i = 0; i < 4; i++)
        {
            var early = await fixture.CycleAsync(heavy, 50);
            Assert.Empty(Mine(early.Changes, t.Values));
        }

        var run = await fixture.CycleAsync(heavy, 50);
        var changes = Mine(run.Changes, t.Values).ToDictionary(c => c.Subject);
        Assert.Equal(4, changes.Count);
        Assert.Equal(("50", "60"), Values(changes[$"tenant:{t["busy"]}"]));
        Assert.Equal(("50", "45"), Values(changes[$"tenant:{t["idle"]}"]));
        Assert.Equal(("50", "55"), Values(changes[$"tenant:{t["capped"]}"]));
        Assert.Equal(("50", "48"), Values(changes[$"tenant:{t["floored"]}"]));
        Assert.False(changes.ContainsKey($"tenant:{t["optout"]}"));
        Assert.Equal("average use 50 of its reserve of 50 per window over 5 samples (100%), peak 50: above 90% with a peak at the reserve", changes[$"tenant:{t["busy"]}"].Reason);
        Assert.Equal("average use 0 of its reserve of 50 per window over 5 samples (0%), below 30%", changes[$"tenant:{t["idle"]}"].Reason);
        Assert.All(changes.Values, c => Assert.Equal(("reserve", run.Run, run.At), (c.Kind, c.Run, c.At)));

        // The views, the pool and the history agree.
        var busy = (await fixture.Tenancy.GetTenantAsync(t["busy"]))!;
        Assert.Equal((60, 50, run.At), (busy.Reserved, busy.ConfiguredReserved, busy.AdaptedAt));
        var view = (await fixture.Tenancy.GetUpstreamAsync(upstream))!;
        Assert.Equal(60 + 45 + 55 + 50 + 48, view.Reserved);
        var allocation = (await fixture.Grains.GetGrain<IPoolGrain>(upstream).GetAllocationAsync())!;
        Assert.Equal(60, allocation.Tenants.Single(a => a.Tenant == t["busy"]).Reserved);
        var history = await fixture.Tenancy.GetSchedulerHistoryAsync(10, $"tenant:{t["busy"]}");
        Assert.Equal(changes[$"tenant:{t["busy"]}"], Assert.Single(history));

        // A new reserve is judged on use after it: the next run, with one new sample, changes nothing.
        var next = await fixture.CycleAsync(heavy, 50);
        Assert.Empty(Mine(next.Changes, t.Values));

        // The busy tenant now gets 60 a window from its reserve: the raise is real capacity.
        fixture.Time.Advance(SchedulerFixture.Cycle);
        Assert.Equal(60, await fixture.AcquireAsync(t["busy"], 60));

        // An operator writing another reserve wins over the adapted one, and writing the old one back does not
        // bring the adaptation back.
        await fixture.ChangeAsync(new TenancyChange { Tenants = new() { [t["busy"]] = specs[t["busy"]]! with { Reserved = 70 } } });
        Assert.Equal(70, (await fixture.Tenancy.GetTenantAsync(t["busy"]))!.Reserved);
        await fixture.ChangeAsync(new TenancyChange { Tenants = new() { [t["busy"]] = specs[t["busy"]] } });
        var rewritten = (await fixture.Tenancy.GetTenantAsync(t["busy"]))!;
        Assert.Equal((50, (DateTimeOffset?)null), (rewritten.Reserved, rewritten.AdaptedAt));
    }

    [Fact]
    public async Task RaisesStopAtTheReservationRule()
    {
        // One token of 100 less 5%: a pool of 95, reserves may take 76. The busy tenant holds 60, another 10 (at the
        // rule's floor, so never lowered): 6 left.
        var upstream = TenancyFixture.Unique("rr");
        var (busy, other) = (TenancyFixture.Unique("busy"), TenancyFixture.Unique("other"));
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 1, 100) with
        {
            Tenants = new()
            {
                [busy] = new TenantSpec { Upstream = upstream, Reserved = 60 },
                [other] = new TenantSpec { Upstream = upstream, Reserved = 10 },
            },
        });

        SchedulerRun run = null!;
        for (var i = 0; i < 5; i++)
        {
            run = await fixture.CycleAsync([busy], 60);
        }

        // +10 would be the step; the rule leaves 6.
        var change = Assert.Single(Mine(run.Changes, [busy, other]));
        Assert.Equal(($"tenant:{busy}", "60", "66"), (change.Subject, change.Old, change.New));
        Assert.Equal(76, (await fixture.Tenancy.GetUpstreamAsync(upstream))!.Reserved);

        // Five more busy windows: it asks again and is held, naming the rule; the reserves stay at 80% exactly.
        for (var i = 0; i < 5; i++)
        {
            run = await fixture.CycleAsync([busy], 66);
        }

        Assert.Empty(Mine(run.Changes, [busy, other]));
        Assert.Contains(run.Held, h => h.StartsWith($"reserve tenant:{busy}: average use 66 of its reserve of 66", StringComparison.Ordinal)
            && h.Contains($"the 80% reservation rule leaves no room on upstream {upstream} (capacity 95)", StringComparison.Ordinal));
        var view = (await fixture.Tenancy.GetUpstreamAsync(upstream))!;
        Assert.Equal((95, 76), (view.Capacity, view.Reserved));
    }

    [Fact]
    public async Task AHotDedicatedTokenIsRotatedToACoolPooledOneAndUnderLoadNoTokenAdmitsBeyondItsLimit()
    {
        var upstream = TenancyFixture.Unique("rot");
        var (owner, shared) = (TenancyFixture.Unique("own"), TenancyFixture.Unique("shr"));
        var change = TenancyFixture.Upstream(upstream, 3, 100);
        await fixture.ChangeAsync(change with
        {
            Tenants = new()
            {
                [owner] = new TenantSpec { Upstream = upstream, Strategy = "dedicated" },
                [shared] = new TenantSpec { Upstream = upstream },
            },
        });
        await fixture.ChangeAsync(new TenancyChange { Tokens = [SchedulerFixture.Token(change, 0, owner)] });

        // The owner uses 90 of t1's 100 (90%, above 85%); t2 and t3 are unused.
        var grants = new List<(DateTimeOffset At, string Token)>();
        await LoadAsync(owner, 90, grants);
        var run = await fixture.Scheduler.RunAsync();
        var rotated = Assert.Single(Mine(run.Changes, [owner, upstream]));
        Assert.Equal(("rotate", $"token:{upstream}/t1", $"dedicated to {owner}", $"pooled; t2 dedicated to {owner}"), (rotated.Kind, rotated.Subject, rotated.Old, rotated.New));
        Assert.Equal($"{owner}'s dedicated token t1: used 90 of its limit of 100 (90%, above 85%); pooled token t2 used 0% takes its place", rotated.Reason);
        Assert.Equal(["t2"], (await fixture.Tenancy.GetTenantAsync(owner))!.DedicatedTokens);
        Assert.Equal(190, (await fixture.Tenancy.GetUpstreamAsync(upstream))!.Capacity);

        // Under load from both tenants for three minutes, the scheduler running every ten seconds: no token ever
        // admits more than its 95 in any minute, whichever tenant it serves at the time.
        for (var second = 0; second < 180; second += 10)
        {
            fixture.Time.Advance(TimeSpan.FromSeconds(10));
            await Task.WhenAll(LoadAsync(owner, 20, grants), LoadAsync(shared, 20, grants));
            await fixture.Scheduler.RunAsync();
        }

        foreach (var token in grants.Select(g => g.Token).Distinct())
        {
            var times = grants.Where(g => g.Token == token).Select(g => g.At).Order().ToList();
            var busiest = times.Select((at, i) => times.Skip(i).TakeWhile(x => x < at + TimeSpan.FromMinutes(1)).Count()).Max();
            Assert.True(busiest <= 95, $"token {token} admitted {busiest} within a minute, above its 95");
        }

        var history = await fixture.Tenancy.GetSchedulerHistoryAsync(100, null);
        Assert.Contains(history, h => h.Subject.StartsWith($"token:{upstream}/", StringComparison.Ordinal) && h.Run > run.Run);
    }

    [Fact]
    public async Task ADedicatedTokenWithAnOpenCircuitIsDrained()
    {
        var upstream = TenancyFixture.Unique("dr");
        var owner = TenancyFixture.Unique("own");
        var change = TenancyFixture.Upstream(upstream, 2, 100);
        await fixture.ChangeAsync(change with { Tenants = new() { [owner] = new TenantSpec { Upstream = upstream, Strategy = "hybrid" } } });
        await fixture.ChangeAsync(new TenancyChange { Tokens = [SchedulerFixture.Token(change, 0, owner)] });
        var t1 = fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t1");
        for (var i = 0; i < 3; i++)
        {
            await t1.ReportAsync(new UpstreamFeedback { Status = 503 });
        }

        var run = await fixture.Scheduler.RunAsync();
        var drained = Assert.Single(Mine(run.Changes, [owner, upstream]));
        Assert.Equal(("drain", $"token:{upstream}/t1", $"pooled; t2 dedicated to {owner}"), (drained.Kind, drained.Subject, drained.New));
        Assert.Equal($"{owner}'s dedicated token t1: circuit open, next probe in 30000 ms; pooled token t2 used 0% takes its place", drained.Reason);
        Assert.Equal(["t2"], (await fixture.Tenancy.GetTenantAsync(owner))!.DedicatedTokens);

        // Nowhere left to go: t2 is now the owner's and healthy; with t2 failing too and t1 open, the drain is held.
        for (var i = 0; i < 3; i++)
        {
            await fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t2").ReportAsync(new UpstreamFeedback { Status = 0 });
        }

        var held = await fixture.Scheduler.RunAsync();
        Assert.Empty(Mine(held.Changes, [owner, upstream]));
        Assert.Contains($"drain token:{upstream}/t2 (dedicated to {owner}, circuit open, next probe in 30000 ms): no healthy pooled token used below 30% to move to.", held.Held);
    }

    [Fact]
    public async Task ATokenWithALiveSuccessorIsRetiredThenRemovedOnceItsLeasesHaveEnded()
    {
        var upstream = TenancyFixture.Unique("suc");
        var owner = TenancyFixture.Unique("own");
        var change = TenancyFixture.Upstream(upstream, 4, 100);
        await fixture.ChangeAsync(change with { Tenants = new() { [owner] = new TenantSpec { Upstream = upstream, Strategy = "dedicated" } } });
        TokenChange Token(int i, TokenSpec spec) => change.Tokens[i] with { Spec = spec with { Secret = null } };
        var t1 = change.Tokens[0].Spec!;
        await fixture.ChangeAsync(new TenancyChange { Tokens = [Token(0, t1 with { DedicatedTo = owner })] });

        // The successor must be live: while its circuit is open the retirement waits.
        var t4 = fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t4");
        for (var i = 0; i < 3; i++)
        {
            await t4.ReportAsync(new UpstreamFeedback { Status = 500 });
        }

        await fixture.ChangeAsync(new TenancyChange { Tokens = [Token(0, t1 with { DedicatedTo = owner, Successor = "t4" })] });
        var waiting = await fixture.Scheduler.RunAsync();
        Assert.Empty(Mine(waiting.Changes, [owner, upstream]));
        Assert.Contains($"retire token:{upstream}/t1: successor t4 is not live yet (its circuit is open).", waiting.Held);

        // Live again (the open period passed, two probes succeeded): t4 takes over t1's tenant; t1 is no longer
        // routed to nor counted; the pool loses t4 (now dedicated): 95 x 2.
        fixture.Time.Advance(TimeSpan.FromSeconds(30));
        for (var i = 0; i < 2; i++)
        {
            Assert.True((await t4.AcquireAsync(new SubjectAcquire())).Allowed);
            await t4.ReportAsync(new UpstreamFeedback { Status = 200 });
        }

        Assert.Equal("closed", (await t4.GetStatusAsync())!.Health.Circuit);
        var retire = await fixture.Scheduler.RunAsync();
        var retired = Assert.Single(Mine(retire.Changes, [owner, upstream]));
        Assert.Equal(("retire", $"token:{upstream}/t1", $"in use, dedicated to {owner}", $"retiring; t4 took over (dedicated to {owner})"), (retired.Kind, retired.Subject, retired.Old, retired.New));
        Assert.Equal(["t4"], (await fixture.Tenancy.GetTenantAsync(owner))!.DedicatedTokens);
        var view = (await fixture.Tenancy.GetUpstreamAsync(upstream))!;
        Assert.Equal(190, view.Capacity);
        Assert.Equal(retire.At, view.Tokens.Single(x => x.Id == "t1").RetiringSince);
        var answer = await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = owner });
        Assert.Equal("t4", answer.Token!.Id);

        // Leases granted while it counted last up to 15 s: until then it stays, then it goes, secret and all.
        fixture.Time.Advance(TimeSpan.FromSeconds(14));
        var early = await fixture.Scheduler.RunAsync();
        Assert.Empty(Mine(early.Changes, [owner, upstream]));
        Assert.Contains($"remove token:{upstream}/t1: waiting, leases that counted it end 1 s from now.", early.Held);
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        var remove = await fixture.Scheduler.RunAsync();
        var removed = Assert.Single(Mine(remove.Changes, [owner, upstream]));
        Assert.Equal(("remove", $"token:{upstream}/t1", "removed (secret deleted)"), (removed.Kind, removed.Subject, removed.New));
        Assert.DoesNotContain((await fixture.Tenancy.GetUpstreamAsync(upstream))!.Tokens, x => x.Id == "t1");
        Assert.Equal(["retire", "remove"], (await fixture.Tenancy.GetSchedulerHistoryAsync(10, $"token:{upstream}/t1")).Reverse().Select(h => h.Kind));
    }

    [Fact]
    public async Task ARunThatFailsBeforeItsChangesAreWrittenChangesNothingAndTheNextAppliesThemOnce()
    {
        var upstream = TenancyFixture.Unique("fa");
        var busy = TenancyFixture.Unique("busy");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 4, 100) with { Tenants = new() { [busy] = new TenantSpec { Upstream = upstream, Reserved = 50 } } });
        for (var i = 0; i < 4; i++)
        {
            await fixture.CycleAsync([busy], 50);
        }

        // The tenancy write fails: the run fails, nothing changed, the failure is shown.
        await fixture.AcquireAsync(busy, 50);
        fixture.Time.Advance(TimeSpan.FromSeconds(2));
        fixture.Storage.FailWrite = (name, _) => name == "tenancy";
        await Assert.ThrowsAnyAsync<Exception>(() => fixture.Scheduler.RunAsync());
        fixture.Storage.FailWrite = null;
        Assert.Equal(50, (await fixture.Tenancy.GetTenantAsync(busy))!.Reserved);
        Assert.Empty(await fixture.Tenancy.GetSchedulerHistoryAsync(10, $"tenant:{busy}"));
        Assert.StartsWith("run ", (await fixture.Scheduler.GetStatusAsync()).LastError);

        // The next run raises once, and the one after that does not raise again.
        var run = await fixture.Scheduler.RunAsync();
        Assert.Equal(("50", "60"), Values(Assert.Single(Mine(run.Changes, [busy]))));
        Assert.Null((await fixture.Scheduler.GetStatusAsync()).LastError);
        fixture.Time.Advance(SchedulerFixture.Cycle - TimeSpan.FromSeconds(2));
        var again = await fixture.CycleAsync([busy], 60);
        Assert.Empty(Mine(again.Changes, [busy]));
        Assert.Single(await fixture.Tenancy.GetSchedulerHistoryAsync(10, $"tenant:{busy}"));
    }

    [Fact]
    public async Task ARunCutShortAfterItsChangesWereWrittenDoesNotStepTheSameTenantTwiceOnTheSameUse()
    {
        var upstream = TenancyFixture.Unique("cs");
        var idle = TenancyFixture.Unique("idle");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 4, 100) with { Tenants = new() { [idle] = new TenantSpec { Upstream = upstream, Reserved = 50 } } });
        for (var i = 0; i < 4; i++)
        {
            await fixture.CycleAsync([], 0);
        }

        // The run claims its number, the tenancy grain writes the cut and its history, then every later write of the
        // scheduler's own state fails, as if it died there: it restarts from what it stored before the run (four
        // idle samples, all from before the cut).
        var writes = 0;
        fixture.Storage.FailWrite = (name, _) => name == "scheduler" && ++writes >= 2;
        await Assert.ThrowsAnyAsync<Exception>(() => fixture.Scheduler.RunAsync());
        fixture.Storage.FailWrite = null;
        Assert.Equal(45, (await fixture.Tenancy.GetTenantAsync(idle))!.Reserved);

        // Without the rule that use sampled before a change does not count, this run would see five idle samples
        // and cut again, to 41 (10% of 45, rounded down).
        fixture.Time.Advance(SchedulerFixture.Cycle);
        var next = await fixture.CycleAsync([], 0);
        Assert.Empty(Mine(next.Changes, [idle]));
        Assert.Equal(45, (await fixture.Tenancy.GetTenantAsync(idle))!.Reserved);
        var history = Assert.Single(await fixture.Tenancy.GetSchedulerHistoryAsync(10, $"tenant:{idle}"));
        Assert.Equal(("50", "45"), Values(history));
    }

    [Fact]
    public async Task ReplayingARunsStepsChangesNothing()
    {
        var upstream = TenancyFixture.Unique("rp");
        var busy = TenancyFixture.Unique("busy");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100) with { Tenants = new() { [busy] = new TenantSpec { Upstream = upstream, Reserved = 50 } } });
        SchedulerAction[] steps = [new() { Kind = "reserve", Tenant = busy, Upstream = upstream, Old = 50, New = 60, Reason = "test" }];

        var first = await fixture.Tenancy.ScheduleAsync(1_000_000, steps);
        var replay = await fixture.Tenancy.ScheduleAsync(1_000_000, steps);

        Assert.Equal(("50", "60"), Values(Assert.Single(first.Applied)));
        Assert.Empty(replay.Applied);
        Assert.Equal($"reserve {busy}: not taken, its reserve is 60 now, not 50, or it was rewritten or no longer adapts.", Assert.Single(replay.Held));
        Assert.Single(await fixture.Tenancy.GetSchedulerHistoryAsync(10, $"tenant:{busy}"));
    }

    [Fact]
    public async Task SuccessorsAndAdaptiveBoundsAreCheckedWithTheWholeConfiguration()
    {
        var upstream = TenancyFixture.Unique("va");
        var (a, b) = (TenancyFixture.Unique("a"), TenancyFixture.Unique("b"));
        var change = TenancyFixture.Upstream(upstream, 4, 100);
        await fixture.ChangeAsync(change with
        {
            Tenants = new()
            {
                [a] = new TenantSpec { Upstream = upstream, Strategy = "dedicated" },
                [b] = new TenantSpec { Upstream = upstream, Strategy = "dedicated" },
            },
        });
        TokenChange Token(int i, string? dedicatedTo, string? successor) => SchedulerFixture.Token(change, i, dedicatedTo, successor);
        var path = $"upstreams.{upstream}.tokens";

        var outcome = await fixture.Tenancy.ChangeAsync(new TenancyChange
        {
            Tokens = [Token(0, a, "t1"), Token(1, a, "t9"), Token(2, a, "t4"), Token(3, b, null)],
            Tenants = new() { [b] = new TenantSpec { Upstream = upstream, Strategy = "dedicated", Adaptive = new AdaptiveSpec { Minimum = 30, Maximum = 25 } } },
        }, dryRun: false);

        Assert.Equal(
        [
            ($"{path}.t1.successor", "names the token itself; name another token of the same upstream."),
            ($"{path}.t2.successor", "no token 't9' is configured on this upstream; add it first (with its secret), then name it."),
            ($"{path}.t3.successor", $"token 't4' is dedicated to tenant '{b}' and cannot take over from this one; pool it or name another."),
            ($"tenants.{b}.adaptive.minimum", "is 30, above the maximum of 25."),
        ], outcome.Problems.Select(p => (p.Field, p.Detail)));

        var cycle = await fixture.Tenancy.ChangeAsync(new TenancyChange { Tokens = [Token(0, null, "t2"), Token(1, null, "t1")] }, dryRun: true);
        Assert.Equal([$"{path}.t1.successor", $"{path}.t2.successor"], cycle.Problems.Select(p => p.Field));
        Assert.All(cycle.Problems, p => Assert.StartsWith("successors come back round", p.Detail, StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnderRandomUseFailuresAnd429sNoRunEverBreaksTheReservationRuleAPoolsCapacityOrATokensCeiling()
    {
        var random = new Random(7);
        var upstream = TenancyFixture.Unique("inv");
        var tenants = Enumerable.Range(0, 5).Select(i => TenancyFixture.Unique($"i{i}")).ToArray();
        var change = TenancyFixture.Upstream(upstream, 6, 100);
        await fixture.ChangeAsync(change with
        {
            Tenants = new()
            {
                [tenants[0]] = new TenantSpec { Upstream = upstream, Reserved = 60 },
                [tenants[1]] = new TenantSpec { Upstream = upstream, Reserved = 40, Adaptive = new AdaptiveSpec { Maximum = 70 } },
                [tenants[2]] = new TenantSpec { Upstream = upstream, Reserved = 30, Adaptive = new AdaptiveSpec { Minimum = 25 } },
                [tenants[3]] = new TenantSpec { Upstream = upstream, Reserved = 20, Strategy = "hybrid" },
                [tenants[4]] = new TenantSpec { Upstream = upstream, Strategy = "dedicated" },
            },
        });
        TokenChange Token(int i, string? owner, string? successor = null) => SchedulerFixture.Token(change, i, owner, successor);
        await fixture.ChangeAsync(new TenancyChange { Tokens = [Token(0, tenants[3]), Token(1, tenants[4], successor: "t6")] });

        var grants = new List<(DateTimeOffset At, string Token)>();
        var made = new List<SchedulerChange>();
        for (var cycle = 0; cycle < 14; cycle++)
        {
            for (var step = 0; step < 6; step++)
            {
                fixture.Time.Advance(TimeSpan.FromSeconds(10));
                await Task.WhenAll(tenants.Select(t => LoadAsync(t, random.Next(0, 25), grants)));
                if (random.Next(6) == 0)
                {
                    var token = fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t{random.Next(1, 7)}");
                    await token.ReportAsync(random.Next(2) == 0
                        ? new UpstreamFeedback { Status = 429, RetryAfterMs = random.Next(2) == 0 ? 5_000 : null }
                        : new UpstreamFeedback { Status = 503 });
                }
            }

            var run = await fixture.Scheduler.RunAsync();
            made.AddRange(Mine(run.Changes, [.. tenants, upstream]));

            var view = (await fixture.Tenancy.GetUpstreamAsync(upstream))!;
            Assert.True(view.Reserved <= (long)Math.Floor(view.Capacity * 0.8), $"cycle {cycle}: reserves {view.Reserved} above 80% of {view.Capacity}");
            var allocation = (await fixture.Grains.GetGrain<IPoolGrain>(upstream).GetAllocationAsync())!;
            Assert.True(allocation.Leased <= allocation.Lendable, $"cycle {cycle}: {allocation.Leased} leased of {allocation.Lendable} lendable");
            var bounded = (await fixture.Tenancy.GetTenantsAsync()).Where(t => tenants.Contains(t.Id)).ToArray();
            Assert.InRange(bounded.Single(t => t.Id == tenants[1]).Reserved, 10, 70);
            Assert.True(bounded.Single(t => t.Id == tenants[2]).Reserved >= 25);
        }

        // The rules did act: reserves moved, the retiring token went.
        output.WriteLine(string.Join(Environment.NewLine, made.Select(c => $"run {c.Run} {c.Kind} {c.Subject}: {c.Old} -> {c.New} ({c.Reason})")));
        Assert.Contains(made, c => c.Kind == "reserve");
        Assert.Contains(made, c => c.Kind == "remove" && c.Subject == $"token:{upstream}/t2");
        foreach (var token in grants.Select(g => g.Token).Distinct())
        {
            var times = grants.Where(g => g.Token == token).Select(g => g.At).Order().ToList();
            var busiest = times.Select((at, i) => times.Skip(i).TakeWhile(x => x < at + TimeSpan.FromMinutes(1)).Count()).Max();
            Assert.True(busiest <= 95, $"token {token} admitted {busiest} within a minute, above its 95");
        }
    }

    private async Task LoadAsync(string tenant, int count, List<(DateTimeOffset At, string Token)> grants)
    {
        for (var i = 0; i < count; i++)
        {
            var answer = await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = tenant });
            if (answer.Allowed)
            {
                lock (grants)
                {
                    grants.Add((fixture.Time.GetUtcNow(), answer.Token!.Id));
                }
            }
        }
    }

    /// <summary>This test's changes: the other tests' tenants and tokens live in the same cluster.</summary>
    private static IEnumerable<SchedulerChange> Mine(IEnumerable<SchedulerChange> changes, IEnumerable<string> names) =>
        changes.Where(c => names.Any(n => c.Subject == $"tenant:{n}" || c.Subject.StartsWith($"token:{n}/", StringComparison.Ordinal)));

    private static (string?, string?) Values(SchedulerChange change) => (change.Old, change.New);
}
