using Microsoft.Extensions.Logging;
using Quota.Abstractions;

namespace Quota.RateLimiting;

internal sealed partial class QuotaDecisions
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Limiter {Limiter}: the Quota cluster could not be reached in time; the request was {Answer}.")]
    private static partial void LogUnreachable(ILogger logger, Exception exception, string limiter, string answer);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Limiter {Limiter}: releasing a concurrency lease failed; it is held until its TTL expires.")]
    private static partial void LogReleaseFailed(ILogger logger, Exception exception, string limiter);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "Limiter {Limiter}: the cluster answered {Outcome} to a lease's release (already released or expired).")]
    private static partial void LogReleaseNotDone(ILogger logger, string limiter, LeaseOutcome outcome);
}
