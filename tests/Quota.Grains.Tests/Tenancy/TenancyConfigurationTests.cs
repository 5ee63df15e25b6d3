using Quota.Abstractions;

namespace Quota.Grains.Tests.Tenancy;

[Collection(TenancyCollection.Name)]
public sealed class TenancyConfigurationTests(TenancyFixture fixture)
{
    [Fact]
    public async Task AnInvalidConfigurationIsRejectedWholeWithEveryProblem()
    {
        var upstream = TenancyFixture.Unique("bad");
        var good = TenancyFixture.Unique("good");
        var change = new TenancyChange
        {
            Upstreams = new() { [upstream] = new UpstreamSpec { BufferPercent = 60, Window = TimeSpan.FromMilliseconds(500) } },
            Tokens =
            [
                new TokenChange(upstream, "t1", new TokenSpec { Policies = [new PolicySpec { Name = "p", Algorithm = "sliding-window", Limit = 0, Window = TimeSpan.FromMinutes(1) }] }),
                new TokenChange(upstream, "t2", new TokenSpec { Policies = [TenancyFixture.PerMinute(100)], DedicatedTo = "nobody" }),
                new TokenChange(upstream, "t3", new TokenSpec()),
                new TokenChange("missing", "t1", new TokenSpec { Policies = [TenancyFixture.PerMinute(100)] }),
            ],
            Tenants = new()
            {
                [good] = new TenantSpec { Upstream = upstream },
                ["a/b"] = new TenantSpec { Upstream = upstream },
                [TenancyFixture.Unique("t")] = new TenantSpec { Upstream = "nowhere", Tier = "gold", Strategy = "random", Reserved = -1, Burst = -2, Weight = 0, Priority = 10 },
            },
        };

        var outcome = await fixture.Tenancy.ChangeAsync(change, dryRun: false);

        var fields = outcome.Problems.Select(p => p.Field).ToList();
        var tenant = change.Tenants.Keys.Single(k => k.StartsWith("t-", StringComparison.Ordinal));
        Assert.Equal(
        [
            $"upstreams.{upstream}.tokens.t3.policies",
            "upstreams.missing.tokens.t1",
            $"upstreams.{upstream}.bufferPercent",
            $"upstreams.{upstream}.window",
            $"upstreams.{upstream}.tokens.t1.policies[0].limit",
            $"upstreams.{upstream}.tokens.t2.policies",
            $"upstreams.{upstream}.tokens.t2.dedicatedTo",
            "tenants.a/b",
            $"tenants.{tenant}.upstream",
            $"tenants.{tenant}.tier",
            $"tenants.{tenant}.strategy",
            $"tenants.{tenant}.reserved",
            $"tenants.{tenant}.burst",
            $"tenants.{tenant}.weight",
            $"tenants.{tenant}.priority",
        ], fields);
        Assert.Empty(outcome.Changes);

        // Nothing of it was applied.
        Assert.Null(await fixture.Tenancy.GetUpstreamAsync(upstream));
        Assert.Null(await fixture.Tenancy.GetTenantAsync(good));
    }

    [Fact]
    public async Task NamesThatBreakTheNameRuleAreRefusedByTheGrainItself()
    {
        // A direct grain call, past every HTTP door: a tenant named " " was stored (its push then threw) and every
        // scheduler run after it failed.
        var upstream = TenancyFixture.Unique("names");
        var change = TenancyFixture.Upstream(upstream, 1, 100) with
        {
            Tenants = new()
            {
                [" "] = new TenantSpec { Upstream = upstream },
                ["\u3000"] = new TenantSpec { Upstream = upstream },
                ["acme\u200b"] = new TenantSpec { Upstream = upstream },
            },
        };

        var outcome = await fixture.Tenancy.ChangeAsync(change, dryRun: false);

        Assert.Equal(["tenants. ", "tenants.acme\u200b", "tenants.\u3000"], outcome.Problems.Select(p => p.Field).Order(StringComparer.Ordinal));
        Assert.Null(await fixture.Tenancy.GetUpstreamAsync(upstream));
        Assert.Null(await fixture.Tenancy.GetTenantAsync(" "));

        outcome = await fixture.Tenancy.ChangeAsync(new TenancyChange { Upstreams = new() { ["\u00a0"] = new UpstreamSpec() } }, dryRun: false);
        Assert.Equal("upstreams.\u00a0", Assert.Single(outcome.Problems).Field);
    }

    [Theory]
    [InlineData(100, 5, 95)]
    [InlineData(1000, 2.5, 975)]
    [InlineData(1_000_000_000_000, 5, 950_000_000_000)] // in double, 10^12 x 0.95 floored to 949,999,999,999
    [InlineData(999_999_999_999, 0, 999_999_999_999)]
    [InlineData(1_000_000_000_000, 50, 500_000_000_000)]
    public void TheBufferIsKeptExactly(long limit, double bufferPercent, long kept)
    {
        var enforced = Quota.Grains.Tenancy.TenancyModel.Enforced(TenancyFixture.PerMinute(limit), bufferPercent);

        Assert.Equal(kept, enforced.Limit);
    }

