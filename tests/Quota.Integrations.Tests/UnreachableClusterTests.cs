using System.Diagnostics.Metrics;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.AspNetCore;
using Quota.Integrations.Tests.Infrastructure;
using Quota.RateLimiting;

namespace Quota.Integrations.Tests;

/// <summary>Fail open and fail closed when the cluster cannot be reached (its only silo killed), counted; and the options' checks.</summary>
public sealed class UnreachableClusterTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnUnreachableClusterIsAnsweredOpenOrClosedAsConfiguredAndCounted()
    {
        await using var cluster = await QuotaCluster.StartAsync();
        var suffix = Guid.NewGuid().ToString("N");
        var request = new AcquireRequest { User = $"dark-{suffix}" };
        using var open = new QuotaRateLimiter(cluster.Client, request, new QuotaRateLimiterOptions { Name = $"open-{suffix}", DecisionTimeout = TimeSpan.FromSeconds(5) });
        using var closed = new QuotaRateLimiter(cluster.Client, request,
            new QuotaRateLimiterOptions { Name = $"closed-{suffix}", WhenUnreachable = UnreachableMode.FailClosed, DecisionTimeout = TimeSpan.FromSeconds(5), UnreachableRetryAfter = TimeSpan.FromSeconds(3) });
        using (var reachable = await open.AcquireAsync(1, Token))
        {
            Assert.True(reachable.IsAcquired);
            Assert.False(reachable.TryGetMetadata(QuotaMetadata.Unreachable, out _));
        }

        var counted = new List<(string Limiter, string Outcome, long Value)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == QuotaRateLimitingInstruments.MeterName && instrument.Name == "quota.ratelimiting.unreachable")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? limiter = null, outcome = null;
            foreach (var tag in tags)
            {
                limiter = tag.Key == QuotaRateLimitingInstruments.LimiterTag ? tag.Value as string : limiter;
                outcome = tag.Key == QuotaRateLimitingInstruments.OutcomeTag ? tag.Value as string : outcome;
            }

            if (limiter?.EndsWith(suffix, StringComparison.Ordinal) == true)
            {
                lock (counted)
                {
                    counted.Add((limiter, outcome!, value));
                }
            }
        });
        listener.Start();

        await cluster.Silo.KillAsync();
        using var admitted = await open.AcquireAsync(1, Token);
        using var refused = await closed.AcquireAsync(1, Token);

        Assert.True(admitted.IsAcquired);
        Assert.True(admitted.TryGetMetadata(QuotaMetadata.Unreachable, out var openUnreachable) && openUnreachable);
        Assert.False(refused.IsAcquired);
        Assert.True(refused.TryGetMetadata(QuotaMetadata.Unreachable, out var closedUnreachable) && closedUnreachable);
        Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(3), retryAfter);
        Assert.True(refused.TryGetMetadata(MetadataName.ReasonPhrase, out var reason));
        Assert.Equal("The Quota cluster could not be reached in time; this limiter fails closed.", reason);
        lock (counted)
        {
            Assert.Equal([($"open-{suffix}", "admitted", 1L), ($"closed-{suffix}", "rejected", 1L)], counted);
        }

        var statistics = (open.GetStatistics()!, closed.GetStatistics()!);
        Assert.Equal((2L, 0L), (statistics.Item1.TotalSuccessfulLeases, statistics.Item1.TotalFailedLeases));
        Assert.Equal((0L, 1L), (statistics.Item2.TotalSuccessfulLeases, statistics.Item2.TotalFailedLeases));
    }

    [Fact]
    public void InvalidOptionsAreRefusedWithEveryProblemAtOnce()
    {
        var options = new QuotaRateLimiterOptions { Name = " ", DecisionTimeout = TimeSpan.Zero, MaxWait = TimeSpan.FromSeconds(-1), UnreachableRetryAfter = TimeSpan.Zero, WhenUnreachable = (UnreachableMode)7 };

        Assert.Equal(
            [
                "Name must name the limiter for its metrics, e.g. per-user.",
                "WhenUnreachable must be FailOpen or FailClosed (got 7).",
                "DecisionTimeout must be positive, e.g. 00:00:02 (got 00:00:00).",
                "MaxWait must be zero (answer at once) or a positive wait such as 00:00:05 (got -00:00:01).",
                "UnreachableRetryAfter must be positive, e.g. 00:00:01 (got 00:00:00).",
            ],
            options.Problems());
        var error = Assert.Throws<ArgumentException>(() => new QuotaRateLimiter(new UnusedClient(), new AcquireRequest { User = "u" }, options));
        Assert.StartsWith("The Quota rate limiter's options (Quota:RateLimiting) are invalid: Name must name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheRateLimitingSectionIsBoundAndCheckedAtStart()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Quota:RateLimiting:WhenUnreachable"] = "FailClosed",
            ["Quota:RateLimiting:MaxWait"] = "-00:00:01",
            ["Quota:RateLimiting:DecisionTimeout"] = "00:00:00",
        });
        builder.AddQuotaRateLimiting();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Token));
        Assert.Equal(
            [
                "Quota:RateLimiting:DecisionTimeout must be positive, e.g. 00:00:02 (got 00:00:00).",
                "Quota:RateLimiting:MaxWait must be zero (answer at once) or a positive wait such as 00:00:05 (got -00:00:01).",
            ],
            error.Failures);

        var good = Host.CreateApplicationBuilder();
        good.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Quota:RateLimiting:WhenUnreachable"] = "FailClosed", ["Quota:RateLimiting:MaxWait"] = "00:00:05" });
        good.AddQuotaRateLimiting();
        using var goodHost = good.Build();
        var bound = goodHost.Services.GetRequiredService<IOptions<QuotaRateLimiterOptions>>().Value;
        Assert.Equal((UnreachableMode.FailClosed, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2)), (bound.WhenUnreachable, bound.MaxWait, bound.DecisionTimeout));
    }

    /// <summary>A client the refused constructor never reaches.</summary>
    private sealed class UnusedClient : Quota.Client.IQuotaClient
    {
        public Task<AcquireResult> AcquireAsync(AcquireRequest request, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<AcquireResult> AcquireAsync(ValidatedAcquire request, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<LeaseOutcome> SettleAsync(string leaseId, long actualCost, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<LeaseOutcome> ReleaseAsync(string leaseId, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<UsageReport> GetUsageAsync(SubjectKind kind, string id, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<TokenHealth?> ReportAsync(string upstream, string token, UpstreamFeedback feedback, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<AllocationReport?> GetAllocationAsync(string upstream, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Quota.Client.IQuotaQueue Queue(string name) => throw new NotSupportedException();
    }
}
