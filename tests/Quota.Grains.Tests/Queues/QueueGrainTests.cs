using Quota.Abstractions;

namespace Quota.Grains.Tests.Queues;

/// <summary>A queue grain on fake time: hand-out paced by real decisions, order, retries, expiry, dead letters.</summary>
/// <remarks>
/// Each test removes the queues it defined: a defined queue is kept active by the silos' <c>QueueKeeper</c> and peeks its
/// dispatch's limits as it refreshes, which would activate subjects in the middle of other tests of the collection that
/// count activations exactly (<c>UntouchedSubjectTests</c>).
/// </remarks>
[Collection(ClusterCollection.Name)]
public sealed class QueueGrainTests(ClusterFixture fixture) : IAsyncDisposable
{
    private readonly List<IQueueGrain> _defined = [];

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    public async ValueTask DisposeAsync()
    {
        foreach (var queue in _defined)
        {
            await queue.RemoveAsync();
        }
    }

    /// <summary>A fresh resource limited to <paramref name="perMinute"/> per fixed minute, and the clock at a minute's start.</summary>
    private async Task<string> LimitedResourceAsync(long perMinute)
    {
        var resource = Unique("queue-rate");
        await fixture.Grains.GetGrain<IResourceGrain>(resource).SetPoliciesAsync(
            [new PolicySpec { Name = "per-minute", Algorithm = "fixed-window", Limit = perMinute, Window = TimeSpan.FromMinutes(1) }]);
        var now = fixture.Time.GetUtcNow();
        fixture.Time.Advance(TimeSpan.FromTicks(TimeSpan.TicksPerMinute - (now.UtcTicks % TimeSpan.TicksPerMinute)));
        return resource;
    }

    private async Task<IQueueGrain> QueueAsync(QueueDispatch dispatch, Func<QueueDefinition, QueueDefinition>? change = null)
    {
        var queue = fixture.Grains.GetGrain<IQueueGrain>(Unique("queue"));
        _defined.Add(queue);
        var definition = new QueueDefinition { Dispatch = dispatch };
        await queue.DefineAsync(change?.Invoke(definition) ?? definition);
        return queue;
    }

    private static QueueItemInput Item(string id, Priority priority = Priority.Normal) => new() { Id = id, Payload = $"{{\"n\":\"{id}\"}}", Priority = priority };

    [Fact]
    public async Task ThirtyItemsUnderTwentyAMinuteHandOutExactlyTwentyAndTheRestAfterTheWindow()
    {
        var resource = await LimitedResourceAsync(20);

        // Leases outlive the window, so the next change the queue knows of is the window turning.
        var queue = await QueueAsync(new QueueDispatch { Resources = [resource] }, d => d with { VisibilityTimeout = TimeSpan.FromMinutes(5) });
        Assert.Equal(30, (await queue.EnqueueAsync([.. Enumerable.Range(0, 30).Select(i => Item($"m{i:00}"))])).Created);

        var first = await queue.LeaseAsync("w1", 100, 0);
        var second = await queue.LeaseAsync("w2", 100, 0);
        Assert.Equal(20, first.Items.Length);
        Assert.Empty(second.Items);
        Assert.Equal(60_000, second.RetryAfterMs);
        Assert.Equal([.. Enumerable.Range(0, 20).Select(i => $"m{i:00}")], first.Items.Select(i => i.Id));

        fixture.Time.Advance(TimeSpan.FromSeconds(59));
        Assert.Empty((await queue.LeaseAsync("w1", 100, 0)).Items);
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        var rest = await queue.LeaseAsync("w2", 100, 0);
        Assert.Equal([.. Enumerable.Range(20, 10).Select(i => $"m{i:00}")], rest.Items.Select(i => i.Id));
        Assert.All(rest.Items, i => Assert.Equal(1, i.Attempt));
    }

