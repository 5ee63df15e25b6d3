using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Quota.Server.OperatorConsole;

/// <summary><c>/</c> for a browser: links to the console, the dashboard and the documents a person would open.</summary>
internal static class FrontPage
{
    /// <summary>
    /// Whether the caller asked for HTML rather than JSON: <c>text/html</c> accepted with a higher quality than
    /// <c>application/json</c> (a browser). <c>*/*</c> alone (curl) or no <c>Accept</c> gets JSON, as before.
    /// </summary>
    public static bool WantsHtml(HttpRequest request)
    {
        if (!MediaTypeHeaderValue.TryParseList(request.Headers.Accept, out var accepted))
        {
            return false;
        }

        double html = 0, json = 0;
        foreach (var type in accepted)
        {
            var quality = type.Quality ?? 1;
            if (type.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase))
            {
                html = Math.Max(html, quality);
            }
            else if (type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
            {
                json = Math.Max(json, quality);
            }
        }

        return html > 0 && html > json;
    }

    /// <summary>The page.</summary>
    public static IResult Html() => Results.Content(
        $"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Quota</title><link rel="stylesheet" href="{ConsoleEndpoints.Root}/assets/console.css"></head>
        <body><header><span class="brand">Quota</span></header><main>
        <h1>Quota</h1>
        <p>Distributed quotas and rate limits: may I do this now?</p>
        <ul>
        <li><a href="{ConsoleEndpoints.Root}/">Quota console</a>: pools, tenants, tokens, subjects, scheduler, changes, queues (admin)</li>
        <li><a href="/dashboard/">Orleans dashboard</a>: grains, silos, call rates (admin)</li>
        <li><a href="/openapi/v1.json">OpenAPI document</a> · <a href="/metrics">Prometheus metrics</a> · <a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a></li>
        </ul>
        <p>Programs get this page as JSON (Accept: application/json).</p>
        </main></body></html>
        """,
        "text/html; charset=utf-8");
}
