using Microsoft.Extensions.DependencyInjection;
using Quota.Abstractions;
using Quota.Client;

namespace Quota.Grains.Tests;

/// <summary>
/// A client's batches of single-subject decisions (<see cref="QuotaClientOptions.BatchAbove"/>): the same decisions as
/// one by one, each caller its own answer, and only the decisions that may be batched go in batches.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class BatchingTests(ClusterFixture fixture)
{
    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    [Fact]
    public async Task Batched_decisions_admit_exactly_the_limit_and_each_caller_hears_its_own_answer()
    {
        // Threshold 0: every decision that may be batched is. 300 at once: 200 on one resource of 100 an hour
        // ("metered:*"), 100 on users of their own.
        var quota = new QuotaClient(fixture.Cluster.Client, batchAbove: 0);
        var hot = Unique("metered:batch");
        var users = Enumerable.Range(0, 100).Select(i => Unique($"batch-user-{i}")).ToArray();
        var hotCalls = Enumerable.Range(0, 200).Select(_ => quota.AcquireAsync(new AcquireRequest { Resources = [hot] }));
        var userCalls = users.Select(user => quota.AcquireAsync(new AcquireRequest { User = user, Cost = 3 }));
        var answers = await Task.WhenAll(hotCalls.Concat(userCalls));

        var hotAnswers = answers[..200];
        var admitted = hotAnswers.Where(a => a.Allowed).ToArray();
        Assert.Equal(100, admitted.Length);
        Assert.All(hotAnswers.Where(a => !a.Allowed), a => Assert.Equal($"resource:{hot}/tokens", a.LimitedBy));

        // Each admitted caller saw the counter just after its own grant: 99 down to 0, each once.
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i), admitted.Select(a => a.Policies.Single().Remaining).Order());

        // Each user's answer is about that user, after that request's cost (built-in default: 100 a minute).
        for (var i = 0; i < users.Length; i++)
        {
            var answer = answers[200 + i];
            Assert.True(answer.Allowed);
            Assert.Equal($"user:{users[i]}", answer.Policies.Single().Subject);
            Assert.Equal(97, answer.Policies.Single().Remaining);
        }

        Assert.Equal(300, quota.BatchCounts.Decisions);
        Assert.Equal(0, (await quota.GetUsageAsync(SubjectKind.Resource, hot)).Policies.Single().Remaining);
    }

    [Fact]
    public async Task Decisions_that_wait_or_name_several_subjects_are_not_batched()
    {
        var quota = new QuotaClient(fixture.Cluster.Client, batchAbove: 0);
        var user = Unique("batch-waits");

        var waited = await quota.AcquireAsync(new AcquireRequest { User = user, MaxWaitMs = 1_000 });
        var several = await quota.AcquireAsync(new AcquireRequest { User = user, Resources = [Unique("metered:batch-several")] });

        Assert.True(waited.Allowed);
        Assert.True(several.Allowed);
        Assert.Equal((0, 0), quota.BatchCounts);
        Assert.Equal(98, (await quota.GetUsageAsync(SubjectKind.User, user)).Policies.Single().Remaining);
    }

    [Fact]
    public async Task Below_the_threshold_each_decision_goes_on_its_own()
    {
        var quota = new QuotaClient(fixture.Cluster.Client, batchAbove: 64);
        var user = Unique("batch-few");

        var answers = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => quota.AcquireAsync(new AcquireRequest { User = user })));

        Assert.Equal(64, answers.Count(a => a.Allowed));
        Assert.Equal((0, 0), quota.BatchCounts);
    }

    [Fact]
    public async Task A_call_the_coordinator_may_not_batch_fails_alone()
    {
        var user = Unique("batch-mixed");
        var answers = await fixture.Grains.GetGrain<IDecisionGrain>(0).AcquireEachAsync(
        [
            new SubjectCall(SubjectKind.User, user, new SubjectAcquire()),
            new SubjectCall(SubjectKind.ApiKey, Unique("raw-key"), new SubjectAcquire()),
            new SubjectCall(SubjectKind.User, user, new SubjectAcquire { MaxWaitMs = 5 }),
            new SubjectCall(SubjectKind.Resource, Unique("no-policy-here"), new SubjectAcquire()),
        ]);

        Assert.Equal(4, answers.Length);
        Assert.True(answers[0].Decision!.Allowed);
        Assert.Null(answers[0].Failure);
        Assert.Contains("one user or one resource", Assert.IsType<ArgumentException>(answers[1].Failure).Message);
        Assert.IsType<ArgumentException>(answers[2].Failure);
        Assert.Equal(DecisionOutcome.UnknownSubject, answers[3].Decision!.Outcome);
        Assert.Equal(99, (await fixture.Quota.GetUsageAsync(SubjectKind.User, user)).Policies.Single().Remaining);
    }

    [Fact]
    public async Task Every_batched_decision_is_answered_and_none_is_left_counted_in_flight()
    {
        var coordinator = fixture.Grains.GetGrain<IDecisionGrain>(1);
        var batcher = new DecisionBatcher(fixture.Grains, () => coordinator, threshold: 0);
        var user = Unique("batch-count");

        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => batcher.AcquireAsync(SubjectKind.User, user, new SubjectAcquire(), CancellationToken.None)))
            .WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(50, answers.Count(a => a.Allowed));
        Assert.Equal(50, batcher.Batched);
        Assert.Equal(0, batcher.InFlight);
    }

    [Fact]
    public async Task What_is_queued_goes_in_batches_of_at_most_256_in_order()
    {
        // The send is run by the test, after 300 decisions are queued: one send of 300, split 256 + 44.
        var coordinator = new RecordingCoordinator();
        DecisionBatcher? scheduled = null;
        var batcher = new DecisionBatcher(fixture.Grains, () => coordinator, threshold: 0, scheduleSend: b => scheduled = b);
        var ids = Enumerable.Range(0, 300).Select(i => $"queued-{i}").ToArray();

        var calls = ids.Select(id => batcher.AcquireAsync(SubjectKind.User, id, new SubjectAcquire(), CancellationToken.None)).ToArray();
        Assert.Same(batcher, scheduled);
        Assert.Equal(300, batcher.InFlight);
        batcher.SendQueued();
        var answers = await Task.WhenAll(calls);

        Assert.Equal([256, 44], coordinator.Batches.Select(b => b.Length));
        Assert.Equal(ids, coordinator.Batches.SelectMany(b => b).Select(c => c.Id));
        Assert.Equal(ids, answers.Select(a => a.LimitedBy));
        Assert.Equal(2, batcher.Batches);
        Assert.Equal(0, batcher.InFlight);
    }

    [Fact]
    public async Task A_decision_cancelled_before_it_is_queued_is_not_sent()
    {
        var batcher = new DecisionBatcher(fixture.Grains, () => new LostCoordinator(), threshold: 0);

        var call = batcher.AcquireAsync(SubjectKind.User, Unique("cancelled"), new SubjectAcquire(), new CancellationToken(canceled: true));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        Assert.Equal(0, batcher.Batched);
        Assert.Equal(0, batcher.InFlight);
    }

    [Fact]
    public async Task When_a_batch_is_lost_every_caller_in_it_hears_why()
    {
        var batcher = new DecisionBatcher(fixture.Grains, () => new LostCoordinator(), threshold: 0);

        var calls = Enumerable.Range(0, 5).Select(i => batcher.AcquireAsync(SubjectKind.User, Unique($"lost-{i}"), new SubjectAcquire(), CancellationToken.None)).ToArray();

        foreach (var call in calls)
        {
            Assert.Equal("the gateway went away", (await Assert.ThrowsAsync<TimeoutException>(() => call)).Message);
        }

        Assert.Equal(5, batcher.Batched);
        Assert.Equal(0, batcher.InFlight);
    }

    [Fact]
    public void A_negative_threshold_is_refused_with_the_option_named()
    {
        var services = new ServiceCollection();

        var error = Assert.Throws<ArgumentException>(() => services.AddQuotaClient(o => o.BatchAbove = -1));

        Assert.Contains("BatchAbove must be 0 or more", error.Message);
    }

    /// <summary>A coordinator that records each batch and answers each call with its subject's id (as LimitedBy).</summary>
    private sealed class RecordingCoordinator : IDecisionGrain
    {
        public List<SubjectCall[]> Batches { get; } = [];

        public Task<SubjectCallAnswer[]> AcquireEachAsync(SubjectCall[] calls)
        {
            lock (Batches)
            {
                Batches.Add(calls);
            }

            return Task.FromResult(calls.Select(c => new SubjectCallAnswer(new SubjectDecision { Allowed = true, LimitedBy = c.Id }, null)).ToArray());
        }

        public Task<AcquireResult> AcquireAsync(ValidatedAcquire request, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<ApiKeyInfo> RegisterKeyAsync(string rawKey, string owner, PolicySpec[]? policies) => throw new NotSupportedException();
    }

    /// <summary>A coordinator whose batches never arrive: what a caller sees when the connection fails mid-batch.</summary>
    private sealed class LostCoordinator : IDecisionGrain
    {
        public Task<SubjectCallAnswer[]> AcquireEachAsync(SubjectCall[] calls) => Task.FromException<SubjectCallAnswer[]>(new TimeoutException("the gateway went away"));

        public Task<AcquireResult> AcquireAsync(ValidatedAcquire request, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<ApiKeyInfo> RegisterKeyAsync(string rawKey, string owner, PolicySpec[]? policies) => throw new NotSupportedException();
    }
}
