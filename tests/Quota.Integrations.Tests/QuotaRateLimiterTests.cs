using System.Threading.RateLimiting;
using Polly;
using Polly.RateLimiting;
using Quota.Abstractions;
using Quota.Client;
using Quota.Integrations.Tests.Infrastructure;
using Quota.RateLimiting;

namespace Quota.Integrations.Tests;

/// <summary>The System.Threading.RateLimiting limiters and the Polly strategy against a real silo through a real Orleans client.</summary>
public sealed class QuotaRateLimiterTests(QuotaClusterFixture fixture) : IClassFixture<QuotaClusterFixture>
{
    private QuotaCluster Cluster => fixture.Cluster;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheSynchronousAttemptNeverCallsTheClusterAndConsumesNothing()
    {
        var user = $"sync-{Guid.NewGuid():N}";
        var counting = new CountingClient(Cluster.Client);
        using var limiter = new QuotaRateLimiter(counting, new AcquireRequest { User = user });

        using var lease = limiter.AttemptAcquire(1);

        Assert.False(lease.IsAcquired);
        Assert.True(lease.TryGetMetadata(MetadataName.ReasonPhrase, out var reason));
        Assert.Equal(QuotaMetadata.SynchronousReason, reason);
        Assert.False(lease.TryGetMetadata(MetadataName.RetryAfter, out _));
        Assert.Equal(0, counting.Acquires);
        Assert.Equal(new RateLimiterStatistics().TotalFailedLeases, limiter.GetStatistics()!.TotalFailedLeases);
        var usage = await Cluster.Client.GetUsageAsync(SubjectKind.User, user, Token);
        Assert.Equal(100, Assert.Single(usage.Policies).Remaining);

        // The asynchronous path is the one that decides.
        using var decided = await limiter.AcquireAsync(1, Token);
        Assert.True(decided.IsAcquired);
        Assert.Equal(1, counting.Acquires);
        Assert.True(decided.TryGetMetadata(QuotaMetadata.Remaining, out var remaining));
        Assert.Equal(99, remaining);
        Assert.True(decided.TryGetMetadata(QuotaMetadata.Limit, out var limit));
        Assert.Equal(100, limit);
    }

