using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;

namespace Quota.Server.Admin;

/// <summary>
/// Guards the admin API and the dashboard by the rule in force (<see cref="AdminRule"/>): with a token,
/// <c>Authorization: Bearer {token}</c> is required (401 when missing, 403 when wrong, 429 once a source has failed too
/// often); without one, loopback callers addressing the silo by a loopback name (403 otherwise), or nobody. The
/// dashboard and the console (<c>/console</c>, the same rule, sessions and cookie, scoped to its own path) also take the
/// session cookie their sign-in sets, and every answer under them forbids sniffing and framing.
/// </summary>
internal sealed class AdminGate(RequestDelegate next, AdminAccess access, DashboardSessions sessions)
{
    /// <summary>The cookie a browser holds after signing in to the dashboard: a session, never the token.</summary>
    internal const string DashboardCookie = "quota-dashboard";

    /// <summary>The browser areas behind the gate: each takes a session cookie scoped to its own path.</summary>
    internal static readonly string[] BrowserAreas = ["/dashboard", "/console"];

    /// <summary>The browser area <paramref name="path"/> is under (<c>/dashboard</c> or <c>/console</c>); null for the API.</summary>
    internal static string? BrowserArea(PathString path) => Array.Find(BrowserAreas, area => path.StartsWithSegments(area));

    public async Task InvokeAsync(HttpContext context)
    {
        var area = BrowserArea(context.Request.Path);
        var dashboard = area is not null;
        if (dashboard)
        {
            ForbidFraming(context.Response);

            // Signing in and out are their own endpoints: they are how a browser without a session gets one.
            if (context.Request.Path.Equals(area + "/sign-in", StringComparison.OrdinalIgnoreCase) || context.Request.Path.Equals(area + "/sign-out", StringComparison.OrdinalIgnoreCase))
            {
                await next(context);
                return;
            }
        }

        // Browsers cannot send a bearer header for the dashboard's pages: after signing in, the cookie carries a
        // session (HttpOnly, SameSite=Strict, scoped to /dashboard). The API accepts only the header.
        AdminVerdict? verdict;
        if (dashboard && access.Rule == AdminRule.Token && context.Request.Headers.Authorization.Count == 0
            && context.Request.Cookies.TryGetValue(DashboardCookie, out var cookie))
        {
            verdict = sessions.IsValid(cookie)
                ? null
                : new AdminVerdict(StatusCodes.Status401Unauthorized, "Unauthorized", "The dashboard session has ended or is not valid; sign in again.");
        }
        else
        {
            verdict = access.Check(context);
        }

        if (verdict is null)
        {
            await next(context);
            return;
        }

        if (dashboard && access.Rule == AdminRule.Token && HttpMethods.IsGet(context.Request.Method) && verdict.Value.Status != StatusCodes.Status429TooManyRequests)
        {
            await WriteSignInPageAsync(context, area!);
            return;
        }

        await verdict.Value.ExecuteAsync(context);
    }

    /// <summary>Maps <c>POST {area}/sign-in</c> (a form with the token) and <c>POST {area}/sign-out</c> for the dashboard and the console.</summary>
    internal static void MapDashboardSessions(IEndpointRouteBuilder app)
    {
        foreach (var area in BrowserAreas)
        {
            app.MapPost(area + "/sign-in", (HttpContext context, AdminAccess access, DashboardSessions sessions) => SignInAsync(context, access, sessions, area)).WithMetadata(new FormOnly());
            app.MapPost(area + "/sign-out", (HttpContext context, DashboardSessions sessions) => SignOut(context, sessions, area)).WithMetadata(new FormOnly());
        }
    }

    /// <summary>A right token starts a session and redirects to the dashboard; a wrong one is 403 and counts as a failure.</summary>
    private static async Task<IResult> SignInAsync(HttpContext context, AdminAccess access, DashboardSessions sessions, string area)
    {
        if (access.Rule != AdminRule.Token)
        {
            return Results.Problem(
                statusCode: StatusCodes.Status404NotFound,
                title: "No sign-in",
                detail: access.Rule == AdminRule.Loopback
                    ? "No Quota:Admin:Token is configured: the dashboard needs no sign-in from this machine."
                    : "No Quota:Admin:Token is configured and Quota:Admin:AllowLoopback is false: nobody may use the dashboard.",
                extensions: new Dictionary<string, object?> { ["field"] = "token" });
        }

        if (access.Throttled(context.Connection.RemoteIpAddress) is { } throttled)
        {
            return throttled.ToResult(context);
        }

        IFormCollection form;
        try
        {
            form = context.Request.HasFormContentType ? await context.Request.ReadFormAsync(context.RequestAborted) : FormCollection.Empty;
        }
        catch (InvalidDataException)
        {
            form = FormCollection.Empty;
        }

        if (!access.SignIn(form["token"].ToString(), context.Connection.RemoteIpAddress))
        {
            return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: "The admin token is not valid.",
                extensions: new Dictionary<string, object?> { ["field"] = "token" });
        }

        context.Response.Cookies.Append(DashboardCookie, sessions.Issue(), CookieOptions(context, sessions.Lifetime, area));
        return Results.Redirect(area + "/");
    }

    /// <summary>Ends the session the cookie names (on this silo) and clears the cookie, then back to the sign-in page.</summary>
    private static IResult SignOut(HttpContext context, DashboardSessions sessions, string area)
    {
        if (context.Request.Cookies.TryGetValue(DashboardCookie, out var cookie))
        {
            sessions.Revoke(cookie);
        }

        context.Response.Cookies.Delete(DashboardCookie, CookieOptions(context, null, area));
        return Results.Redirect(area + "/");
    }

    private static CookieOptions CookieOptions(HttpContext context, TimeSpan? lifetime, string area) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Path = area,
        Secure = context.Request.IsHttps,
        MaxAge = lifetime,
    };

    private static void ForbidFraming(HttpResponse response)
    {
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.XFrameOptions = "DENY";
        response.Headers.ContentSecurityPolicy = "frame-ancestors 'none'";
    }

    private static Task WriteSignInPageAsync(HttpContext context, string area)
    {
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.ContentType = "text/html; charset=utf-8";
        var page = SignInPage.Replace("{area}", area, StringComparison.Ordinal)
            .Replace("{title}", area == "/console" ? "Quota console" : "Quota dashboard", StringComparison.Ordinal);
        return context.Response.WriteAsync(page);
    }

    private const string SignInPage = """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>{title}</title></head>
        <body style="font-family: sans-serif; margin: 4em">
        <h1>{title}</h1>
        <p>Enter the admin token (Quota:Admin:Token).</p>
        <form method="post" action="{area}/sign-in">
        <input type="password" name="token" autofocus size="40"> <button type="submit">Sign in</button>
        </form>
        </body></html>
        """;

    /// <summary>The sign-in form's body type, declared so the request guard accepts it (and nothing else) there.</summary>
    private sealed class FormOnly : IAcceptsMetadata
    {
        public IReadOnlyList<string> ContentTypes { get; } = ["application/x-www-form-urlencoded"];

        public Type? RequestType => null;

        public bool IsOptional => true;
    }
}
