using Quota.Abstractions;

namespace Quota.Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class DecisionTests(ClusterFixture fixture)
{
    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    [Theory]
    [InlineData(SubjectKind.User, typeof(IUserGrain), "user")]
    [InlineData(SubjectKind.ApiKey, typeof(IApiKeyGrain), "apikey")]
    [InlineData(SubjectKind.Tenant, typeof(ITenantGrain), "tenant")]
    [InlineData(SubjectKind.Token, typeof(IUpstreamTokenGrain), "token")]
    [InlineData(SubjectKind.Resource, typeof(IResourceGrain), "resource")]
    public async Task EachKindOfSubjectReachesItsOwnGrain(SubjectKind kind, Type face, string grainType)
    {
        // The references are made from cached grain and interface types (not GetGrain<T> per call): each kind must still
        // name its own grain, and the grain must answer through it.
        var id = kind == SubjectKind.Token ? $"{Unique("up")}/t1" : Unique("kinds");
        var grain = DecisionResults.Grain(fixture.Grains, kind, id);

        Assert.True(face.IsInstanceOfType(grain), $"{kind} gave {grain.GetType()}, not {face.Name}");
        Assert.Equal(grainType, grain.GetGrainId().Type.ToString());
        Assert.Equal(id, grain.GetPrimaryKeyString());
        Assert.Equal(SubjectNames.Label(kind, id), (await grain.GetPoliciesAsync()).Subject);
    }

    [Fact]
    public async Task AWaitBeyondTheSilosCeilingIsRefusedWhereTheRequestReachesTheSilo()
    {
        // The client validates without the ceiling (it cannot know it); the coordinator applies it, before asking anyone.
        var user = Unique("ceiling");
        var result = await fixture.Quota.AcquireAsync(new AcquireRequest { User = user, Resources = [$"metered:{user}"], MaxWaitMs = 600_001 });

        Assert.Equal(DecisionOutcome.Invalid, result.Outcome);
        Assert.Equal(new FieldProblem("maxWaitMs", "at most 600000 ms may be waited (got 600001); the ceiling is Quota:Decisions:MaxWait."), result.Problem);
        Assert.Equal(100, (await fixture.Quota.GetUsageAsync(SubjectKind.Resource, $"metered:{user}")).Policies.Single().Remaining);
    }

    [Fact]
    public async Task AUserWithThreeKeysIsAdmittedExactlyOneHundredTimesInAMinuteAcrossThem()
    {
        var user = Unique("alice");
        var keys = new[] { Unique("key-a"), Unique("key-b"), Unique("key-c") };
        foreach (var key in keys)
        {
            await fixture.RegisterKeyAsync(key, user);
        }

        var admitted = 0;
        for (var i = 0; i < 150; i++)
        {
            var result = await fixture.Quota.AcquireAsync(new AcquireRequest { ApiKey = keys[i % 3] });
            if (result.Allowed)
            {
                admitted++;
            }
            else
            {
                Assert.Equal($"user:{user}/per-minute", result.LimitedBy);
            }
        }

        Assert.Equal(100, admitted);
        var usage = await fixture.Quota.GetUsageAsync(SubjectKind.User, user);
        Assert.Equal(0, usage.Policies.Single().Remaining);
    }

