using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.Time.Testing;
using Quota.Abstractions;
using Quota.Algorithms.Planning;
using Quota.Client;
using Quota.Integrations.Tests.Infrastructure;

namespace Quota.Integrations.Tests;

/// <summary>One real silo and a client for the batch tests.</summary>
public sealed class BatchCluster : IAsyncLifetime
{
    public QuotaCluster Cluster { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Cluster = await QuotaCluster.StartAsync();

    public ValueTask DisposeAsync() => Cluster.DisposeAsync();
}

/// <summary>
/// <see cref="QuotaBatch"/> against a real silo: work spread over a user's three keys through Quota's decisions, results
/// in input order, no key over its limit; a failing item retried with exact backoff under fake time and dead-lettered;
/// the plan for the 108-events case.
/// </summary>
public sealed class QuotaBatchTests(BatchCluster fixture) : IClassFixture<BatchCluster>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private QuotaCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task A_hundred_requests_over_three_keys_come_back_in_order_with_each_key_within_its_limit()
    {
        var limits = new[] { 40, 35, 30 };
        var options = new QuotaBatchOptions();
        foreach (var lane in await KeysAsync(limits))
        {
            options.Lanes.Add(lane);
        }

        var result = await QuotaBatch.RunAsync(Cluster.Client, Enumerable.Range(0, 100).ToArray(), (item, attempt, _) => Task.FromResult($"{item}@{attempt.Lane}"), options, Ct);

