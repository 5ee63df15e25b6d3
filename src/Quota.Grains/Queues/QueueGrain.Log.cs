using Microsoft.Extensions.Logging;

namespace Quota.Grains.Queues;

/// <summary>The queue grain's log messages.</summary>
public sealed partial class QueueGrain
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "Queue {Queue} handed {Count} items to worker {Worker}")]
    private static partial void LogHandedOut(ILogger logger, string queue, string worker, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Queue {Queue} dead-lettered item {Item} after {Attempts} attempts")]
    private static partial void LogDeadLettered(ILogger logger, string queue, string item, int attempts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue {Queue} could not report an upstream's answer to token {Upstream}/{Token}")]
    private static partial void LogFeedbackFailed(ILogger logger, Exception exception, string queue, string upstream, string token);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue {Queue} left stored item {Item} out: its dispatch no longer renders ({Problems})")]
    private static partial void LogUnrestorable(ILogger logger, string queue, string item, string problems);

    [LoggerMessage(Level = LogLevel.Error, Message = "Queue {Queue} could not store the state of {Count} items; they stay in memory")]
    private static partial void LogSaveFailed(ILogger logger, Exception exception, string queue, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue {Queue} could not refresh its gauges (its dispatch's rate could not be read)")]
    private static partial void LogGaugesFailed(ILogger logger, Exception exception, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue {Queue} could not list itself in the registry; it is listed and kept active after a restart once it is defined again or next activates")]
    private static partial void LogRegisterFailed(ILogger logger, Exception exception, string queue);
}
