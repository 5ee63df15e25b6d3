using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Extensions.Options;
using Quota.Grains;
using Quota.Server.Admin;

namespace Quota.Server.Http;

/// <summary>
/// Refuses what a web page in a browser on another site could send. Every state-changing request (POST, PUT, PATCH,
/// DELETE) and every request to the admin API, an upstream's allocation, the dashboard or the console is refused 403 when it carries
/// an <c>Origin</c> other than its own (or <c>Origin: null</c>), unless listed in <c>Quota:Admin:TrustedOrigins</c>; and
/// a state-changing request with a body must declare a type its endpoint accepts (415 otherwise): JSON
/// (<c>application/json</c> or <c>*+json</c>), or what the endpoint declares through <see cref="IAcceptsMetadata"/>.
/// A form or <c>text/plain</c>, the types a page may send anywhere without asking, is therefore never taken as JSON.
/// </summary>
/// <remarks>
/// Reads the matched endpoint, so it runs after routing: <see cref="Microsoft.AspNetCore.Builder.WebApplication"/> adds
/// <c>UseRouting</c> before the first middleware when the application does not call it. Routing itself already refuses a
/// type an endpoint's <see cref="IAcceptsMetadata"/> does not list, by selecting a stand-in endpoint that answers an
/// empty 415; this guard answers for it with the problem.
/// </remarks>
internal sealed class CrossSiteGuard(RequestDelegate next, IOptions<AdminOptions> options, QuotaInstruments instruments, EndpointDataSource endpoints)
{
    /// <summary>The display name of the endpoint routing selects when no candidate declares the request's type.</summary>
    private const string UnsupportedMediaTypeEndpoint = "415 HTTP Unsupported Media Type";

    private static readonly string[] Json = ["application/json"];

    private readonly Lazy<IReadOnlyList<(TemplateMatcher Route, IReadOnlyList<string> Methods, IReadOnlyList<string> Types)>> _declaring = new(() =>
    [
        .. endpoints.Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<IAcceptsMetadata>()?.ContentTypes is { Count: > 0 })
            .Select(e => (
                new TemplateMatcher(new RouteTemplate(e.RoutePattern), new RouteValueDictionary()),
                e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [],
                e.Metadata.GetMetadata<IAcceptsMetadata>()!.ContentTypes)),
    ]);

    private readonly HashSet<string> _trusted = new(options.Value.TrustedOrigins.Select(o => o.TrimEnd('/')), StringComparer.OrdinalIgnoreCase);

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var changes = HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method) || HttpMethods.IsPatch(request.Method) || HttpMethods.IsDelete(request.Method);
        if (!changes && !request.Path.StartsWithSegments("/v1/admin") && !request.Path.StartsWithSegments("/v1/upstreams") && !request.Path.StartsWithSegments("/dashboard") && !request.Path.StartsWithSegments("/console"))
        {
            return next(context);
        }

        if (request.Headers.Origin.Count > 0 && !SameOrigin(request.Headers.Origin.ToString(), request) && !_trusted.Contains(request.Headers.Origin.ToString()))
        {
            instruments.Refused("foreign-origin");
            return HttpJson.Problem(StatusCodes.Status403Forbidden, [new(
                "Origin",
                $"'{request.Headers.Origin}' is not this service's origin ({request.Scheme}://{request.Host}); requests from other sites' pages are refused. "
                + "Call the API from a program (without Origin), or list the page's origin in Quota:Admin:TrustedOrigins if it is this service behind a proxy.")])
                .ExecuteAsync(context);
        }

        // Routing has already refused a type the matched endpoint does not declare: its stand-in endpoint answers an
        // empty 415, so the problem (and the types the endpoint takes) is written here.
        var endpoint = context.GetEndpoint();
        var refusedByRouting = endpoint is not RouteEndpoint && endpoint?.DisplayName == UnsupportedMediaTypeEndpoint;
        if (refusedByRouting || (changes && HasBody(context)))
        {
            var accepted = refusedByRouting ? Declared(context) : endpoint?.Metadata.GetMetadata<IAcceptsMetadata>()?.ContentTypes is { Count: > 0 } declared ? declared : Json;
            if (refusedByRouting || !Accepts(accepted, request.ContentType))
            {
                instruments.Refused("media-type");
                return HttpJson.Problem(StatusCodes.Status415UnsupportedMediaType, [new(
                    "Content-Type",
                    $"{(string.IsNullOrEmpty(request.ContentType) ? "is missing" : $"'{request.ContentType}' is not accepted here")}; send the body as {Describe(accepted)}.")],
                    new() { ["accepted"] = accepted })
                    .ExecuteAsync(context);
            }
        }

        return next(context);
    }

    /// <summary>Whether <paramref name="origin"/> is the request's own scheme, host and port (default ports implied).</summary>
    internal static bool SameOrigin(string origin, HttpRequest request)
    {
        // "null" (sandboxed frames, file: pages, some redirects) is nobody's origin; a list of origins is not one.
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !request.Host.HasValue)
        {
            return false;
        }

        var ownPort = request.Host.Port ?? (string.Equals(request.Scheme, "https", StringComparison.OrdinalIgnoreCase) ? 443 : 80);
        return string.Equals(uri.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(uri.IdnHost.Trim('[', ']'), request.Host.Host.Trim('[', ']'), StringComparison.OrdinalIgnoreCase)
            && uri.Port == ownPort;
    }

    /// <summary>Whether <paramref name="contentType"/> (parameters allowed) is one of <paramref name="accepted"/>; JSON accepts any <c>+json</c>.</summary>
    internal static bool Accepts(IReadOnlyList<string> accepted, string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var parsed) || parsed.MediaType is not { } mediaType)
        {
            return false;
        }

        return accepted.Any(type => string.Equals(type, mediaType, StringComparison.OrdinalIgnoreCase)
            || (string.Equals(type, "application/json", StringComparison.OrdinalIgnoreCase) && mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase) && mediaType.IndexOf('/', StringComparison.Ordinal) > 0));
    }

    /// <summary>A request has a body when it declares a length above 0 or is chunked (HTTP/1.1), or may have one (HTTP/2 and 3).</summary>
    private static bool HasBody(HttpContext context) =>
        context.Request.ContentLength is { } length
            ? length > 0
            : context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? false;

    /// <summary>The types declared by the endpoints that match this request's path and method (those routing refused it for).</summary>
    private IReadOnlyList<string> Declared(HttpContext context)
    {
        var types = _declaring.Value
            .Where(d => (d.Methods.Count == 0 || d.Methods.Contains(context.Request.Method, StringComparer.OrdinalIgnoreCase))
                && d.Route.TryMatch(context.Request.Path, new RouteValueDictionary()))
            .SelectMany(d => d.Types)
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToList();
        return types.Count > 0 ? types : Json;
    }

    private static string Describe(IReadOnlyList<string> accepted) =>
        string.Join(" or ", accepted.Select(type => type == "application/json" ? "application/json (or a +json type)" : type));
}
