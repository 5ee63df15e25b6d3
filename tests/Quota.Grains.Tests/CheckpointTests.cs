using Orleans.Core.Internal;
using Quota.Abstractions;

namespace Quota.Grains.Tests;

/// <summary>Durable counters come back when their grain is activated again; in-memory windows do not.</summary>
[Collection(ClusterCollection.Name)]
public sealed class CheckpointTests(ClusterFixture fixture)
{
    [Fact]
    public async Task A_deactivated_subject_resumes_its_calendar_count_exactly_and_forgets_short_windows()
    {
        var name = $"daily:{Guid.NewGuid():N}";
        var admitted = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [name], Cost = 250 });
        Assert.True(admitted.Allowed);

        await fixture.Grains.GetGrain<IResourceGrain>(name).Cast<IGrainManagementExtension>().DeactivateOnIdle();
        var usage = await fixture.Quota.GetUsageAsync(SubjectKind.Resource, name);

        // The per-minute window lived in memory (a new activation starts it afresh); the calendar quota was written
        // exactly at deactivation and restored.
        Assert.Equal(500, usage.Policies.Single(p => p.Policy == "per-minute").Remaining);
        Assert.Equal(750, usage.Policies.Single(p => p.Policy == "daily").Remaining);
    }

    [Fact]
    public async Task A_checkpoint_on_demand_then_a_deactivation_keeps_the_count_exact()
    {
        var name = $"daily:{Guid.NewGuid():N}";
        for (var i = 0; i < 30; i++)
        {
            Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [name], Cost = 3 })).Allowed);
        }

        var grain = fixture.Grains.GetGrain<IResourceGrain>(name);
        await grain.Cast<ISubjectClusterGrain>().CheckpointAsync();
        await grain.Cast<IGrainManagementExtension>().DeactivateOnIdle();

        // The checkpoint written on demand held a claim (ceiling 100); the clean deactivation replaced it with 90.
        var usage = await fixture.Quota.GetUsageAsync(SubjectKind.Resource, name);
        Assert.Equal(910, usage.Policies.Single(p => p.Policy == "daily").Remaining);
    }
}
