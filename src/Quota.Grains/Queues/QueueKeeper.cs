using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Quota.Abstractions;

namespace Quota.Grains.Queues;

/// <summary>
/// Keeps every defined queue (<see cref="IRegistryGrain.ListQueuesAsync"/>) active somewhere in the cluster. A queue's
/// gauges (<c>quota_queue_*</c>) are exported only by the silo it is active on; without this, after a restart a queue
/// with items waiting would export nothing until someone touched it, and an autoscaler reading
/// <c>quota_queue_desired_workers</c> would scale its workers to zero while work waits.
/// </summary>
/// <remarks>
/// Every silo sweeps when it becomes active, whenever a silo leaves the cluster (its queues are gone with it), and every
/// <see cref="Interval"/> (a sweep that raced the directory's cleanup of a dead silo, or a registry that could not
/// answer). A sweep asks each defined queue for its definition: an inactive queue activates (loading its rows in the
/// PostgreSQL mode) and, never collected for idleness, stays; an active one answers from memory. The sweep does not
/// hold up the silo's start, and a failure is logged and retried at the next one.
/// </remarks>
internal sealed partial class QueueKeeper(IGrainFactory grains, IClusterMembershipService membership, ILogger<QueueKeeper> logger)
    : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    /// <summary>How often a silo sweeps even when no silo left. Default: 30 seconds.</summary>
    internal static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    // Names read from the registry per call, and queues woken at once: bounds one sweep's memory and burst.
    private const int PageSize = 500;
    private const int Parallelism = 8;

    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private Task _running = Task.CompletedTask;

    /// <inheritdoc />
    public void Participate(ISiloLifecycle lifecycle)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        lifecycle.Subscribe(nameof(QueueKeeper), ServiceLifecycleStage.Active, _ =>
        {
            _running = Task.WhenAll(RunAsync(_stop.Token), WatchMembershipAsync(_stop.Token));
            return Task.CompletedTask;
        }, async _ =>
        {
            await _stop.CancelAsync();
            await _running.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        });
    }

    /// <inheritdoc />
    public void Dispose() => _stop.Dispose();

    private async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            await SweepAsync(stop);
            using var tick = CancellationTokenSource.CreateLinkedTokenSource(stop);
            await Task.WhenAny(Task.Delay(Interval, TimeProvider.System, tick.Token), _wake.Reader.WaitToReadAsync(tick.Token).AsTask());
            await tick.CancelAsync();
            _wake.Reader.TryRead(out _);
        }
    }

    /// <summary>Wakes the sweep when a silo that was active is no longer: its queues must activate elsewhere.</summary>
    private async Task WatchMembershipAsync(CancellationToken stop)
    {
        try
        {
            var active = new HashSet<SiloAddress>();
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stop))
            {
                var now = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToHashSet();
                if (active.Any(silo => !now.Contains(silo)))
                {
                    _wake.Writer.TryWrite(true);
                }

                active = now;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The silo is stopping.
        }
    }

    private async Task SweepAsync(CancellationToken stop)
    {
        try
        {
            var registry = grains.GetGrain<IRegistryGrain>(0);
            string? after = null;
            while (true)
            {
                var names = await registry.ListQueuesAsync(after, PageSize);
                await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = stop }, async (name, _) =>
                {
                    try
                    {
                        await grains.GetGrain<IQueueGrain>(name).GetDefinitionAsync();
                    }
                    catch (Exception e) when (!stop.IsCancellationRequested)
                    {
                        LogWakeFailed(logger, e, name);
                    }
                });
                if (names.Length < PageSize)
                {
                    return;
                }

                after = names[^1];
            }
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            LogSweepFailed(logger, e, Interval.TotalSeconds);
        }
        catch (OperationCanceledException)
        {
            // The silo is stopping.
        }
    }
}