    [Fact]
    public async Task StatisticsCountLeasesAndTheLastRemaining()
    {
        var resource = $"stats-{Guid.NewGuid():N}";
        await Cluster.PutResourceAsync(resource, new { name = "per-minute", algorithm = "fixed-window", limit = 2, window = "00:01:00" });
        using var limiter = new QuotaRateLimiter(Cluster.Client, new AcquireRequest { Resources = [resource] });
        var before = limiter.GetStatistics()!;
        Assert.Equal((0, 0, 0, 0), (before.CurrentAvailablePermits, before.CurrentQueuedCount, before.TotalSuccessfulLeases, before.TotalFailedLeases));

        using var first = await limiter.AcquireAsync(1, Token);
        var afterFirst = limiter.GetStatistics()!;
        using var second = await limiter.AcquireAsync(1, Token);
        using var third = await limiter.AcquireAsync(1, Token);
        var after = limiter.GetStatistics()!;

        Assert.Equal((1, 1L), (afterFirst.CurrentAvailablePermits, afterFirst.TotalSuccessfulLeases));
        Assert.Equal((true, true, false), (first.IsAcquired, second.IsAcquired, third.IsAcquired));
        Assert.Equal((0, 0, 2, 1), (after.CurrentAvailablePermits, after.CurrentQueuedCount, after.TotalSuccessfulLeases, after.TotalFailedLeases));
        Assert.True(third.TryGetMetadata(QuotaMetadata.LimitedBy, out var limitedBy));
        Assert.Equal($"resource:{resource}/per-minute", limitedBy);
        Assert.True(third.TryGetMetadata(QuotaMetadata.Decision, out var decision));
        Assert.True(third.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.Equal(TimeSpan.FromMilliseconds(decision!.RetryAfterMs), retryAfter);
        Assert.True(third.TryGetMetadata(MetadataName.ReasonPhrase, out var reason));
        Assert.Equal($"Limited by resource:{resource}/per-minute: retry after {decision.RetryAfterMs} ms.", reason);
    }

    [Fact]
    public async Task PollysRejectionCarriesQuotasRetryAfterExactly()
    {
        var resource = $"polly-{Guid.NewGuid():N}";
        await Cluster.PutResourceAsync(resource, new { name = "per-minute", algorithm = "fixed-window", limit = 1, window = "00:01:00" });
        AcquireResult? refused = null;
        var pipeline = new ResiliencePipelineBuilder()
            .AddQuotaRateLimiter(Cluster.Client, new AcquireRequest { Resources = [resource] }, onRejected: args =>
            {
                refused = args.Lease.TryGetMetadata(QuotaMetadata.Decision, out var decision) ? decision : null;
                return ValueTask.CompletedTask;
            })
            .Build();

        var ran = 0;
        await pipeline.ExecuteAsync(_ => { ran++; return ValueTask.CompletedTask; }, Token);
        var rejection = await Assert.ThrowsAsync<RateLimiterRejectedException>(
            async () => await pipeline.ExecuteAsync(_ => { ran++; return ValueTask.CompletedTask; }, Token));

        Assert.Equal(1, ran);
        Assert.NotNull(refused);
        Assert.Equal(DecisionOutcome.Denied, refused.Outcome);
        Assert.InRange(refused.RetryAfterMs, 1, 60_000);
        Assert.Equal(TimeSpan.FromMilliseconds(refused.RetryAfterMs), rejection.RetryAfter);
    }

    [Fact]
    public async Task AConcurrencyLeaseIsReleasedWhenTheLeaseIsDisposed()
    {
        var resource = $"in-flight-{Guid.NewGuid():N}";
        await Cluster.PutResourceAsync(resource, new { name = "in-flight", algorithm = "concurrency", limit = 1, leaseTtl = "00:10:00" });
        using var limiter = new QuotaRateLimiter(Cluster.Client, new AcquireRequest { Resources = [resource] });

        var held = (QuotaLease)await limiter.AcquireAsync(1, Token);
        Assert.True(held.IsAcquired);
        Assert.True(held.TryGetMetadata(QuotaMetadata.LeaseId, out var leaseId));
        Assert.False(string.IsNullOrEmpty(leaseId));
        using (var whileHeld = await limiter.AcquireAsync(1, Token))
        {
            Assert.False(whileHeld.IsAcquired);
        }

        held.Dispose();
        await held.Released.WaitAsync(TimeSpan.FromSeconds(15), Token);
        held.Dispose();

        var usage = await Cluster.Client.GetUsageAsync(SubjectKind.Resource, resource, Token);
        Assert.Equal(1, Assert.Single(usage.Policies).Remaining);
        using var again = await limiter.AcquireAsync(1, Token);
        Assert.True(again.IsAcquired);
    }

    [Fact]
    public async Task CancellingAQueuedAcquireGivesUpItsPlaceInQuotasQueue()
    {
        // A concurrency permit frees when released, so a waiter stays queued (a window's next capacity, a minute away,
        // would be past the wait, and the subject would refuse at once).
        var resource = $"queue-{Guid.NewGuid():N}";
        await Cluster.PutResourceAsync(resource, new { name = "in-flight", algorithm = "concurrency", limit = 1, leaseTtl = "00:10:00" });
        using var limiter = new QuotaRateLimiter(Cluster.Client, new AcquireRequest { Resources = [resource] },
            new QuotaRateLimiterOptions { MaxWait = TimeSpan.FromSeconds(15), Priority = Priority.High });
        var first = (QuotaLease)await limiter.AcquireAsync(1, Token);
        Assert.True(first.IsAcquired);

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Token);
        var waiting = limiter.AcquireAsync(1, cancel.Token).AsTask();
        var queued = await Cluster.UsageWhenAsync(SubjectKind.Resource, resource, u => u.Waiting == 1);
        Assert.Equal(1, queued.Waiting);
        Assert.False(waiting.IsCompleted);
        Assert.Equal(1, limiter.GetStatistics()!.CurrentQueuedCount);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        var after = await Cluster.UsageWhenAsync(SubjectKind.Resource, resource, u => u.Waiting == 0);
        Assert.Equal(0, after.Waiting);

        // The released permit stays free: the cancelled waiter is not granted it behind the app's back.
        first.Dispose();
        await first.Released.WaitAsync(TimeSpan.FromSeconds(15), Token);
        var released = await Cluster.Client.GetUsageAsync(SubjectKind.Resource, resource, Token);
        Assert.Equal((0, 1L), (released.Waiting, Assert.Single(released.Policies).Remaining));
        var statistics = limiter.GetStatistics()!;
        Assert.Equal((0, 1, 0), (statistics.CurrentQueuedCount, statistics.TotalSuccessfulLeases, statistics.TotalFailedLeases));
    }