        // One after another, least used first: the keys take turns until key-3 is used up at 30, then key-1 and key-2
        // take turns: 35, 35, 30.
        Assert.Equal(Enumerable.Range(0, 100), result.Items.Select(i => i.Index));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"{i}@{result.Items[i].Lane}"), result.Items.Select(i => i.Value));
        Assert.Equal(["key-1", "key-2", "key-3", "key-1"], result.Items.Take(4).Select(i => i.Lane));
        Assert.Equal(new Dictionary<string, BatchUse> { ["key-1"] = new(35, 35, 0), ["key-2"] = new(35, 35, 0), ["key-3"] = new(30, 30, 0) }, result.PerLane);
        Assert.Equal((100, 1.0, 100), (result.Succeeded, result.SuccessRate, result.TotalAttempts));
        Assert.Empty(result.DeadLetters);
        Assert.Empty(result.PerToken);
    }

    [Fact]
    public async Task Concurrent_items_still_come_back_in_order_and_no_key_goes_over_its_limit()
    {
        var limits = new[] { 40, 35, 30 };
        var options = new QuotaBatchOptions { MaxConcurrency = 8 };
        foreach (var lane in await KeysAsync(limits))
        {
            options.Lanes.Add(lane);
        }

        var result = await QuotaBatch.RunAsync(Cluster.Client, Enumerable.Range(0, 100).ToArray(), async (item, _, ct) =>
        {
            await Task.Yield();
            return item * 2;
        }, options, Ct);

        Assert.Equal(Enumerable.Range(0, 100).Select(i => i * 2), result.Items.Select(i => i.Value));
        Assert.Equal(100, result.PerLane.Values.Sum(u => u.Attempts));
        for (var k = 0; k < limits.Length; k++)
        {
            var used = result.PerLane[$"key-{k + 1}"].Attempts;
            Assert.True(used <= limits[k], $"key-{k + 1} was used {used} times; its limit is {limits[k]}.");
        }
    }

    [Fact]
    public async Task A_failing_item_is_dead_lettered_after_max_attempts_with_exact_backoff_delays_under_fake_time()
    {
        var resource = $"batch-{Guid.NewGuid():N}";
        await Cluster.PutResourceAsync(resource, new { name = "per-hour", algorithm = "fixed-window", limit = 100, window = "01:00:00" });
        var time = new JumpingTime();
        var options = new QuotaBatchOptions
        {
            MaxAttempts = 4,
            BackoffBase = TimeSpan.FromSeconds(1),
            BackoffMax = TimeSpan.FromSeconds(3),
            Time = time,
            Random = new Random(7),
        };
        options.Lanes.Add(new BatchLane("only", new AcquireRequest { Resources = [resource] }));
        var calls = new List<(string Item, int Attempt, DateTimeOffset At)>();

        var result = await QuotaBatch.RunAsync(Cluster.Client, ["ok", "broken"], (item, attempt, _) =>
        {
            calls.Add((item, attempt.Attempt, time.GetUtcNow()));
            return item == "ok" ? Task.FromResult(item.Length) : throw new HttpRequestException("upstream failed", null, HttpStatusCode.BadGateway);
        }, options, Ct);

        // The same seed draws the same jitter: after attempt n the wait is draw × min(3 s, 1 s × 2^(n-1)), in whole ms.
        var draws = new Random(7);
        var expected = Enumerable.Range(1, 3)
            .Select(n => Backoff.Delay(n, options.BackoffBase, options.BackoffMax, draws.NextDouble(), TimeSpan.Zero))
            .Select(d => TimeSpan.FromMilliseconds(Math.Floor(d.TotalMilliseconds)))
            .ToArray();
        var broken = calls.Where(c => c.Item == "broken").ToArray();
        Assert.Equal([1, 2, 3, 4], broken.Select(c => c.Attempt));
        Assert.Equal(expected, broken.Zip(broken.Skip(1), (a, b) => b.At - a.At));
        Assert.Equal(time.Start + expected.Aggregate(TimeSpan.Zero, (a, b) => a + b), broken[^1].At);

        Assert.Equal([true, false], result.Items.Select(i => i.Succeeded));
        Assert.Equal(2, result.Items[0].Value);
        var dead = Assert.Single(result.DeadLetters);
        Assert.Equal((1, 4, "upstream failed"), (dead.Index, dead.Attempts, dead.Error!.Message));
        Assert.Equal((0.5, 5), (result.SuccessRate, result.TotalAttempts));
        Assert.Equal(new BatchUse(5, 1, 4), result.PerLane["only"]);
    }

    [Fact]
    public async Task The_plan_for_108_items_at_20_a_minute_10_seconds_each_misses_3_minutes_and_runs_4_at_once()
    {
        var resource = $"batch-audit-{Guid.NewGuid():N}";
        await Cluster.PutResourceAsync(resource, new { name = "per-minute", algorithm = "fixed-window", limit = 20, window = "00:01:00" });
        var options = new QuotaBatchOptions { MaxConcurrency = 10 };
        options.Lanes.Add(new BatchLane("audit", new AcquireRequest { Resources = [resource] }));

        var plan = await QuotaBatch.PlanAsync(Cluster.Client, 108, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(3), options, Ct);

        Assert.Equal(new WorkPlan(false, TimeSpan.FromSeconds(324), 4, 6, 4, "rate"), plan);
        Assert.Equal(plan, QuotaBatch.Plan(108, 20, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(3), 10));

        // The peek took nothing: all 20 are still there.
        var usage = await Cluster.Client.GetUsageAsync(SubjectKind.Resource, resource, Ct);
        Assert.Equal(20, Assert.Single(usage.Policies).Remaining);
    }

    [Fact]
    public async Task Bad_options_are_refused_naming_every_setting()
    {
        var options = new QuotaBatchOptions { MaxConcurrency = 0, MaxAttempts = 0, BackoffBase = TimeSpan.Zero };

        var error = await Assert.ThrowsAsync<ArgumentException>(() => QuotaBatch.RunAsync(Cluster.Client, new[] { 1 }, (i, _, _) => Task.FromResult(i), options, Ct));

        foreach (var setting in (string[])["Lanes must", "MaxConcurrency must", "MaxAttempts must", "BackoffBase must"])
        {
            Assert.Contains(setting, error.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>A user with a large limit and three keys of their own limits (per hour: no window turns during a test), as lanes.</summary>
    private async Task<BatchLane[]> KeysAsync(int[] limits)
    {
        var user = $"batch-user-{Guid.NewGuid():N}";
        using (var put = await Cluster.Silo.Http.PutAsJsonAsync(new Uri($"/v1/admin/users/{user}", UriKind.Relative), new { policies = new[] { new { name = "per-hour", algorithm = "fixed-window", limit = 1000, window = "01:00:00" } } }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        var lanes = new BatchLane[limits.Length];
        for (var k = 0; k < limits.Length; k++)
        {
            var key = $"qk_batch_{Guid.NewGuid():N}";
            using var post = await Cluster.Silo.Http.PostAsJsonAsync(new Uri($"/v1/admin/users/{user}/keys", UriKind.Relative), new { key, policies = new[] { new { name = "per-hour", algorithm = "fixed-window", limit = limits[k], window = "01:00:00" } } }, Ct);
            Assert.True(post.StatusCode == HttpStatusCode.Created, $"POST key: {post.StatusCode} {await post.Content.ReadAsStringAsync(Ct)}");
            lanes[k] = new BatchLane($"key-{k + 1}", new AcquireRequest { ApiKey = key });
        }

        return lanes;
    }

    /// <summary>A fake clock that moves forward by each timer's due time as the timer is made: a batch's waits pass at once, exactly.</summary>
    private sealed class JumpingTime() : FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = base.CreateTimer(callback, state, dueTime, period);
            if (dueTime > TimeSpan.Zero && dueTime != Timeout.InfiniteTimeSpan)
            {
                // Outside the caller's CreateTimer: the timer is registered, and it fires on the thread pool.
                _ = Task.Run(() => Advance(dueTime));
            }

            return timer;
        }
    }
}
