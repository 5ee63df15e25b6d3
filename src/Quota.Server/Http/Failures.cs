using System.Data.Common;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Quota.Server.Http;

/// <summary>
/// What a caller hears when a request fails inside the silo: a problem document, never a stack trace or a
/// connection string. A database that cannot be reached while a subject is activated (it reads its stored
/// configuration first) is a <c>503</c> with <c>Retry-After</c>; a cluster that does not answer in time is a
/// <c>503</c>; a request the client framed wrongly or sent too slowly is Kestrel's <c>400</c>/<c>408</c> (logged at
/// Debug); a client that went away gets no answer; anything else is a <c>500</c> whose details stay in the silo's log.
/// </summary>
internal static partial class Failures
{
    /// <summary>Maps unhandled exceptions to problem details.</summary>
    public static WebApplication UseQuotaFailures(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions { ExceptionHandler = HandleAsync, SuppressDiagnosticsCallback = _ => true });
        return app;
    }

    private static async Task HandleAsync(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Quota.Http");

        // The client's mistakes and departures are not the silo's failures: a body framed wrongly or sent too slowly
        // is answered with Kestrel's status as a problem, and a client that went away is not answered at all.
        // Either is logged at Debug, without a stack trace, since a client can cause as many as it likes.
        if (error is BadHttpRequestException bad)
        {
            LogBadRequest(logger, context.Request.Method, context.Request.Path, bad.StatusCode, bad.Message);
            if (!context.RequestAborted.IsCancellationRequested)
            {
                await HttpJson.Framing(bad).ExecuteAsync(context);
            }

            return;
        }

        if (context.RequestAborted.IsCancellationRequested && error is OperationCanceledException or IOException)
        {
            LogAborted(logger, context.Request.Method, context.Request.Path, error.GetType().Name);
            return;
        }

        var (status, title, detail) = Classify(error);
        var type = title is FailoverTitle or CancelledTitle ? SubjectMoving : null;
        LogFailed(logger, context.Request.Method, context.Request.Path, status, error?.GetType().Name ?? "unknown", error);
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            context.Response.Headers.RetryAfter = "1";
        }

        await Results.Problem(statusCode: status, title: title, detail: detail, type: type).ExecuteAsync(context);
    }

    /// <summary>
    /// The problem type of a <c>503</c> for a subject whose silo died, refused the call or is stopping: the subject is
    /// moving to another silo, and a retry after <c>Retry-After</c> reaches it there. A tag URI (RFC 9457 section 4):
    /// a name, not a page.
    /// </summary>
    public const string SubjectMoving = "tag:quota,2026:problem:subject-moving";

    private const string FailoverTitle = "The cluster did not answer in time";
    private const string CancelledTitle = "The cluster gave the request up";

    /// <summary>The status, title and detail a failure is answered with (the client's own departures are handled before).</summary>
    internal static (int Status, string Title, string Detail) Classify(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is DbException or Orleans.Storage.InconsistentStateException || e.GetType().Namespace?.StartsWith("Npgsql", StringComparison.Ordinal) == true)
            {
                return (StatusCodes.Status503ServiceUnavailable, "Storage unavailable",
                    "A subject named in the request could not read its stored configuration: the database is unreachable. "
                    + "Subjects already active keep deciding from memory; retry this one shortly.");
            }

            if (e is Quota.Client.QuotaUnavailableException or TimeoutException or Orleans.Runtime.SiloUnavailableException or Orleans.Runtime.OrleansMessageRejectionException)
            {
                // A grain's silo died or stopped answering: failover, which a retry after it is declared dead survives.
                return (StatusCodes.Status503ServiceUnavailable, FailoverTitle,
                    "A grain did not answer in time, or its silo died or refused the call (a silo may be failing over); retry shortly.");
            }

            if (e is OperationCanceledException)
            {
                // The caller is still there (its departures are answered before this): what was cancelled is the call
                // inside the cluster, e.g. a wait in the queue of a subject whose silo is stopping. A retry reaches the
                // subject's next activation.
                return (StatusCodes.Status503ServiceUnavailable, CancelledTitle,
                    "A call inside the cluster was cancelled before it was decided (a silo may be stopping or failing over); retry shortly.");
            }
        }

        return (StatusCodes.Status500InternalServerError, "Internal error", "The request failed inside the silo; its log has the details.");
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} {Path} refused with {Status}: the client sent a malformed or slow request ({Reason})")]
    private static partial void LogBadRequest(ILogger logger, string method, string path, int status, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} {Path} not answered: the client went away ({ErrorType})")]
    private static partial void LogAborted(ILogger logger, string method, string path, string errorType);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed with {Status} ({ErrorType})")]
    private static partial void LogFailed(ILogger logger, string method, string path, int status, string errorType, Exception? error);
}
