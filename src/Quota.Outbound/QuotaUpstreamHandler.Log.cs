using Microsoft.Extensions.Logging;
using Quota.Abstractions;

namespace Quota.Outbound;

// Token ids, upstream and tenant names only: a secret is never a parameter here.
public sealed partial class QuotaUpstreamHandler
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "Quota chose token {Token} of upstream {Upstream} for tenant {Tenant}.")]
    private static partial void LogAcquired(ILogger logger, string upstream, string? tenant, string token);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Quota did not admit a request to upstream {Upstream} for tenant {Tenant}: {Outcome}, limited by {LimitedBy}, retry after {RetryAfterMs} ms; it was not sent.")]
    private static partial void LogDenied(ILogger logger, string upstream, string? tenant, DecisionOutcome outcome, string? limitedBy, long retryAfterMs);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Reported status {Status} (Retry-After {RetryAfterMs} ms) on token {Token} of upstream {Upstream}; its circuit is {Circuit}.")]
    private static partial void LogReported(ILogger logger, string upstream, string token, int status, long? retryAfterMs, string circuit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Token {Token} of upstream {Upstream} is no longer configured; its status {Status} was not recorded.")]
    private static partial void LogTokenGone(ILogger logger, string upstream, string token, int status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not report status {Status} on token {Token} of upstream {Upstream} to Quota; the response is returned anyway, and the token's circuit breaker and limit did not learn of it.")]
    private static partial void LogReportFailed(ILogger logger, Exception error, string upstream, string token, int status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not release the concurrency permit held on token {Token} of upstream {Upstream}; it is freed when its lease expires.")]
    private static partial void LogReleaseFailed(ILogger logger, Exception error, string upstream, string token);
}
