using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Configuration;
using Quota.Grains.Storage;

namespace Quota.Grains.Subjects;

/// <content>The subject's log messages.</content>
internal sealed partial class SubjectActivation
{
    [LoggerMessage(Level = LogLevel.Information, Message = "{Subject}: {Count} durable counters restored from their checkpoint")]
    private static partial void LogRestored(ILogger logger, string subject, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Subject}: deactivated while its checkpoint could not be written; what it admitted since its last checkpoint may be admitted again after it is reactivated")]
    private static partial void LogCountsAtRisk(ILogger logger, Exception? exception, string subject);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Subject}: checkpoint write failed ({ErrorType}: {Error}); decisions continue from memory and the write is retried")]
    private static partial void LogCheckpointFailed(ILogger logger, string subject, string errorType, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Subject}: a {Priority} caller waits up to {MaxWaitMs} ms")]
    private static partial void LogWaiting(ILogger logger, string subject, Priority priority, long maxWaitMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Subject}: policies changed ({Count} own policies; -1 means back to defaults); usage kept")]
    private static partial void LogPoliciesChanged(ILogger logger, string subject, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Subject}: stored policies are invalid and were ignored in favour of the defaults: {Errors}")]
    private static partial void LogStoredPoliciesInvalid(ILogger logger, string subject, string errors);
}
