using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;
using Orleans.Storage;
using Orleans.TestingHost;
using Quota.Abstractions;
using Quota.Client;
using Quota.Grains.Storage;

namespace Quota.Grains.Tests;

/// <summary>
/// Grain storage whose checkpoint writes wait until the test releases them, one by one, so a test can look at the
/// answers given while a write is in flight. Other state is kept in memory and written at once.
/// </summary>
public sealed class GatedStorage : IGrainStorage
{
    private readonly ConcurrentDictionary<(GrainId, string), object?> _rows = new();

    /// <summary>Checkpoint writes waiting to be released, in the order they were made.</summary>
    public Channel<GatedWrite> Writes { get; } = Channel.CreateUnbounded<GatedWrite>();

    /// <summary>When set, writes are no longer gated (the cluster is shutting down).</summary>
    public volatile bool PassThrough;

    /// <summary>The last released ceiling of each grain's <c>daily</c> counter.</summary>
    public ConcurrentDictionary<GrainId, long> Committed { get; } = new();

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_rows.TryGetValue((grainId, stateName), out var state) && state is T typed)
        {
            grainState.State = typed;
            grainState.RecordExists = true;
            grainState.ETag = "1";
        }

        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        grainState.ETag = "1";
        grainState.RecordExists = true;
        if (grainState.State is not UsageCheckpointState usage)
        {
            _rows[(grainId, stateName)] = grainState.State;
            return Task.CompletedTask;
        }

        var copy = new UsageCheckpointState();
        foreach (var (name, counter) in usage.Counters)
        {
            copy.Counters[name] = counter;
        }

        var write = new GatedWrite(grainId, copy.Counters.TryGetValue("daily", out var daily) ? daily.Claimed : -1, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (PassThrough || !Writes.Writer.TryWrite(write))
        {
            write.Released.TrySetResult();
        }

        return Commit();

        async Task Commit()
        {
            await write.Released.Task;
            _rows[(grainId, stateName)] = copy;
            Committed[grainId] = write.Claimed;
        }
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        _rows.TryRemove((grainId, stateName), out _);
        return Task.CompletedTask;
    }
}

/// <summary>One checkpoint write gated by <see cref="GatedStorage"/>.</summary>
public sealed record GatedWrite(GrainId Grain, long Claimed, TaskCompletionSource Released);

/// <summary>A one-silo cluster on fake quota time whose checkpoints go to a <see cref="GatedStorage"/>.</summary>
public sealed class GatedClusterFixture : IAsyncLifetime
{
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 5, 6, 0, 0, TimeSpan.Zero));

    public GatedStorage Storage { get; } = new();

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IQuotaClient Quota { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Cluster = await new QuotaTestCluster
        {
            Time = Time,
            Storage = Storage,
            Settings = new Dictionary<string, string?>
            {
                ["Quota:Secrets:Pepper"] = ClusterFixture.Pepper,
                ["Quota:Scheduler:Enabled"] = "false",
                ["Quota:Decisions:MaxWait"] = "00:10:00",
                ["Quota:Policies:Resources:0:Name"] = "gated:*",
                ["Quota:Policies:Resources:0:Policies:0:Name"] = "daily",
                ["Quota:Policies:Resources:0:Policies:0:Algorithm"] = "calendar",
                ["Quota:Policies:Resources:0:Policies:0:Limit"] = "1000",
                ["Quota:Policies:Resources:0:Policies:0:Period"] = "day",
                ["Quota:Policies:Resources:0:Policies:0:TimeZone"] = "UTC",
                ["Quota:Policies:Resources:0:Policies:1:Name"] = "per-minute",
                ["Quota:Policies:Resources:0:Policies:1:Algorithm"] = "fixed-window",
                ["Quota:Policies:Resources:0:Policies:1:Limit"] = "100",
                ["Quota:Policies:Resources:0:Policies:1:Window"] = "00:01:00",
                ["Quota:Storage:CheckpointCounters"] = "true",
            },
        }.StartAsync();
        Quota = new QuotaClient(Cluster.Client);
    }

    public async ValueTask DisposeAsync()
    {
        // Let whatever is still written at deactivation through.
        Storage.PassThrough = true;
        Storage.Writes.Writer.TryComplete();
        await foreach (var write in Storage.Writes.Reader.ReadAllAsync())
        {
            write.Released.TrySetResult();
        }

        await QuotaTestCluster.StopAsync(Cluster);
    }
}

