using Microsoft.Extensions.Logging;

namespace Quota.Server.Rls;

internal sealed partial class RlsService
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "ShouldRateLimit for domain {Domain} answered UNAVAILABLE: the cluster could not decide ({Failure})")]
    private static partial void LogUnavailable(ILogger logger, string domain, string failure, Exception exception);
}
