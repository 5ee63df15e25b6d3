using Microsoft.Extensions.Logging;
using Quota.Abstractions;

namespace Quota.Grains.Scheduling;

/// <summary>
/// Wakes the scheduler when a silo becomes active, so a fresh cluster (or the embedded default, whose reminders live
/// in memory) gets its reminder and timer without anyone asking. Every silo does it; starting is idempotent. It does
/// not hold up the silo's start.
/// </summary>
internal sealed partial class SchedulerStarter(IGrainFactory grains, ILogger<SchedulerStarter> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SchedulerStarter), ServiceLifecycleStage.Active, cancellation =>
        {
            // Also when switched off: starting then removes a reminder stored while it was on.
            _ = StartAsync();
            return Task.CompletedTask;
        });

    private async Task StartAsync()
    {
        try
        {
            await grains.GetGrain<ISchedulerClusterGrain>(0).StartAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogStartFailed(logger, e.GetType().Name, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The scheduler could not be started ({ErrorType}); it runs when asked, or when a silo next starts.")]
    private static partial void LogStartFailed(ILogger logger, string errorType, Exception error);
}
