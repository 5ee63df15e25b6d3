using Microsoft.Extensions.Logging;

namespace Quota.Client;

// The queue worker's log messages.
public sealed partial class QuotaWorker<THandler>
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue {Queue} is not defined; the worker checks again later")]
    private static partial void LogUnknownQueue(ILogger logger, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue {Queue}: the cluster cannot answer now; the worker retries")]
    private static partial void LogUnavailable(ILogger logger, Exception exception, string queue);

    [LoggerMessage(Level = LogLevel.Information, Message = "Queue {Queue}: item {Item} was abandoned (stopping or past its visibility); it will be handed out again")]
    private static partial void LogAbandoned(ILogger logger, string queue, string item);

    [LoggerMessage(Level = LogLevel.Error, Message = "Queue {Queue}: item {Item} failed and could not be nacked; it returns after its visibility timeout")]
    private static partial void LogNackFailed(ILogger logger, Exception exception, string queue, string item);
}
