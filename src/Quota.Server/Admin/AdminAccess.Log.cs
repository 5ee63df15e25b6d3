using Microsoft.Extensions.Logging;

namespace Quota.Server.Admin;

internal sealed partial class AdminAccess
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Admin credentials failed {MaxFailures} times from {Source} within {Window}: admin requests from it are refused with 429 until the window ends.")]
    private static partial void LogLockedOut(ILogger logger, string source, int maxFailures, TimeSpan window);
}