[CollectionDefinition(Name)]
public sealed class GatedClusterCollection : ICollectionFixture<GatedClusterFixture>
{
    public const string Name = "gated";
}

/// <summary>
/// No permit of a durable counter is answered before a checkpoint covering it is written: requests, head waiters
/// and settlement top-ups past the written ceiling wait for the write, and a later write never lowers the ceiling.
/// </summary>
[Collection(GatedClusterCollection.Name)]
public sealed class CeilingWaitTests(GatedClusterFixture fixture)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private GrainId Grain(string name) => fixture.Cluster.Client.GetGrain<IResourceGrain>(name).GetGrainId();

    /// <summary>The next checkpoint write of <paramref name="name"/>'s grain; other tests' writes are let through.</summary>
    private async Task<GatedWrite> NextWriteAsync(string name)
    {
        var grain = Grain(name);
        while (true)
        {
            var write = await fixture.Storage.Writes.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Patience);
            if (write.Grain == grain)
            {
                return write;
            }

            write.Released.TrySetResult();
        }
    }

    [Fact]
    public async Task Concurrent_requests_are_answered_only_under_a_written_ceiling()
    {
        var name = $"gated:{Guid.NewGuid():N}";
        var calls = Enumerable.Range(0, 40).Select(_ => fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [name], Cost = 2 })).ToList();
        var all = Task.WhenAll(calls);
        var writes = 0;
        while (!all.IsCompleted)
        {
            // Wait for a write without taking it: a read left pending when the calls finish would swallow the next
            // test's first write.
            var ready = fixture.Storage.Writes.Reader.WaitToReadAsync(TestContext.Current.CancellationToken).AsTask();
            if (await Task.WhenAny(ready, all).WaitAsync(Patience) != ready || !fixture.Storage.Writes.Reader.TryRead(out var write))
            {
                continue;
            }

            if (write.Grain != Grain(name))
            {
                write.Released.TrySetResult();
                continue;
            }

            var answered = calls.Where(c => c.IsCompletedSuccessfully && c.Result.Allowed).Sum(_ => 2L);
            var committed = fixture.Storage.Committed.GetValueOrDefault(write.Grain);

            // Every admission answered so far lies under a ceiling already in storage.
            Assert.True(answered <= committed, $"{answered} permits answered, {committed} written");
            Assert.True(write.Claimed >= committed, $"a write of {write.Claimed} would lower the written ceiling {committed}");
            write.Released.SetResult();
            writes++;
        }

        var results = await all;
        Assert.All(results, r => Assert.True(r.Allowed));
        Assert.True(fixture.Storage.Committed[Grain(name)] >= 80);
        Assert.InRange(writes, 1, 40);
    }

    [Fact]
    public async Task Checkpoints_keep_up_when_the_storage_completes_writes_at_once()
    {
        // A pooled database connection can answer a write before the call returns. The subject once kept such a
        // finished run as "a write in flight", so no checkpoint followed the first and every later request waited out
        // the ceiling-wait timeout (5 s each) before going ahead uncovered.
        var name = $"gated:{Guid.NewGuid():N}";
        fixture.Storage.PassThrough = true;
        try
        {
            await SequentiallyAsync().WaitAsync(Patience, TestContext.Current.CancellationToken);
        }
        finally
        {
            fixture.Storage.PassThrough = false;
        }

        // 40 requests of 2, each under a ceiling written before its answer (claims of 1% of 1000 at a time).
        Assert.True(fixture.Storage.Committed[Grain(name)] >= 80, $"ceiling written: {fixture.Storage.Committed[Grain(name)]}");

        async Task SequentiallyAsync()
        {
            for (var i = 0; i < 40; i++)
            {
                var result = await fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [name], Cost = 2 });
                Assert.True(result.Allowed);
                Assert.True(fixture.Storage.Committed[Grain(name)] >= 2L * (i + 1), $"request {i + 1} answered above the written ceiling");
            }
        }
    }

    [Fact]
    public async Task A_head_waiter_past_the_ceiling_is_granted_only_once_its_checkpoint_is_written()
    {
        var name = $"gated:{Guid.NewGuid():N}";
        var first = fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [name], Cost = 100 });
        (await NextWriteAsync(name)).Released.SetResult();
        Assert.True((await first.WaitAsync(Patience)).Allowed);

        // The per-minute window is spent; a waiter for 50 more queues until the next minute.
        var waiter = fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [name], Cost = 50, MaxWaitMs = 120_000 });
        await WaitUntilWaitingAsync(name);
        fixture.Time.Advance(TimeSpan.FromMinutes(1));

        // 150 would pass the written ceiling (110): the waiter waits for a write that claims it.
        var write = await ReleaseUntilAsync(name, w => w.Claimed >= 150, waiter);

        // A round trip to the subject: had it granted the waiter, the daily count would already show it.
        var usage = await fixture.Quota.GetUsageAsync(SubjectKind.Resource, name);
        Assert.Equal(900, usage.Policies.Single(p => p.Policy == "daily").Remaining);
        Assert.False(waiter.IsCompleted);
        write.Released.SetResult();

        Assert.True((await waiter.WaitAsync(Patience)).Allowed);
        Assert.True(fixture.Storage.Committed[Grain(name)] >= 150);
    }

    [Fact]
    public async Task A_settlement_whose_top_up_passes_the_ceiling_answers_once_it_is_written()
    {
        var name = $"gated:{Guid.NewGuid():N}";
        var reserve = fixture.Quota.AcquireAsync(new AcquireRequest { Resources = [name], Cost = 10, Reserve = true });
        (await NextWriteAsync(name)).Released.SetResult();
        var reservation = await reserve.WaitAsync(Patience);
        Assert.True(reservation.Allowed);

        var settle = fixture.Quota.SettleAsync(reservation.LeaseId!, 300);
        var write = await ReleaseUntilAsync(name, w => w.Claimed >= 300, settle);

        // A round trip to the subject after the write began: answers come back in order, so a settlement answered
        // without waiting for the write would have arrived by now.
        await fixture.Quota.GetUsageAsync(SubjectKind.Resource, name);
        Assert.False(settle.IsCompleted);
        write.Released.SetResult();

        Assert.Equal(LeaseOutcome.Done, await settle.WaitAsync(Patience));
    }

    /// <summary>
    /// Releases checkpoint writes until one matches (returned unreleased); <paramref name="answer"/> must not complete
    /// meanwhile, since no write so far covers it.
    /// </summary>
    private async Task<GatedWrite> ReleaseUntilAsync(string name, Func<GatedWrite, bool> match, Task answer)
    {
        while (true)
        {
            var write = await NextWriteAsync(name);
            if (match(write))
            {
                return write;
            }

            Assert.False(answer.IsCompleted, $"answered while the written ceiling was {fixture.Storage.Committed.GetValueOrDefault(write.Grain)}");
            write.Released.SetResult();
        }
    }

    /// <summary>Bounded polling of the subject's own report that a caller waits (a readiness check, not a sleep).</summary>
    private async Task WaitUntilWaitingAsync(string name)
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            if ((await fixture.Quota.GetUsageAsync(SubjectKind.Resource, name)).Waiting == 1)
            {
                return;
            }

            await Task.Delay(5);
        }

        Assert.Fail("the waiter never queued");
    }
}
