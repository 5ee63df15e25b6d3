using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

// The console's namespace is not Quota.Server.Console: that would hide System.Console from every Quota.Server type.
namespace Quota.Server.OperatorConsole;

/// <summary>
/// The operator's console at <c>/console</c>: server-rendered pages (overview, upstreams, subjects, scheduler,
/// changes, queues) read from the same services as the JSON endpoints, with one small embedded script that refreshes
/// live pages. It sits behind the admin gate (<see cref="Admin.AdminGate"/>: the dashboard's rule, sessions and
/// sign-in), shows no secret, and encodes every value (<see cref="Html"/>).
/// </summary>
public static class ConsoleEndpoints
{
    /// <summary>Where the console lives.</summary>
    public const string Root = "/console";

    /// <summary>Maps the console's pages and its two assets.</summary>
    public static IEndpointRouteBuilder MapQuotaConsole(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var console = app.MapGroup(Root).ExcludeFromDescription();
        console.MapGet("/", OverviewPage.RenderAsync);
        console.MapGet("/upstreams", UpstreamsPage.RenderAsync);
        console.MapGet("/subjects", SubjectsPage.RenderAsync);
        console.MapGet("/scheduler", SchedulerPage.RenderAsync);
        console.MapGet("/changes", ChangesPage.RenderAsync);
        console.MapGet("/queues", QueuesPage.RenderAsync);
        console.MapGet("/assets/console.js", () => Asset("console.js", "text/javascript; charset=utf-8"));
        console.MapGet("/assets/console.css", () => Asset("console.css", "text/css; charset=utf-8"));
        return app;
    }

    private static IResult Asset(string name, string contentType)
    {
        using var stream = typeof(ConsoleEndpoints).Assembly.GetManifestResourceStream("Quota.Server.Console." + name)
            ?? throw new InvalidOperationException($"The console asset {name} is not embedded in {typeof(ConsoleEndpoints).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return Results.Text(reader.ReadToEnd(), contentType);
    }

    /// <summary>
    /// Writes a whole console page: navigation, <paramref name="body"/> in <c>&lt;main&gt;</c> (refreshed every
    /// <paramref name="refreshMs"/> by the script when given), and headers that keep it out of caches and frames and
    /// allow only its own script and style.
    /// </summary>
    internal static IResult Page(HttpContext context, string page, string title, Markup body, int? refreshMs = null)
    {
        var headers = context.Response.Headers;
        headers.CacheControl = "no-store";
        headers.ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";
        headers["Referrer-Policy"] = "no-referrer";
        var html = new Html();
        html.Add($"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
            <title>Quota console · {title}</title>
            <link rel="stylesheet" href="{Root}/assets/console.css"><script src="{Root}/assets/console.js" defer></script>
            </head><body><header><span class="brand">Quota console</span>
            """);
        foreach (var (path, name) in Pages)
        {
            html.Add($"""<a href="{Root}{path}"{(name == page ? new Markup(" class=\"here\"") : default)}>{name}</a>""");
        }

        html.Add($"""<a href="/dashboard/">Orleans dashboard</a></header>""");
        html.Add(refreshMs is { } every ? new Markup($"<main data-refresh=\"{every}\">") : new Markup("<main>"));
        html.Add($"<h1>{title}</h1>");
        html.Add(body);
        if (refreshMs is not null)
        {
            html.Add($"""<p class="muted" id="refresh-state">Refreshes every {refreshMs.Value / 1000.0} s.</p>""");
        }

        html.Add(new Markup("</main></body></html>\n"));
        return Results.Content(html.ToString(), "text/html; charset=utf-8");
    }

    private static readonly (string Path, string Name)[] Pages =
    [
        ("/", "Overview"), ("/upstreams", "Upstreams"), ("/subjects", "Subjects"), ("/scheduler", "Scheduler"), ("/changes", "Changes"), ("/queues", "Queues"),
    ];

    /// <summary>A duration in milliseconds, the way an operator reads it (850 ms, 12.5 s, 3 min 20 s).</summary>
    internal static string Duration(long ms) => ms switch
    {
        < 1000 => $"{ms} ms",
        < 60_000 => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{ms / 1000.0:0.#} s"),
        < 3_600_000 => $"{ms / 60_000} min {ms / 1000 % 60} s",
        _ => $"{ms / 3_600_000} h {ms / 60_000 % 60} min",
    };

    /// <summary>A problem shown on a page (bad lookup input), in words.</summary>
    internal static Markup Problem(string text) => new Html().Add($"""<p class="problem">{text}</p>""").ToMarkup();
}