    [Fact]
    public async Task HigherPrioritiesAreHandedOutFirstThenOlderItems()
    {
        var resource = await LimitedResourceAsync(3);
        var queue = await QueueAsync(new QueueDispatch { Resources = [resource] });
        await queue.EnqueueAsync([Item("low", Priority.Low), Item("normal-1"), Item("critical", Priority.Critical), Item("high", Priority.High), Item("normal-2")]);

        var leased = await queue.LeaseAsync("w", 10, 0);

        Assert.Equal(["critical", "high", "normal-1"], leased.Items.Select(i => i.Id));
        var stats = (await queue.GetStatsAsync())!;
        Assert.Equal(new Dictionary<string, int> { ["critical"] = 0, ["high"] = 0, ["normal"] = 1, ["low"] = 1 }, stats.Depth);
        Assert.Equal(3, stats.InFlight);
        Assert.Equal(3, stats.AdmittedPerMinute);
        Assert.Equal(3.0, stats.AllowedPerMinute);
    }

    [Fact]
    public async Task EnqueueingTheSameIdTwiceKeepsOneItem()
    {
        var queue = await QueueAsync(new QueueDispatch { Resources = [await LimitedResourceAsync(100)] });

        var first = await queue.EnqueueAsync([Item("order-7")]);
        var again = await queue.EnqueueAsync([Item("order-7"), Item("order-8"), Item("order-8")]);

        Assert.Equal((QueueOutcome.Done, 1), (first.Outcome, first.Created));
        Assert.Equal(["order-7", "order-8", "order-8"], again.Ids);
        Assert.Equal(1, again.Created);
        Assert.Equal(2, (await queue.LeaseAsync("w", 10, 0)).Items.Length);
    }

    [Fact]
    public async Task AnItemIsHandedOutWithItsAttributesNamedInTheDispatch()
    {
        var chat = await LimitedResourceAsync(1);
        var queue = await QueueAsync(new QueueDispatch { Resources = ["{chat}"] });
        await queue.EnqueueAsync([
            new QueueItemInput { Id = "a", Attributes = new() { ["chat"] = chat } },
            new QueueItemInput { Id = "b", Attributes = new() { ["chat"] = chat } },
        ]);

        Assert.Equal(["a"], (await queue.LeaseAsync("w", 10, 0)).Items.Select(i => i.Id));
        Assert.Equal(1, (await fixture.Quota.GetUsageAsync(SubjectKind.Resource, chat)).Policies.Single().Limit - (await fixture.Quota.GetUsageAsync(SubjectKind.Resource, chat)).Policies.Single().Remaining);

        var missing = await queue.EnqueueAsync([new QueueItemInput { Id = "c" }]);
        Assert.Equal(QueueOutcome.Invalid, missing.Outcome);
        Assert.Equal("attributes.chat", missing.Problems.Single().Field);
    }

    [Fact]
    public async Task ANackRetriesAfterTheUpstreamsRetryAfterAndTheLastAttemptDeadLetters()
    {
        var resource = await LimitedResourceAsync(100);
        var queue = await QueueAsync(new QueueDispatch { Resources = [resource] }, d => d with
        {
            MaxAttempts = 2,
            BackoffBase = TimeSpan.FromSeconds(10),
            BackoffMax = TimeSpan.FromSeconds(10),
        });
        await queue.EnqueueAsync([Item("job")]);

        var first = (await queue.LeaseAsync("w", 1, 0)).Items.Single();
        var retry = await queue.NackAsync(new NackRequest { LeaseId = first.LeaseId, Error = "upstream said 429", UpstreamStatus = 429, RetryAfterMs = 30_000 });

        // The jittered backoff is at most 10 s: the upstream's 30 s decides.
        Assert.Equal((QueueOutcome.Done, false, 30_000L), (retry.Outcome, retry.Dead, retry.RetryAfterMs));
        Assert.Equal(1, (await queue.GetStatsAsync())!.Retrying);
        fixture.Time.Advance(TimeSpan.FromMilliseconds(29_999));
        Assert.Empty((await queue.LeaseAsync("w", 1, 0)).Items);
        fixture.Time.Advance(TimeSpan.FromMilliseconds(1));
        var second = (await queue.LeaseAsync("w", 1, 0)).Items.Single();
        Assert.Equal(("job", 2), (second.Id, second.Attempt));

        var dead = await queue.NackAsync(new NackRequest { LeaseId = second.LeaseId, Error = "still failing" });
        Assert.True(dead.Dead);
        Assert.Equal(QueueOutcome.UnknownLease, (await queue.NackAsync(new NackRequest { LeaseId = second.LeaseId })).Outcome);
        var letters = (await queue.ListDeadAsync(10))!;
        Assert.Equal(("job", 2, "still failing"), (letters.Single().Id, letters.Single().Attempts, letters.Single().Error));
        fixture.Time.Advance(TimeSpan.FromMinutes(5));
        Assert.Empty((await queue.LeaseAsync("w", 1, 0)).Items);

        Assert.Equal(1, await queue.RequeueAsync(null));
        var revived = (await queue.LeaseAsync("w", 1, 0)).Items.Single();
        Assert.Equal(("job", 1), (revived.Id, revived.Attempt));
        Assert.Equal(QueueOutcome.Done, await queue.AckAsync(revived.LeaseId));
        Assert.Equal(QueueOutcome.UnknownLease, await queue.AckAsync(revived.LeaseId));
        Assert.Equal(0, await queue.PurgeAsync(null));
    }

