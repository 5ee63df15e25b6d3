using Microsoft.Extensions.Logging;

namespace Quota.Grains.Queues;

/// <summary>The queue keeper's log messages.</summary>
internal sealed partial class QueueKeeper
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue {Queue} could not be activated to export its gauges; the next sweep tries again")]
    private static partial void LogWakeFailed(ILogger logger, Exception exception, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The defined queues could not be read from the registry; the sweep runs again in {Seconds} s")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception, double seconds);
}
