using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Quota.Server.Admin;

/// <summary>Who may administer (<c>Quota:Admin</c>).</summary>
public sealed class AdminOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Admin";

    /// <summary>
    /// The bearer token admin requests (and the dashboard) must present. Default: none, and then only callers on
    /// this machine (loopback) may administer. Never logged.
    /// </summary>
    public string? Token { get; set; }
}

/// <summary>
/// Guards the admin API and the dashboard: with a token configured, <c>Authorization: Bearer {token}</c> is required
/// (401 when missing, 403 when wrong); without one, only loopback callers are let through (403 otherwise).
/// </summary>
internal sealed class AdminGate(RequestDelegate next, IOptions<AdminOptions> options)
{
    private readonly byte[]? _token = string.IsNullOrEmpty(options.Value.Token) ? null : Encoding.UTF8.GetBytes(options.Value.Token);

    /// <summary>The cookie a browser holds after signing in to the dashboard with the token.</summary>
    internal const string DashboardCookie = "quota-dashboard";

    public async Task InvokeAsync(HttpContext context)
    {
        var dashboard = context.Request.Path.StartsWithSegments("/dashboard");
        if (dashboard && _token is not null && await SignInAsync(context))
        {
            return;
        }

        // Browsers cannot send a bearer header for the dashboard's pages: after signing in, the cookie carries the
        // token (HttpOnly, SameSite=Strict, scoped to /dashboard). The API accepts only the header.
        var authorization = context.Request.Headers.Authorization.ToString();
        if (dashboard && authorization.Length == 0 && context.Request.Cookies.TryGetValue(DashboardCookie, out var cookie))
        {
            authorization = "Bearer " + cookie;
        }

        var verdict = Decide(_token, authorization, context.Connection.RemoteIpAddress);
        if (verdict is not null && dashboard && _token is not null && context.Request.Method == HttpMethods.Get)
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.ContentType = "text/html; charset=utf-8";
            await context.Response.WriteAsync(SignInPage);
            return;
        }

        if (verdict is null)
        {
            await next(context);
            return;
        }

        if (verdict.Value.Status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"quota-admin\"";
        }

        await Results.Problem(statusCode: verdict.Value.Status, title: verdict.Value.Title, detail: verdict.Value.Detail).ExecuteAsync(context);
    }

    private const string SignInPage = """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>Quota dashboard</title></head>
        <body style="font-family: sans-serif; margin: 4em">
        <h1>Quota dashboard</h1>
        <p>Enter the admin token (Quota:Admin:Token).</p>
        <form method="post" action="/dashboard/sign-in">
        <input type="password" name="token" autofocus size="40"> <button type="submit">Sign in</button>
        </form>
        </body></html>
        """;

    /// <summary>Handles the sign-in form: a right token sets the dashboard cookie; a wrong one is 403.</summary>
    private async Task<bool> SignInAsync(HttpContext context)
    {
        if (context.Request.Path != "/dashboard/sign-in" || !HttpMethods.IsPost(context.Request.Method) || !context.Request.HasFormContentType)
        {
            return false;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var presented = Encoding.UTF8.GetBytes(form["token"].ToString());
        if (!CryptographicOperations.FixedTimeEquals(presented, _token))
        {
            await Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: "The admin token is not valid.").ExecuteAsync(context);
            return true;
        }

        context.Response.Cookies.Append(DashboardCookie, form["token"].ToString(), new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Path = "/dashboard",
            Secure = context.Request.IsHttps,
        });
        context.Response.Redirect("/dashboard/");
        return true;
    }

    /// <summary>
    /// Whether the caller of <paramref name="context"/> would pass the gate by its <c>Authorization</c> header (or,
    /// without a token configured, by being on this machine): for endpoints outside <c>/v1/admin</c> that give
    /// admin-scoped callers more, such as a token's secret with <c>POST /v1/acquire</c>.
    /// </summary>
    internal static bool Admits(HttpContext context, AdminOptions options) =>
        Decide(
            string.IsNullOrEmpty(options.Token) ? null : Encoding.UTF8.GetBytes(options.Token),
            context.Request.Headers.Authorization.ToString(),
            context.Connection.RemoteIpAddress) is null;

    /// <summary>Null to let the request through; otherwise the status and why.</summary>
    internal static (int Status, string Title, string Detail)? Decide(byte[]? token, string authorization, IPAddress? remote)
    {
        if (token is null)
        {
            return remote is not null && IPAddress.IsLoopback(remote)
                ? null
                : (StatusCodes.Status403Forbidden, "Forbidden", "No Quota:Admin:Token is configured, so only callers on this machine may administer; set a token to administer remotely.");
        }

        const string scheme = "Bearer ";
        if (!authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return (StatusCodes.Status401Unauthorized, "Unauthorized", "Send the admin token as 'Authorization: Bearer <token>'.");
        }

        var presented = Encoding.UTF8.GetBytes(authorization[scheme.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(presented, token)
            ? null
            : (StatusCodes.Status403Forbidden, "Forbidden", "The admin token is not valid.");
    }
}
