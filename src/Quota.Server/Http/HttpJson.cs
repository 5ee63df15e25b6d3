using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Quota.Abstractions;

namespace Quota.Server.Http;

/// <summary>Bounded JSON bodies and RFC 9457 problem details that name the offending field, for every endpoint.</summary>
internal static partial class HttpJson
{
    /// <summary>Request bodies: camelCase, unknown fields rejected so a typo is an error, not silence.</summary>
    public static readonly JsonSerializerOptions RequestOptions = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Responses: camelCase, enums as camelCase strings.</summary>
    public static readonly JsonSerializerOptions ResponseOptions = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Reads a bounded JSON body; a problem result names what is wrong.</summary>
    public static async Task<(T? Body, IResult? Problem)> ReadAsync<T>(HttpContext context, int maxBytes, JsonSerializerOptions? options = null)
        where T : class
    {
        if (context.Request.ContentLength > maxBytes)
        {
            return (null, Problem(StatusCodes.Status400BadRequest, [new("body", $"is {context.Request.ContentLength} bytes; at most {maxBytes} are accepted (Quota:Http:MaxBodyBytes).")]));
        }

        var buffer = new byte[maxBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await context.Request.Body.ReadAsync(buffer.AsMemory(length), context.RequestAborted)) > 0)
        {
            length += read;
        }

        if (length > maxBytes)
        {
            return (null, Problem(StatusCodes.Status400BadRequest, [new("body", $"is larger than {maxBytes} bytes, the most accepted (Quota:Http:MaxBodyBytes).")]));
        }

        if (length == 0)
        {
            return (null, Problem(StatusCodes.Status400BadRequest, [new("body", "is empty; send a JSON object.")]));
        }

        try
        {
            var body = JsonSerializer.Deserialize<T>(buffer.AsSpan(0, length), options ?? RequestOptions);
            return body is null
                ? (null, Problem(StatusCodes.Status400BadRequest, [new("body", "must be a JSON object, not null.")]))
                : (body, null);
        }
        catch (JsonException e)
        {
            return (null, Problem(StatusCodes.Status400BadRequest, [Describe(e)]));
        }
    }

    private static FieldProblem Describe(JsonException e)
    {
        if (UnmappedMember().Match(e.Message) is { Success: true } unmapped)
        {
            // The path says where the field is (adaptive.maximun, policies[0].limt), not only its name; a name that
            // needs brackets in a path ($['a b']) is named alone.
            var path = e.Path?.TrimStart('$', '.');
            return new FieldProblem(
                path is { Length: > 0 } && !path.StartsWith('[') ? path : unmapped.Groups[1].Value,
                "is not a field of this request; check its spelling and case (JSON is camelCase).");
        }

        var field = e.Path is null or "$" ? "body" : e.Path.TrimStart('$', '.');
        var where = e.LineNumber is { } line ? $" (line {line + 1}, byte {e.BytePositionInLine})" : string.Empty;
        return new FieldProblem(field, field == "body"
            ? $"is not valid JSON{where}."
            : $"has the wrong type or is malformed{where}; see the API reference for its type.");
    }

    public static IResult Problem(int status, IReadOnlyList<FieldProblem> problems, Dictionary<string, object?>? extra = null)
    {
        var extensions = extra ?? [];
        extensions["field"] = problems[0].Field;
        extensions["errors"] = problems.Select(p => new Dictionary<string, string> { ["field"] = p.Field, ["detail"] = p.Detail }).ToArray();
        return Results.Problem(
            statusCode: status,
            title: status switch
            {
                StatusCodes.Status403Forbidden => "Forbidden",
                StatusCodes.Status404NotFound => "Unknown subject",
                StatusCodes.Status409Conflict => "Conflict",
                _ => "Invalid request",
            },
            detail: string.Join(" ", problems.Select(p => $"{p.Field}: {p.Detail}")),
            extensions: extensions);
    }

    /// <summary>The problem type of a request shed for capacity (draft-ietf-httpapi-ratelimit-headers, IANA HTTP problem types).</summary>
    public const string TemporaryReducedCapacity = "https://iana.org/assignments/http-problem-types#temporary-reduced-capacity";

    /// <summary>
    /// A <c>503</c> for a request shed before it was decided: <c>Retry-After</c> in whole seconds, the
    /// <see cref="TemporaryReducedCapacity"/> problem type, and <paramref name="detail"/> saying which ceiling and what to do.
    /// Nothing was consumed.
    /// </summary>
    public static IResult Overloaded(HttpContext context, TimeSpan retryAfter, string detail)
    {
        ArgumentNullException.ThrowIfNull(context);
        var seconds = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Problem(
            statusCode: StatusCodes.Status503ServiceUnavailable,
            type: TemporaryReducedCapacity,
            title: "Temporarily reduced capacity",
            detail: detail,
            extensions: new Dictionary<string, object?> { ["retryAfterMs"] = seconds * 1000 });
    }

    /// <summary>
    /// A name taken from a route segment, as the client meant it. ASP.NET Core decodes every escape in the path but
    /// <c>%2F</c>, so a name with a '/' (<c>openai/gpt-4</c>, sent as <c>openai%2Fgpt-4</c>) would otherwise address
    /// a different subject than the same name in a request body.
    /// </summary>
    public static string RouteName(string value) => value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);

    [GeneratedRegex("The JSON property '([^']*)' could not be mapped")]
    private static partial Regex UnmappedMember();

    /// <summary>Every problem with a policy list, each named by its path (<c>policies[0].limit</c>).</summary>
    public static List<FieldProblem> PolicyProblems(IReadOnlyList<PolicySpec> specs, string path)
    {
        PolicySpec.ToDefinitions(specs, path, out var errors);
        return FromMessages(errors);
    }

    /// <summary>A 400 naming every field whose name is not acceptable (<see cref="RequestRules.CheckName"/>); null when all are.</summary>
    public static IResult? BadNames(params (string Field, string Value)[] names)
    {
        var problems = new List<FieldProblem>();
        foreach (var (field, value) in names)
        {
            RequestRules.CheckName(problems, field, value);
        }

        return problems.Count > 0 ? Problem(StatusCodes.Status400BadRequest, problems) : null;
    }

    /// <summary>Splits validation messages of the form "path: detail" into problems.</summary>
    public static List<FieldProblem> FromMessages(IEnumerable<string> messages) =>
        [.. messages.Select(m => m.IndexOf(": ", StringComparison.Ordinal) is var colon and > 0
            ? new FieldProblem(m[..colon], m[(colon + 2)..])
            : new FieldProblem("body", m))];
}