    [Fact]
    public async Task RetriesWaitAFullyJitteredBackoffWithinTheCap()
    {
        var queue = await QueueAsync(new QueueDispatch { Resources = [await LimitedResourceAsync(1000)] }, d => d with
        {
            MaxAttempts = 10,
            BackoffBase = TimeSpan.FromSeconds(4),
            BackoffMax = TimeSpan.FromSeconds(60),
        });
        await queue.EnqueueAsync([.. Enumerable.Range(0, 40).Select(i => Item($"j{i}"))]);
        var leased = (await queue.LeaseAsync("w", 40, 0)).Items;
        var delays = new List<long>();
        foreach (var item in leased)
        {
            delays.Add((await queue.NackAsync(new NackRequest { LeaseId = item.LeaseId, Error = "e" })).RetryAfterMs);
        }

        // First retry: uniform in [0, 4 s]. Forty draws all equal would mean no jitter.
        Assert.All(delays, d => Assert.InRange(d, 0, 4_000));
        Assert.True(delays.Distinct().Count() > 1, $"the delays should differ: {string.Join(", ", delays)}");
        fixture.Time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(40, (await queue.LeaseAsync("w", 100, 0)).Items.Length);
    }

    [Fact]
    public async Task ALeaseNotAckedWithinTheVisibilityTimeoutReturnsItsItemAndIsCounted()
    {
        var queue = await QueueAsync(new QueueDispatch { Resources = [await LimitedResourceAsync(100)] }, d => d with { VisibilityTimeout = TimeSpan.FromSeconds(30) });
        await queue.EnqueueAsync([Item("slow")]);
        var first = (await queue.LeaseAsync("crashed-worker", 1, 0)).Items.Single();
        Assert.Equal(30_000, first.VisibleForMs);

        fixture.Time.Advance(TimeSpan.FromSeconds(29));
        Assert.Empty((await queue.LeaseAsync("w2", 1, 0)).Items);
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        var again = (await queue.LeaseAsync("w2", 1, 0)).Items.Single();

        Assert.Equal(("slow", 2), (again.Id, again.Attempt));
        Assert.NotEqual(first.LeaseId, again.LeaseId);
        Assert.Equal(QueueOutcome.UnknownLease, await queue.AckAsync(first.LeaseId));
        Assert.Equal(1, (await queue.GetStatsAsync())!.Expired);
    }

    [Fact]
    public async Task AWaitingLeaseIsAnsweredByAnEnqueue()
    {
        var queue = await QueueAsync(new QueueDispatch { Resources = [await LimitedResourceAsync(100)] });

        var waiting = queue.LeaseAsync("w", 5, 20_000);
        await queue.EnqueueAsync([Item("late")]);

        var answer = await waiting.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        Assert.Equal(["late"], answer.Items.Select(i => i.Id));
    }

