using Quota.Abstractions;

namespace Quota.Grains.Tests.Tenancy;

[Collection(TenancyCollection.Name)]
public sealed class TenancySmokeTests(TenancyFixture fixture)
{
    [Fact]
    public async Task ATenantWithAReserveIsServedFromItAndGetsAPooledToken()
    {
        var upstream = TenancyFixture.Unique("up");
        var tenant = TenancyFixture.Unique("acme");
        await fixture.ChangeAsync(TenancyFixture.Upstream(upstream, 2, 100) with
        {
            Tenants = new() { [tenant] = new TenantSpec { Upstream = upstream, Reserved = 10 } },
        });

        var result = await fixture.Quota.AcquireAsync(new AcquireRequest { Tenant = tenant });

        Assert.True(result.Allowed, result.LimitedBy ?? result.Problem?.Detail);
        Assert.Equal(upstream, result.Token!.Upstream);
        Assert.Contains(result.Token.Id, new[] { "t1", "t2" });
        Assert.Null(result.Token.Secret);
        var allocation = await fixture.Grains.GetGrain<IPoolGrain>(upstream).GetAllocationAsync();
        Assert.Equal(190, allocation!.Capacity);
        Assert.Equal(10, allocation.Reserved);
        Assert.Equal(180, allocation.Lendable);
    }
}
