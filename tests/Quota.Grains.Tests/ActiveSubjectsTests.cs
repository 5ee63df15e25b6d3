using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Quota.Abstractions;
using Quota.Grains.Subjects;

namespace Quota.Grains.Tests;

/// <summary>
/// What a request anyone can send leaves in a silo's memory: a request refused as unknown (an unconfigured resource, an
/// unregistered key), a peek or a usage read of a subject that holds nothing, and a grant refunded because another
/// subject refused, leave no activation behind; a subject that consumed stays.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class UntouchedSubjectTests(ClusterFixture fixture)
{
    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    [Fact]
    public async Task Refused_requests_peeks_and_usage_reads_of_new_subjects_leave_no_activation_behind()
    {
        // Subjects that earlier tests left holding nothing go half a second after their last call; collected now, so
        // none goes during this test and the counts below are this test's alone.
        await fixture.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var before = await ActivationsAsync();
        var counted = CountedPerSilo();
        var grains = new List<GrainId>();

        // 40 unconfigured resources, 30 unregistered keys, 20 peeks and 20 usage reads of never-seen users, 10 new users
        // whose grant is refunded because the resource named with them is unconfigured (with their resources), and 10
        // reports on unconfigured tokens: 140 subjects.
        for (var i = 0; i < 40; i++)
        {
            var resource = Unique("nowhere");
            var answer = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [resource] });
            Assert.Equal(DecisionOutcome.UnknownSubject, answer.Outcome);
            grains.Add(Grain(SubjectKind.Resource, resource));
        }

        for (var i = 0; i < 30; i++)
        {
            var key = Unique("unregistered");
            var answer = await fixture.Quota.AcquireAsync(new AcquireRequest { ApiKey = key });
            Assert.Equal(DecisionOutcome.UnknownSubject, answer.Outcome);
            grains.Add(Grain(SubjectKind.ApiKey, KeyId(key)));
        }

        for (var i = 0; i < 20; i++)
        {
            var user = Unique("peeker");
            var answer = await fixture.Quota.AcquireAsync(new AcquireRequest { User = user, Cost = 0 });
            Assert.Equal((true, 100L), (answer.Allowed, answer.Remaining));
            grains.Add(Grain(SubjectKind.User, user));
        }

        for (var i = 0; i < 20; i++)
        {
            var user = Unique("reader");
            var usage = await fixture.Quota.GetUsageAsync(SubjectKind.User, user);
            Assert.Equal((true, 100L), (usage.Known, usage.Policies.Single().Remaining));
            grains.Add(Grain(SubjectKind.User, user));
        }

        for (var i = 0; i < 10; i++)
        {
            var user = Unique("refunded");
            var resource = Unique("nowhere");
            var answer = await fixture.Quota.AcquireAsync(new AcquireRequest { User = user, Resources = [resource] });
            Assert.Equal(DecisionOutcome.UnknownSubject, answer.Outcome);
            grains.Add(Grain(SubjectKind.User, user));
            grains.Add(Grain(SubjectKind.Resource, resource));
        }

        // 10 reports about tokens of an upstream nobody configured.
        for (var i = 0; i < 10; i++)
        {
            var upstream = Unique("no-upstream");
            Assert.Null(await fixture.Quota.ReportAsync(upstream, "t1", new UpstreamFeedback { Status = 500 }));
            grains.Add(Grain(SubjectKind.Token, $"{upstream}/t1"));
        }

        Assert.Equal(140, grains.Count);
        await DeactivatedAsync(grains);

        Assert.Equal(before, await ActivationsAsync());
        Assert.Equal(counted, CountedPerSilo());
    }

    [Fact]
    public async Task Concurrent_calls_on_one_untouched_subject_are_all_answered_by_one_activation_that_then_goes()
    {
        // Letting go after every call forwarded the calls queued behind it to the next activation, and Orleans refuses a
        // message forwarded twice: almost half of 200 concurrent peeks of one new user failed.
        var user = Unique("peeked");
        var resource = Unique("nowhere-busy");
        var peeks = Enumerable.Range(0, 200).Select(_ => fixture.Quota.AcquireAsync(new AcquireRequest { User = user, Cost = 0 }));
        var unknown = Enumerable.Range(0, 200).Select(_ => fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [resource] }));
        var reads = Enumerable.Range(0, 200).Select(_ => fixture.Quota.GetUsageAsync(SubjectKind.User, user));

        var answers = await Task.WhenAll(peeks.Concat(unknown));
        var usage = await Task.WhenAll(reads);

        Assert.Equal(200, answers.Count(a => a.Outcome == DecisionOutcome.Allowed && a.Remaining == 100));
        Assert.Equal(200, answers.Count(a => a.Outcome == DecisionOutcome.UnknownSubject));
        Assert.All(usage, u => Assert.Equal(100, u.Policies.Single().Remaining));
        await DeactivatedAsync([Grain(SubjectKind.User, user), Grain(SubjectKind.Resource, resource)]);
    }

    [Fact]
    public async Task A_subject_that_consumed_stays_active_with_its_windows()
    {
        // Subjects that earlier tests left holding nothing go half a second after their last call, and one going during
        // this test changed the counts below (CI: 142 for 143); collected now, so the counts are this test's alone.
        await fixture.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var counted = CountedPerSilo().Sum();
        var activations = await ActivationsAsync();
        var user = Unique("consumer");

        Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { User = user })).Allowed);

        // Its usage is read from the same activation: the permit it took is still counted, and it stays.
        Assert.Equal(99, (await fixture.Quota.GetUsageAsync(SubjectKind.User, user)).Policies.Single().Remaining);
        Assert.True(fixture.Cluster.TryGetGrainContext(Grain(SubjectKind.User, user), out var context));
        Assert.False(context.Deactivated.IsCompleted);
        Assert.Equal(counted + 1, CountedPerSilo().Sum());
        Assert.Equal(activations + 1, await ActivationsAsync());
    }

    [Fact]
    public async Task A_resource_configured_after_a_refusal_is_known_at_once()
    {
        // Nothing negative is remembered: the refusal left no activation, and the next request reads the configuration.
        var resource = Unique("late");
        Assert.Equal(DecisionOutcome.UnknownSubject, (await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [resource] })).Outcome);

        await fixture.Grains.GetGrain<IResourceGrain>(resource).SetPoliciesAsync(
            [new PolicySpec { Name = "per-minute", Algorithm = "fixed-window", Limit = 5, Window = TimeSpan.FromMinutes(1) }]);
        var answer = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [resource] });

        Assert.Equal((DecisionOutcome.Allowed, 4L), (answer.Outcome, answer.Remaining));
    }

    [Fact]
    public async Task A_key_registered_after_a_refusal_is_known_at_once()
    {
        var key = Unique("late-key");
        Assert.Equal(DecisionOutcome.UnknownSubject, (await fixture.Quota.AcquireAsync(new AcquireRequest { ApiKey = key })).Outcome);

        await fixture.RegisterKeyAsync(key, Unique("late-owner"));

        Assert.True((await fixture.Quota.AcquireAsync(new AcquireRequest { ApiKey = key })).Allowed);
    }

    private GrainId Grain(SubjectKind kind, string id) => DecisionResults.Grain(fixture.Grains, kind, id).GetGrainId();

    private string KeyId(string rawKey) =>
        fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<ApiKeyHasher>().KeyId(rawKey);

    private int[] CountedPerSilo() =>
        [.. fixture.Cluster.Silos.Select(s => s.ServiceProvider.GetRequiredService<ActiveSubjects>().Count)];

    /// <summary>Waits for each grain's activation, if it still has one, to finish deactivating (bounded, so a kept one fails).</summary>
    private async Task DeactivatedAsync(IEnumerable<GrainId> grains)
    {
        foreach (var grain in grains)
        {
            if (fixture.Cluster.TryGetGrainContext(grain, out var context))
            {
                try
                {
                    await context.Deactivated.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
                }
                catch (TimeoutException)
                {
                    Assert.Fail($"{grain} is still active 10 s after the request that named it was answered.");
                }
            }

            Assert.False(fixture.Cluster.TryGetGrainContext(grain, out _), $"{grain} is still active.");
        }
    }

    /// <summary>Activations of users, keys, resources and tokens on every silo, by the management grain.</summary>
    private async Task<int> ActivationsAsync()
    {
        var statistics = await fixture.Grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        return statistics
            .Where(s => IsType(s.GrainType, "UserGrain")
                || IsType(s.GrainType, "ApiKeyGrain")
                || IsType(s.GrainType, "ResourceGrain")
                || IsType(s.GrainType, "UpstreamTokenGrain"))
            .Sum(s => s.ActivationCount);
    }

    // A statistic names its grain class with its assembly: "Quota.Grains.Subjects.UserGrain,Quota.Grains".
    private static bool IsType(string grainType, string name) =>
        grainType.Split(',')[0].EndsWith("." + name, StringComparison.Ordinal);
}
