using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Quota.Abstractions;
using Quota.Server.Http;

namespace Quota.Server.Admin;

/// <summary>How an apply document is written, chosen by the request's <c>Content-Type</c>, never guessed from the body.</summary>
public enum DocumentFormat
{
    /// <summary><c>application/json</c> or any <c>+json</c> type.</summary>
    Json,

    /// <summary><c>application/yaml</c>, <c>application/x-yaml</c> or <c>text/yaml</c>.</summary>
    Yaml,
}

/// <summary>The media types <c>POST /v1/admin/apply</c> accepts, and the <c>415</c> for any other.</summary>
internal static class DocumentMediaTypes
{
    /// <summary>Declared on the endpoint (<c>IAcceptsMetadata</c>); <c>+json</c> types match <c>application/json</c>.</summary>
    public static readonly string[] Accepted = ["application/json", "application/yaml", "application/x-yaml", "text/yaml"];

    /// <summary>The format <paramref name="contentType"/> names, or null for any other type, none, or a charset other than UTF-8.</summary>
    public static DocumentFormat? FormatOf(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var parsed)
            || (parsed.Charset.HasValue && !parsed.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        var type = parsed.MediaType.Value ?? string.Empty;
        if (type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.EndsWith("+json", StringComparison.OrdinalIgnoreCase)))
        {
            return DocumentFormat.Json;
        }

        return type.ToLowerInvariant() is "application/yaml" or "application/x-yaml" or "text/yaml" ? DocumentFormat.Yaml : null;
    }

    /// <summary>A <c>415</c> problem naming the types accepted; nothing was read.</summary>
    public static IResult Unsupported(HttpContext context)
    {
        // Worded like the cross-site guard's 415, which answers for the types routing refuses before this runs.
        var sent = context.Request.ContentType is { Length: > 0 } type ? $"'{type}' is not accepted here" : "is missing";
        return HttpJson.Problem(
            StatusCodes.Status415UnsupportedMediaType,
            [new FieldProblem("Content-Type", $"{sent}; send the document as application/json (or a +json type) or as YAML (application/yaml, application/x-yaml or text/yaml), in UTF-8.")],
            new() { ["accepted"] = Accepted });
    }
}