    [Fact]
    public async Task APartitionedLimiterDecidesEverySubjectOfAResourceAllOrNothing()
    {
        var user = $"both-{Guid.NewGuid():N}";
        var resource = $"both-{Guid.NewGuid():N}";
        await Cluster.PutResourceAsync(resource, new { name = "per-minute", algorithm = "fixed-window", limit = 1, window = "00:01:00" });
        using var limiter = new QuotaPartitionedRateLimiter<string>(Cluster.Client, u => new AcquireRequest { User = u, Resources = [resource] });

        using var first = await limiter.AcquireAsync(user, 1, Token);
        using var second = await limiter.AcquireAsync(user, 1, Token);

        Assert.Equal((true, false), (first.IsAcquired, second.IsAcquired));
        Assert.True(second.TryGetMetadata(QuotaMetadata.LimitedBy, out var limitedBy));
        Assert.Equal($"resource:{resource}/per-minute", limitedBy);

        // The refusal took nothing from the user: only the first acquire counts against the 100 a minute.
        var usage = await Cluster.Client.GetUsageAsync(SubjectKind.User, user, Token);
        Assert.Equal(99, Assert.Single(usage.Policies).Remaining);
    }

    /// <summary>The real client, counting acquires: shows which paths reach the cluster.</summary>
    private sealed class CountingClient(IQuotaClient inner) : IQuotaClient
    {
        private int _acquires;

        public int Acquires => _acquires;

        public Task<AcquireResult> AcquireAsync(AcquireRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _acquires);
            return inner.AcquireAsync(request, cancellationToken);
        }

        public Task<AcquireResult> AcquireAsync(ValidatedAcquire request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _acquires);
            return inner.AcquireAsync(request, cancellationToken);
        }

        public Task<LeaseOutcome> SettleAsync(string leaseId, long actualCost, CancellationToken cancellationToken = default) => inner.SettleAsync(leaseId, actualCost, cancellationToken);

        public Task<LeaseOutcome> ReleaseAsync(string leaseId, CancellationToken cancellationToken = default) => inner.ReleaseAsync(leaseId, cancellationToken);

        public Task<UsageReport> GetUsageAsync(SubjectKind kind, string id, CancellationToken cancellationToken = default) => inner.GetUsageAsync(kind, id, cancellationToken);

        public Task<TokenHealth?> ReportAsync(string upstream, string token, UpstreamFeedback feedback, CancellationToken cancellationToken = default) => inner.ReportAsync(upstream, token, feedback, cancellationToken);

        public Task<AllocationReport?> GetAllocationAsync(string upstream, CancellationToken cancellationToken = default) => inner.GetAllocationAsync(upstream, cancellationToken);

        public IQuotaQueue Queue(string name) => inner.Queue(name);
    }
}
