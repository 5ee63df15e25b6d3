using Microsoft.Extensions.Http.Logging;
using Microsoft.Extensions.Logging;

namespace Quota.Outbound;

/// <summary>
/// Logs each attempt of a client that calls an upstream through Quota, in place of IHttpClientFactory's default
/// loggers: the method, the URL without its query (<c>?*</c>), the status and the time taken; never a header. The
/// default loggers redact header values in the text they write but, at Trace level, hand every header's raw value to
/// structured sinks as a log property (measured: <c>Authorization=Bearer …</c>), and a query parameter carries the
/// secret in the URL.
/// </summary>
internal sealed partial class QuotaUpstreamHttpLogger(ILogger logger) : IHttpClientLogger
{
    public object? LogRequestStart(HttpRequestMessage request)
    {
        LogSending(logger, request.Method.Method, Redacted(request.RequestUri));
        return null;
    }

    public void LogRequestStop(object? context, HttpRequestMessage request, HttpResponseMessage response, TimeSpan elapsed) =>
        LogReceived(logger, request.Method.Method, Redacted(request.RequestUri), (int)response.StatusCode, elapsed.TotalMilliseconds);

    public void LogRequestFailed(object? context, HttpRequestMessage request, HttpResponseMessage? response, Exception exception, TimeSpan elapsed) =>
        LogFailed(logger, exception, request.Method.Method, Redacted(request.RequestUri), elapsed.TotalMilliseconds);

    /// <summary>The URL up to its path, with <c>?*</c> standing for a query.</summary>
    internal static string Redacted(Uri? uri) => uri switch
    {
        null => "(no URL)",
        { IsAbsoluteUri: false } => uri.OriginalString.Split('?', 2) is [var path, _] ? path + "?*" : uri.OriginalString,
        _ => uri.GetLeftPart(UriPartial.Path) + (uri.Query.Length > 1 ? "?*" : ""),
    };

    [LoggerMessage(Level = LogLevel.Debug, Message = "Sending {Method} {Url}")]
    private static partial void LogSending(ILogger logger, string method, string url);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} {Url} answered {Status} after {ElapsedMs:0.0} ms")]
    private static partial void LogReceived(ILogger logger, string method, string url, int status, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} {Url} failed after {ElapsedMs:0.0} ms")]
    private static partial void LogFailed(ILogger logger, Exception error, string method, string url, double elapsedMs);
}