    [Fact]
    public async Task TelegramAndAChatAdmitExactlyWhatBothAllow()
    {
        // Fresh windows: move past the telegram bucket of earlier tests (30 per second refills within a second).
        fixture.Time.Advance(TimeSpan.FromMinutes(2));
        var chatA = $"telegram:chat:{Unique("a")}";
        var chatB = $"telegram:chat:{Unique("b")}";

        var first = await CountAdmittedAsync(25, new AcquireRequest { Resources = ["telegram", chatA] });
        Assert.Equal(20, first);

        // The five denials by the chat consumed nothing on telegram: 30 - 20 = 10 left for another chat.
        var telegram = await fixture.Quota.GetUsageAsync(SubjectKind.Resource, "telegram");
        Assert.Equal(10, telegram.Policies.Single().Remaining);
        var second = await CountAdmittedAsync(25, new AcquireRequest { Resources = ["telegram", chatB] });
        Assert.Equal(10, second);

        var denied = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = ["telegram", chatB] });
        Assert.Equal(DecisionOutcome.Denied, denied.Outcome);
        Assert.Equal("resource:telegram/per-second", denied.LimitedBy);
        Assert.Equal(34, denied.RetryAfterMs); // one token per 1/30 s, rounded up to the millisecond
        var chatUsage = await fixture.Quota.GetUsageAsync(SubjectKind.Resource, chatB);
        Assert.Equal(10, chatUsage.Policies.Single().Remaining);
    }

    [Fact]
    public async Task ARejectedRequestConsumesNothingAnywhere()
    {
        var user = Unique("bob");
        var gate = $"one-per-minute:{Unique("gate")}";
        Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [gate] })).Allowed);

        for (var i = 0; i < 10; i++)
        {
            var result = await fixture.Quota.AcquireAsync(new AcquireRequest { User = user, Resources = [gate] });
            Assert.Equal(DecisionOutcome.Denied, result.Outcome);
            Assert.Equal($"resource:{gate}/per-minute", result.LimitedBy);

            // The answer reports the user's state after the refund: nothing consumed.
            Assert.Equal(100, result.Policies.Single(p => p.Subject == $"user:{user}").Remaining);
        }

        var usage = await fixture.Quota.GetUsageAsync(SubjectKind.User, user);
        Assert.Equal(100, usage.Policies.Single().Remaining);
    }

    [Fact]
    public async Task CostZeroPeeksWithoutConsuming()
    {
        var user = Unique("peek");
        for (var i = 0; i < 5; i++)
        {
            var peek = await fixture.Quota.AcquireAsync(new AcquireRequest { User = user, Cost = 0 });
            Assert.True(peek.Allowed);
            Assert.Equal(100, peek.Remaining);
            Assert.Null(peek.LeaseId);
        }
    }

    [Fact]
    public async Task TwoHundredFiftySixConcurrentCallersOnOneKeyAdmitExactlyTheLimit()
    {
        var user = Unique("hot");
        var key = Unique("hot-key");
        await fixture.RegisterKeyAsync(key, user);

        var results = await Task.WhenAll(Enumerable.Range(0, 256)
            .Select(_ => Task.Run(() => fixture.Quota.AcquireAsync(new AcquireRequest { ApiKey = key }))));

        Assert.Equal(100, results.Count(r => r.Allowed));
        Assert.All(results.Where(r => !r.Allowed), r => Assert.Equal($"user:{user}/per-minute", r.LimitedBy));
    }

    [Fact]
    public async Task AKeyCountsAgainstItsOwnPoliciesAndItsUsers()
    {
        var user = Unique("carol");
        var key = Unique("carol-key");
        var info = await fixture.Grains.GetGrain<IDecisionGrain>(0).RegisterKeyAsync(key, user,
            [new PolicySpec { Name = "per-minute", Algorithm = "fixed-window", Limit = 3, Window = TimeSpan.FromMinutes(1) }]);
        Assert.Equal(64, info.KeyId.Length);
        Assert.DoesNotContain(key, info.KeyId, StringComparison.Ordinal);

        Assert.Equal(3, await CountAdmittedAsync(5, new AcquireRequest { ApiKey = key }));
        var denied = await fixture.Quota.AcquireAsync(new AcquireRequest { ApiKey = key });
        Assert.Equal($"key:{info.KeyId[..12]}/per-minute", denied.LimitedBy);

        // The key's user limit counted the 3 admitted requests, and nothing for the 2 + 1 denied.
        var usage = await fixture.Quota.GetUsageAsync(SubjectKind.User, user);
        Assert.Equal(97, usage.Policies.Single().Remaining);
    }

    [Fact]
    public async Task UnknownKeysAndResourcesAreUnknownSubjectsNamingTheField()
    {
        var key = await fixture.Quota.AcquireAsync(new AcquireRequest { ApiKey = Unique("never-registered") });
        Assert.Equal(DecisionOutcome.UnknownSubject, key.Outcome);
        Assert.Equal("apiKey", key.Problem!.Field);

        var resource = await fixture.Quota.AcquireAsync(new AcquireRequest { User = Unique("dan"), Resources = ["telegram", "nowhere"] });
        Assert.Equal(DecisionOutcome.UnknownSubject, resource.Outcome);
        Assert.Equal("resources[1]", resource.Problem!.Field);
    }

    [Fact]
    public async Task ACostAboveTheLimitIsRejectedWithItsOwnOutcome()
    {
        var result = await fixture.Quota.AcquireAsync(new AcquireRequest { User = Unique("eve"), Cost = 101 });
        Assert.Equal(DecisionOutcome.CostExceedsLimit, result.Outcome);
        Assert.Equal("cost", result.Problem!.Field);
        Assert.Equal(-1, result.RetryAfterMs);
    }

    [Fact]
    public async Task SettleRefundsTheDifferenceAndTopsUp()
    {
        var meter = $"metered:{Unique("m")}";
        var reserved = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [meter], Cost = 30, Reserve = true });
        Assert.True(reserved.Allowed);
        Assert.NotNull(reserved.LeaseId);
        Assert.Equal(70, reserved.Remaining);

        Assert.Equal(LeaseOutcome.Done, await fixture.Quota.SettleAsync(reserved.LeaseId!, 10));
        Assert.Equal(90, await RemainingAsync(SubjectKind.Resource, meter));
        Assert.Equal(LeaseOutcome.NotFound, await fixture.Quota.SettleAsync(reserved.LeaseId!, 10));

        var second = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [meter], Cost = 20, Reserve = true });
        Assert.Equal(LeaseOutcome.Done, await fixture.Quota.SettleAsync(second.LeaseId!, 50));
        Assert.Equal(40, await RemainingAsync(SubjectKind.Resource, meter));
    }

    [Fact]
    public async Task AnUnsettledReservationExpiresKeepingItsEstimate()
    {
        var meter = $"metered:{Unique("x")}";
        var reserved = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [meter], Cost = 25, Reserve = true });
        fixture.Time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(LeaseOutcome.NotFound, await fixture.Quota.SettleAsync(reserved.LeaseId!, 0));
        Assert.Equal(75, await RemainingAsync(SubjectKind.Resource, meter));
    }

    [Fact]
    public async Task AConcurrencyLeaseIsReleasedOrExpiresAfterItsTtl()
    {
        var slot = $"slot:{Unique("s")}";
        var first = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [slot] });
        Assert.True(first.Allowed);
        Assert.NotNull(first.LeaseId);
        var busy = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [slot] });
        Assert.False(busy.Allowed);
        Assert.Equal(120_000, busy.RetryAfterMs);

        Assert.Equal(LeaseOutcome.Done, await fixture.Quota.ReleaseAsync(first.LeaseId!));
        var second = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [slot] });
        Assert.True(second.Allowed);

        fixture.Time.Advance(TimeSpan.FromMinutes(2));
        Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [slot] })).Allowed);
        Assert.Equal(LeaseOutcome.NotFound, await fixture.Quota.ReleaseAsync(second.LeaseId!));
    }

    [Fact]
    public async Task ARaisedUserLimitAdmitsMoreAtOnceKeepingUsage()
    {
        var user = Unique("frank");
        Assert.Equal(100, await CountAdmittedAsync(100, new AcquireRequest { User = user }));
        await fixture.Grains.GetGrain<IUserGrain>(user).SetPoliciesAsync(
            [new PolicySpec { Name = "per-minute", Algorithm = "sliding-window", Limit = 110, Window = TimeSpan.FromMinutes(1) }]);
        Assert.Equal(10, await CountAdmittedAsync(20, new AcquireRequest { User = user }));
    }

    private async Task<int> CountAdmittedAsync(int attempts, AcquireRequest request)
    {
        var admitted = 0;
        for (var i = 0; i < attempts; i++)
        {
            if ((await fixture.Quota.AcquireAsync(request)).Allowed)
            {
                admitted++;
            }
        }

        return admitted;
    }

    private async Task<long> RemainingAsync(SubjectKind kind, string id) =>
        (await fixture.Quota.GetUsageAsync(kind, id)).Policies.Single().Remaining;
}