    [Fact]
    public async Task ReservesAboveEightyPercentOfThePoolAreRejectedNamingTheTenantsAndTheNumbers()
    {
        var upstream = TenancyFixture.Unique("res");
        var (a, b) = (TenancyFixture.Unique("a"), TenancyFixture.Unique("b"));
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100) with
        {
            Tenants = new() { [a] = new TenantSpec { Upstream = upstream, Reserved = 100 } },
        });

        // 2 x 95 = 190; 80% is 152. 100 + 60 = 160 is too much.
        var outcome = await fixture.Tenancy.ChangeAsync(new TenancyChange { Tenants = new() { [b] = new TenantSpec { Upstream = upstream, Reserved = 60 } } }, dryRun: false);

        var problem = Assert.Single(outcome.Problems);
        Assert.Equal($"upstreams.{upstream}.reserved", problem.Field);
        Assert.Contains($"add up to 160 per window ({a} 100, {b} 60)", problem.Detail, StringComparison.Ordinal);
        Assert.Contains("pool capacity of 190 (152)", problem.Detail, StringComparison.Ordinal);
        Assert.Null(await fixture.Tenancy.GetTenantAsync(b));

        // Removing a token that the reserves depend on is refused the same way, and 52 fits.
        outcome = await fixture.Tenancy.ChangeAsync(new TenancyChange { Tokens = [new TokenChange(upstream, "t2", null)] }, dryRun: false);
        Assert.Contains("pool capacity of 95 (76)", Assert.Single(outcome.Problems).Detail, StringComparison.Ordinal);
        await fixture.ChangeAsync(new TenancyChange { Tenants = new() { [b] = new TenantSpec { Upstream = upstream, Reserved = 52 } } });
        Assert.Equal(152, (await fixture.Tenancy.GetUpstreamAsync(upstream))!.Reserved);
    }

    [Fact]
    public async Task SecretsAreSealedNeverShownAndAnsweredOnlyWhenAskedFor()
    {
        var upstream = TenancyFixture.Unique("sec");
        var outcome = await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 1, 100));

        var view = (await fixture.Tenancy.GetUpstreamAsync(upstream))!;
        Assert.True(view.Tokens.Single().HasSecret);
        var setup = (await fixture.Tenancy.GetTokenSetupAsync(upstream, "t1"))!;
        Assert.StartsWith("v1.", setup.SecretEnvelope, StringComparison.Ordinal);
        Assert.DoesNotContain($"secret-{upstream}-1", setup.SecretEnvelope, StringComparison.Ordinal);
        Assert.All(outcome.Changes, c => Assert.DoesNotContain($"secret-{upstream}-1", c.New ?? string.Empty, StringComparison.Ordinal));

        var plain = await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream });
        Assert.Null(plain.Token!.Secret);
        var withSecret = await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream, IncludeSecret = true });
        Assert.Equal($"secret-{upstream}-1", withSecret.Token!.Secret);

        // The same document again changes nothing (the stored secret is the same); a new secret is a change.
        Assert.Empty((await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 1, 100))).Changes);
        var rotated = await fixture.ChangeAsync(new TenancyChange { Tokens = [new TokenChange(upstream, "t1", new TokenSpec { Policies = [TenancyFixture.PerMinute(100)], Secret = "rotated" })] });
        Assert.Equal([$"token:{upstream}/t1"], rotated.Changes.Select(c => c.Subject));
        Assert.Equal("rotated", (await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream, IncludeSecret = true })).Token!.Secret);
    }

    [Fact]
    public async Task HybridTenantsUseTheirOwnTokensFirstThenThePoolAndDedicatedOnesOnlyTheirOwn()
    {
        var upstream = TenancyFixture.Unique("hy");
        var (hybrid, dedicated, shared) = (TenancyFixture.Unique("hyb"), TenancyFixture.Unique("ded"), TenancyFixture.Unique("sha"));
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 1, 100) with
        {
            Tenants = new()
            {
                [hybrid] = new TenantSpec { Upstream = upstream, Strategy = "hybrid", Reserved = 10 },
                [dedicated] = new TenantSpec { Upstream = upstream, Strategy = "dedicated" },
                [shared] = new TenantSpec { Upstream = upstream, Reserved = 10 },
            },
        });
        await fixture.ChangeAsync(new TenancyChange
        {
            Tokens =
            [
                new TokenChange(upstream, "own-h", new TokenSpec { Policies = [TenancyFixture.PerMinute(3)], DedicatedTo = hybrid }),
                new TokenChange(upstream, "own-d", new TokenSpec { Policies = [TenancyFixture.PerMinute(3)], DedicatedTo = dedicated }),
            ],
        });

        // 3 per minute less 5% is 2 (rounded down): the hybrid tenant's own token twice, then the pool (its reserve).
        var hybridTokens = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            hybridTokens.Add((await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = hybrid })).Token!.Id);
        }

        Assert.Equal(["own-h", "own-h", "t1", "t1"], hybridTokens);
        Assert.Equal(2, (await fixture.Grains.GetGrain<ITenantGrain>(hybrid).GetUsageAsync()).Policies.Single().Limit - (await fixture.Grains.GetGrain<ITenantGrain>(hybrid).GetUsageAsync()).Policies.Single().Remaining);

        // The dedicated tenant: its own token only, then denied by it.
        var d = new List<AcquireResult>();
        for (var i = 0; i < 3; i++)
        {
            d.Add(await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = dedicated }));
        }

        Assert.Equal(["own-d", "own-d"], d.Take(2).Select(r => r.Token!.Id));
        Assert.Equal($"token:{upstream}/own-d/per-minute", d[2].LimitedBy);

        // A shared tenant never gets another tenant's token.
        var s = await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = shared });
        Assert.Equal("t1", s.Token!.Id);

        // Naming an upstream the tenant does not use is a bad request; an unknown tenant is unknown.
        var wrong = await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = shared, Upstream = "elsewhere" });
        Assert.Equal(DecisionOutcome.Invalid, wrong.Outcome);
        Assert.Equal("upstream", wrong.Problem!.Field);
        var unknown = await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = TenancyFixture.Unique("ghost") });
        Assert.Equal(DecisionOutcome.UnknownSubject, unknown.Outcome);
        Assert.Equal("tenant", unknown.Problem!.Field);
    }

    [Fact]
    public async Task ATenantMovedToAnotherUpstreamDropsTheLeaseOfTheOldPool()
    {
        var (first, second) = (TenancyFixture.Unique("mv1"), TenancyFixture.Unique("mv2"));
        var tenant = TenancyFixture.Unique("mover");
        await fixture.ChangeAsync(TenancyFixture.Upstream(first, 2, 100) with { Tenants = new() { [tenant] = new TenantSpec { Upstream = first } } });
        await fixture.ChangeAsync(TenancyFixture.Upstream(second, 1, 100));
        for (var i = 0; i < 30; i++)
        {
            await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = tenant });
        }

        var held = await fixture.StepAsync(TenancyFixture.Refresh, tenant);
        Assert.Equal(190, held[0].Lease);

        await fixture.ChangeAsync(new TenancyChange { Tenants = new() { [tenant] = new TenantSpec { Upstream = second } } });

        // Nothing of the old pool's 190 is used against the new pool of 95: the tenant dropped it when it was moved.
        // It asks the new pool at once, on its own timer (due now), so it is seen in one of exactly two states: not yet
        // answered (0) or answered with all the new pool lends its only tenant (95); never anything of the old 190.
        var moved = await fixture.Grains.GetGrain<ITenantGrain>(tenant).GetLeaseStateAsync();
        Assert.Contains(moved.Lease, new long[] { 0, 95 });
        var refreshed = await fixture.Grains.GetGrain<ITenantGrain>(tenant).RefreshLeaseAsync();
        var allocation = (await fixture.Grains.GetGrain<IPoolGrain>(second).GetAllocationAsync())!;
        Assert.Equal(refreshed.Lease, allocation.Tenants.Single().Lease);
        Assert.Equal(95, refreshed.Lease); // all the new pool lends: its only tenant, asking for more than 95
        Assert.Equal(second, (await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = tenant })).Token?.Upstream);
    }

    [Fact]
    public async Task APolicyThatTheBufferWouldBringToZeroIsRejectedWhereItIsWritten()
    {
        var upstream = TenancyFixture.Unique("zero");
        var outcome = await fixture.Tenancy.ChangeAsync(new TenancyChange
        {
            Upstreams = new() { [upstream] = new UpstreamSpec() },
            Tokens =
            [
                new TokenChange(upstream, "t1", new TokenSpec
                {
                    Policies =
                    [
                        TenancyFixture.PerMinute(50),
                        new PolicySpec { Name = "per-second", Algorithm = "fixed-window", Limit = 1, Window = TimeSpan.FromSeconds(1) },
                    ],
                }),
            ],
        }, dryRun: false);

        var problem = Assert.Single(outcome.Problems);
        Assert.Equal($"upstreams.{upstream}.tokens.t1.policies[1].limit", problem.Field);
        Assert.Contains("5% buffer that leaves 0", problem.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADedicatedTenantMadeHybridAsksThePoolForALease()
    {
        var upstream = TenancyFixture.Unique("d2h");
        var tenant = TenancyFixture.Unique("d2h");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100) with { Tenants = new() { [tenant] = new TenantSpec { Upstream = upstream, Strategy = "dedicated" } } });
        await fixture.ChangeAsync(new TenancyChange { Tokens = [new TokenChange(upstream, "own", new TokenSpec { Policies = [TenancyFixture.PerMinute(3)], DedicatedTo = tenant })] });
        await fixture.ChangeAsync(new TenancyChange { Tenants = new() { [tenant] = new TenantSpec { Upstream = upstream, Strategy = "hybrid", Reserved = 10 } } });

        for (var i = 0; i < 30; i++)
        {
            await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = tenant });
        }

        var state = await fixture.Grains.GetGrain<ITenantGrain>(tenant).RefreshLeaseAsync();
        // Its demand, 18, is well within the 180 the pool lends beyond the 10 reserved.
        Assert.Equal(18, state.Lease);
    }
}