    [Fact]
    public async Task NotBeforeHoldsAnItemBackUntilItsTime()
    {
        var queue = await QueueAsync(new QueueDispatch { Resources = [await LimitedResourceAsync(100)] });
        await queue.EnqueueAsync([Item("now"), Item("later") with { NotBefore = fixture.Time.GetUtcNow().AddSeconds(10) }]);

        Assert.Equal(["now"], (await queue.LeaseAsync("w", 5, 0)).Items.Select(i => i.Id));
        fixture.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(["later"], (await queue.LeaseAsync("w", 5, 0)).Items.Select(i => i.Id));
    }

    [Fact]
    public async Task AnUndefinedQueueAnswersUnknownAndAFullOneRefusesTheWholeBatch()
    {
        var unknown = fixture.Grains.GetGrain<IQueueGrain>(Unique("nothing"));
        Assert.Equal(QueueOutcome.UnknownQueue, (await unknown.EnqueueAsync([Item("x")])).Outcome);
        Assert.Equal(QueueOutcome.UnknownQueue, (await unknown.LeaseAsync("w", 1, 0)).Outcome);
        Assert.Null(await unknown.GetStatsAsync());

        var queue = await QueueAsync(new QueueDispatch { Resources = [await LimitedResourceAsync(100)] }, d => d with { MaxItems = 2, MaxPayloadBytes = 10 });
        var big = await queue.EnqueueAsync([Item("a"), new QueueItemInput { Id = "b", Payload = "\"0123456789\"" }]);
        Assert.Equal(QueueOutcome.Invalid, big.Outcome);
        Assert.Equal("items[1].payload", big.Problems.Single().Field);
        var full = await queue.EnqueueAsync([Item("a"), Item("b"), Item("c")]);
        Assert.Equal(QueueOutcome.Full, full.Outcome);
        Assert.Equal(0, (await queue.GetStatsAsync())!.Depth.Values.Sum());
    }

    [Fact]
    public async Task ADefinedQueueIsListedInTheRegistryUntilItIsRemoved()
    {
        var registry = fixture.Grains.GetGrain<IRegistryGrain>(0);
        var prefix = Unique("listed") + "-";
        var (a, b) = (fixture.Grains.GetGrain<IQueueGrain>(prefix + "a"), fixture.Grains.GetGrain<IQueueGrain>(prefix + "b"));
        _defined.AddRange([a, b]);
        var definition = new QueueDefinition { Dispatch = new QueueDispatch { Resources = [await LimitedResourceAsync(10)] } };
        await b.DefineAsync(definition);
        await a.DefineAsync(definition);
        await a.DefineAsync(definition with { MaxAttempts = 2 });

        Assert.Equal([prefix + "a", prefix + "b"], (await registry.ListQueuesAsync(prefix, 10)).Where(n => n.StartsWith(prefix, StringComparison.Ordinal)));
        Assert.Equal([prefix + "a"], await registry.ListQueuesAsync(prefix, 1));
        Assert.Equal(prefix + "b", (await registry.ListQueuesAsync(prefix + "a", 1)).Single());

        Assert.True(await a.RemoveAsync());
        Assert.Equal([prefix + "b"], (await registry.ListQueuesAsync(prefix, 10)).Where(n => n.StartsWith(prefix, StringComparison.Ordinal)));
        Assert.DoesNotContain(prefix + "nothing", await registry.ListQueuesAsync(prefix, 10));
        Assert.Null(await fixture.Grains.GetGrain<IQueueGrain>(prefix + "nothing").GetDefinitionAsync());
        Assert.DoesNotContain(prefix + "nothing", await registry.ListQueuesAsync(prefix, 10));
    }

