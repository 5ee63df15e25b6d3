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

    public async Task InvokeAsync(HttpContext context)
    {
        var verdict = Decide(_token, context.Request.Headers.Authorization.ToString(), context.Connection.RemoteIpAddress);
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
