using Quota.Abstractions;

namespace Quota.Grains.Tests.Tenancy;

/// <summary>
/// A token's circuit breaker through the decision path: failures reported open it (threshold 3 in this cluster),
/// open tokens are skipped, a probe goes through after 30 seconds, two successes close it.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class CircuitBreakerTests(TenancyFixture fixture)
{
    [Fact]
    public async Task FailuresOpenATokenItIsSkippedAProbeFollowsAndSuccessesCloseIt()
    {
        var upstream = TenancyFixture.Unique("cb");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100));
        var t1 = fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t1");

        // 429 is rate limiting, not a failure; two failures are below the threshold; the third opens it.
        Assert.Equal("closed", (await t1.ReportAsync(new UpstreamFeedback { Status = 429, RetryAfterMs = 1000 }))!.Circuit);
        await t1.ReportAsync(new UpstreamFeedback { Status = 503 });
        Assert.Equal("closed", (await t1.ReportAsync(new UpstreamFeedback { Status = 0 }))!.Circuit);
        var open = (await t1.ReportAsync(new UpstreamFeedback { Status = 500 }))!;
        Assert.Equal("open", open.Circuit);
        Assert.Equal(30_000, open.RetryAfterMs);

        // t1 is the least used (both are unused, t1 first), yet every request goes to t2 while it is open.
        var chosen = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            chosen.Add((await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream })).Token!.Id);
        }

        Assert.Equal(["t2", "t2", "t2", "t2"], chosen);
        var status = (await t1.GetStatusAsync())!;
        Assert.Equal(0, status.Used);
        Assert.Equal("open", status.Health.Circuit);

        // After the open period one probe goes to t1 (now the least used); while it is out, t1 lets nothing else through.
        fixture.Time.Advance(TimeSpan.FromSeconds(30));

        // A peek reaches no upstream, so it does not take the probe.
        Assert.True((await t1.AcquireAsync(new SubjectAcquire { Cost = 0 })).Allowed);
        Assert.Equal("t1", (await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream })).Token!.Id);
        Assert.Equal("half-open", (await t1.GetStatusAsync())!.Health.Circuit);
        var blocked = await t1.AcquireAsync(new SubjectAcquire());
        Assert.Equal(DenialCause.Circuit, blocked.Cause);
        Assert.Null(blocked.LimitedBy); // no policy denied
        Assert.Equal("t2", (await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream })).Token!.Id);

        // The probe succeeded: the next probe may go; its success closes the circuit.
        Assert.Equal("half-open", (await t1.ReportAsync(new UpstreamFeedback { Status = 200 }))!.Circuit);
        Assert.True((await t1.AcquireAsync(new SubjectAcquire())).Allowed);
        var closed = (await t1.ReportAsync(new UpstreamFeedback { Status = 204 }))!;
        Assert.Equal("closed", closed.Circuit);
        Assert.Equal(1, closed.TimesOpened);
        Assert.True((await t1.AcquireAsync(new SubjectAcquire())).Allowed);
        Assert.True((await t1.AcquireAsync(new SubjectAcquire())).Allowed);
    }

    [Fact]
    public async Task WhenEveryTokenIsOpenTheRequestIsDeniedUntilTheFirstProbe()
    {
        var upstream = TenancyFixture.Unique("cball");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100));
        foreach (var id in new[] { "t1", "t2" })
        {
            for (var i = 0; i < 3; i++)
            {
                await fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/{id}").ReportAsync(new UpstreamFeedback { Status = 502 });
            }

            fixture.Time.Advance(TimeSpan.FromSeconds(10));
        }

        // t1 opened 10 seconds before t2: it probes first, in 10 seconds.
        var denied = await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream });
        Assert.Equal(DecisionOutcome.Denied, denied.Outcome);
        Assert.Equal($"token:{upstream}/t1/circuit", denied.LimitedBy);
        Assert.Equal(DenialCause.Circuit, denied.Cause);
        Assert.Equal(10_000, denied.RetryAfterMs);

        // Unknown tokens are unknown.
        Assert.Null(await fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t9").ReportAsync(new UpstreamFeedback { Status = 500 }));
    }

    [Fact]
    public async Task A429HalvesTheTokensLimitRetryAfterPausesItAndItRecoversStepByStep()
    {
        var upstream = TenancyFixture.Unique("aimd");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 1, 100));
        var t1 = fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t1");

        var health = (await t1.ReportAsync(new UpstreamFeedback { Status = 429, RetryAfterMs = 30_000 }))!;
        Assert.Equal("closed", health.Circuit);
        Assert.Equal(0.5, health.LimitFactor);
        Assert.Equal(30_000, health.PausedForMs);

        // Paused until the upstream said: denied with the exact wait.
        var paused = await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream });
        Assert.Equal($"token:{upstream}/t1/paused", paused.LimitedBy);
        Assert.Equal(DenialCause.Paused, paused.Cause);
        Assert.Equal(30_000, paused.RetryAfterMs);

        // 30 s later the limit has regained three steps of 5%: 65% of the 95 usable, 61 in the minute.
        fixture.Time.Advance(TimeSpan.FromSeconds(30));
        var admitted = 0;
        for (var i = 0; i < 80; i++)
        {
            if ((await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream })).Allowed)
            {
                admitted++;
            }
        }

        Assert.Equal(61, admitted);
        Assert.Equal(0.65, (await t1.GetStatusAsync())!.Health.LimitFactor, 10);

        // Recovered to the configured limit (the ceiling) 100 s after the 429, and never above it.
        fixture.Time.Advance(TimeSpan.FromSeconds(70));
        admitted = 0;
        for (var i = 0; i < 120; i++)
        {
            if ((await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream })).Allowed)
            {
                admitted++;
            }
        }

        Assert.Equal(95, admitted);
        Assert.Equal(1.0, (await t1.GetStatusAsync())!.Health.LimitFactor);
    }

    [Fact]
    public async Task ThePoolLendsWhatAShrunkTokenAdmitsNowAndMoreAsItRecovers()
    {
        var upstream = TenancyFixture.Unique("shr");
        var tenant = TenancyFixture.Unique("hungry");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100) with { Tenants = new() { [tenant] = new TenantSpec { Upstream = upstream } } });
        var pool = fixture.Grains.GetGrain<IPoolGrain>(upstream);
        var t1 = fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t1");

        // A tenant asking far more than the pool of 190 holds all of it.
        for (var step = 0; step < 3; step++)
        {
            for (var i = 0; i < 40; i++)
            {
                await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = tenant });
            }

            await fixture.StepAsync(TenancyFixture.Refresh, tenant);
        }

        Assert.Equal(190, (await fixture.Grains.GetGrain<ITenantGrain>(tenant).GetLeaseStateAsync()).Lease);

        // A 429 halves t1 (95 -> 47): the pool has 142 and lowers the lease at once, before the 429's answer returns.
        await t1.ReportAsync(new UpstreamFeedback { Status = 429 });
        Assert.Equal((190L, 142L, 142L), await NumbersAsync(pool));
        Assert.Equal(142, (await fixture.Grains.GetGrain<ITenantGrain>(tenant).GetLeaseStateAsync()).Lease);

        // A second 429 a second later (past the one-second cooldown) quarters it, and its Retry-After of 19 s pauses
        // it: t1 admits nothing, the pool lends only t2's 95.
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        await t1.ReportAsync(new UpstreamFeedback { Status = 429, RetryAfterMs = 19_000 });
        Assert.Equal((190L, 95L, 95L), await NumbersAsync(pool));
        Assert.Equal(95, (await fixture.Grains.GetGrain<ITenantGrain>(tenant).GetLeaseStateAsync()).Lease);

        // The token's timer wakes it when the pause ends and at each recovery step (awaited here so the test knows it
        // ran): 19 s after the second 429, one step: 0.25 + 0.05 of 95 = 28; then 5% more every 10 s, up to all of it.
        fixture.Time.Advance(TimeSpan.FromSeconds(19));
        await t1.Cast<ITokenClusterGrain>().LimitTickAsync();
        Assert.Equal((190L, 123L, 123L), await NumbersAsync(pool));
        fixture.Time.Advance(TimeSpan.FromSeconds(10));
        await t1.Cast<ITokenClusterGrain>().LimitTickAsync();
        Assert.Equal((190L, 128L, 128L), await NumbersAsync(pool));
        fixture.Time.Advance(TimeSpan.FromSeconds(150));
        await t1.Cast<ITokenClusterGrain>().LimitTickAsync();
        Assert.Equal((190L, 190L, 190L), await NumbersAsync(pool));
    }

    private static async Task<(long Capacity, long CapacityNow, long Lendable)> NumbersAsync(IPoolGrain pool)
    {
        var report = (await pool.GetAllocationAsync())!;
        return (report.Capacity, report.CapacityNow, report.Lendable);
    }

    [Fact]
    public async Task WhileATokenIsPausedEveryRequestGoesToAnother()
    {
        var upstream = TenancyFixture.Unique("pause");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100));
        await fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t1").ReportAsync(new UpstreamFeedback { Status = 429, RetryAfterMs = 60_000 });

        var chosen = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            chosen.Add((await fixture.Quota.AcquireAsync(new AcquireRequest { Upstream = upstream })).Token!.Id);
        }

        Assert.Equal(["t2", "t2", "t2", "t2"], chosen);
        Assert.Equal(0, (await fixture.Grains.GetGrain<IUpstreamTokenGrain>($"{upstream}/t1").GetStatusAsync())!.Used);
    }
}
