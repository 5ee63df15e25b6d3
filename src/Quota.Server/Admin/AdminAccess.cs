using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quota.Grains;

namespace Quota.Server.Admin;

/// <summary>A refusal by the admin rule: the status, the problem's title and detail, and for 429 how long to wait.</summary>
internal readonly record struct AdminVerdict(int Status, string Title, string Detail, bool WrongToken = false, TimeSpan? RetryAfter = null)
{
    /// <summary>Writes the verdict as a problem (with <c>WWW-Authenticate</c> for 401, <c>Retry-After</c> for 429).</summary>
    public Task ExecuteAsync(HttpContext context) => ToResult(context).ExecuteAsync(context);

    /// <summary>The verdict as a problem result; sets <c>WWW-Authenticate</c> (401) or <c>Retry-After</c> (429) on the response.</summary>
    public IResult ToResult(HttpContext context)
    {
        if (Status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"quota-admin\"";
        }

        if (RetryAfter is { } wait)
        {
            var seconds = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds));
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }

        return Results.Problem(
            statusCode: Status,
            title: Title,
            detail: Detail,
            type: Status == StatusCodes.Status429TooManyRequests ? "https://www.rfc-editor.org/rfc/rfc6585#section-4" : null,
            extensions: new Dictionary<string, object?> { ["field"] = "Authorization" });
    }
}

/// <summary>
/// Who may administer, decided once for the admin gate, the dashboard's sign-in and secret-returning decisions: the
/// rule in force (<see cref="AdminOptions.Rule"/>), the per-source throttle of failed credentials, and the count.
/// </summary>
internal sealed partial class AdminAccess(IOptions<AdminOptions> options, AdminThrottle throttle, QuotaInstruments instruments, ILogger<AdminAccess> logger)
{
    private readonly byte[]? _token = string.IsNullOrEmpty(options.Value.Token) ? null : Encoding.UTF8.GetBytes(options.Value.Token);
    private readonly AdminRule _rule = options.Value.Rule;

    /// <summary>The rule in force.</summary>
    public AdminRule Rule => _rule;

    /// <summary>
    /// Null when the caller may administer by its <c>Authorization</c> header (or by the loopback rule); otherwise the
    /// refusal. A source locked out by the throttle is refused 429 before its token is compared; a wrong token counts.
    /// </summary>
    public AdminVerdict? Check(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var remote = context.Connection.RemoteIpAddress;
        if (Throttled(remote) is { } throttled)
        {
            return throttled;
        }

        var verdict = Decide(_rule, _token, context.Request.Headers.Authorization.ToString(), remote, context.Request.Host);
        if (verdict is { WrongToken: true })
        {
            Failed(remote);
        }

        return verdict;
    }

    /// <summary>The 429 for a source locked out now, or null. Only the token rule compares credentials, so only it throttles.</summary>
    public AdminVerdict? Throttled(IPAddress? remote)
    {
        if (_rule != AdminRule.Token || throttle.LockedOut(remote) is not { } left)
        {
            return null;
        }

        instruments.Refused("throttled");
        return new AdminVerdict(
            StatusCodes.Status429TooManyRequests,
            "Too many failed admin attempts",
            $"Admin credentials failed {options.Value.MaxFailures} times from this address within {options.Value.FailureWindow}; "
            + "admin requests from it are refused until Retry-After has passed. Check the token (Quota:Admin:Token) before trying again.",
            RetryAfter: left);
    }

    /// <summary>Whether <paramref name="presented"/> is the token; a wrong one counts against <paramref name="remote"/>.</summary>
    public bool SignIn(string presented, IPAddress? remote)
    {
        if (_token is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), _token))
        {
            return true;
        }

        Failed(remote);
        return false;
    }

    private void Failed(IPAddress? remote)
    {
        instruments.Refused("wrong-token");
        if (throttle.Failed(remote))
        {
            LogLockedOut(logger, AdminThrottle.Source(remote).ToString(), options.Value.MaxFailures, options.Value.FailureWindow);
        }
    }

    /// <summary>Null to let the request through; otherwise the refusal. Pure: no throttle, no counting.</summary>
    internal static AdminVerdict? Decide(AdminRule rule, byte[]? token, string authorization, IPAddress? remote, HostString host)
    {
        switch (rule)
        {
            case AdminRule.Nobody:
                return new(StatusCodes.Status403Forbidden, "Forbidden",
                    "Nobody may administer this silo: no Quota:Admin:Token is configured and Quota:Admin:AllowLoopback is false. Set a token to administer.");
            case AdminRule.Loopback when remote is null || !IPAddress.IsLoopback(remote):
                return new(StatusCodes.Status403Forbidden, "Forbidden",
                    "No Quota:Admin:Token is configured, so only callers on this machine may administer; set a token to administer remotely.");
            case AdminRule.Loopback when !IsLoopbackHost(host):
                // A page whose name was rebound to 127.0.0.1 (DNS rebinding) reaches us from loopback under its own name.
                return new(StatusCodes.Status403Forbidden, "Forbidden",
                    "No Quota:Admin:Token is configured, so only callers on this machine may administer, and they must address it as localhost or a loopback address (the Host header); set a token to administer under another name.");
            case AdminRule.Loopback:
                return null;
        }

        const string scheme = "Bearer ";
        if (!authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return new(StatusCodes.Status401Unauthorized, "Unauthorized", "Send the admin token as 'Authorization: Bearer <token>'.");
        }

        var presented = Encoding.UTF8.GetBytes(authorization[scheme.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(presented, token)
            ? null
            : new(StatusCodes.Status403Forbidden, "Forbidden", "The admin token is not valid.", WrongToken: true);
    }

    /// <summary>Whether a Host header names this machine: <c>localhost</c> or a loopback address (or is absent, as in HTTP/1.0).</summary>
    internal static bool IsLoopbackHost(HostString host)
    {
        if (!host.HasValue)
        {
            return true;
        }

        var name = host.Host.TrimStart('[').TrimEnd(']');
        return string.Equals(name, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(name, out var address) && IPAddress.IsLoopback(address));
    }
}