    [Fact]
    public async Task StatsPlanTheWorkersTheLimitsCanUse()
    {
        var resource = await LimitedResourceAsync(20);
        var queue = await QueueAsync(new QueueDispatch { Resources = [resource] }, d => d with { ProcessingTime = TimeSpan.FromSeconds(10) });
        var deadline = fixture.Time.GetUtcNow().AddMinutes(3);
        await queue.EnqueueAsync([.. Enumerable.Range(0, 108).Select(i => Item($"e{i:000}") with { Deadline = deadline })]);

        var stats = (await queue.GetStatsAsync())!;

        Assert.Equal(20.0, stats.AllowedPerMinute);
        Assert.Equal(4, stats.DesiredWorkers);
        Assert.Equal(324_000, stats.DrainTimeMs);

        // At 20 a minute the item at position p is admitted at p * 3 s and done 10 s later: positions 0 to 56 finish by 180 s.
        Assert.Equal((57, 51), (stats.DeadlinesMet, stats.DeadlinesMissed));
    }

    [Fact]
    public async Task CompetingWorkersGetExactlyTheGlobalLimitPerSecondAndEachChatsLimitPerMinute()
    {
        // Telegram's shape: 30 messages a second in all, 20 a minute per chat.
        var global = Unique("tg-global");
        var chat = Unique("tg-chat");
        await fixture.Grains.GetGrain<IResourceGrain>(global).SetPoliciesAsync(
            [new PolicySpec { Name = "per-second", Algorithm = "fixed-window", Limit = 30, Window = TimeSpan.FromSeconds(1) }]);
        var chats = new[] { "a", "b", "c" };
        foreach (var c in chats)
        {
            await fixture.Grains.GetGrain<IResourceGrain>($"{chat}:{c}").SetPoliciesAsync(
                [new PolicySpec { Name = "per-minute", Algorithm = "fixed-window", Limit = 20, Window = TimeSpan.FromMinutes(1) }]);
        }

        var now = fixture.Time.GetUtcNow();
        fixture.Time.Advance(TimeSpan.FromTicks(TimeSpan.TicksPerMinute - (now.UtcTicks % TimeSpan.TicksPerMinute)));
        var queue = await QueueAsync(new QueueDispatch { Resources = [global, chat + ":{chat}"] }, d => d with { VisibilityTimeout = TimeSpan.FromHours(1) });
        await queue.EnqueueAsync([.. Enumerable.Range(0, 150).Select(i => new QueueItemInput
        {
            Id = $"m{i:000}",
            Attributes = new() { ["chat"] = chats[i % 3] },
        })]);

        // Four workers lease at once, then one more sweeps the same second. The sweep is part of the count: a decision
        // denied on one limit refunds what another granted, and for that round trip a concurrent decision can see the
        // permit as taken and be denied (DecisionGrain: the error is on the safe side); a lone lease afterwards hands
        // out what such a race held back, so the window's total is exact.
        async Task<List<LeasedItem>> RoundAsync()
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(w => queue.LeaseAsync($"w{w}", 100, 0)));
            var sweep = await queue.LeaseAsync("sweeper", 100, 0);
            return [.. answers.SelectMany(a => a.Items), .. sweep.Items];
        }

        int PerChat(List<LeasedItem> items, string c) => items.Count(i => i.Attributes["chat"] == c);

        // Second 0: the global 30, spread over the chats; second 1: what the chats have left of their 20, 30 in all.
        var first = await RoundAsync();
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        var second = await RoundAsync();
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        var third = await RoundAsync();

        // Which chat gets the last global permits of a second depends on the workers' race (31 asks for 30 permits); the
        // totals do not: 30 each second, and each chat exactly its 20 in the minute.
        var both = first.Concat(second).ToList();
        Assert.Equal((30, 30), (first.Count, second.Count));
        Assert.Equal((20, 20, 20), (PerChat(both, "a"), PerChat(both, "b"), PerChat(both, "c")));
        Assert.Empty(third);
        Assert.Equal(60, first.Concat(second).Select(i => i.Id).Distinct().Count());

        // The next minute: the chats are fresh, the global second decides again.
        fixture.Time.Advance(TimeSpan.FromSeconds(58));
        Assert.Equal(30, (await RoundAsync()).Count);
    }
}
