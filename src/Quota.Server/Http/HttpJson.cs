using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Quota.Abstractions;

namespace Quota.Server.Http;

/// <summary>Bounded JSON bodies and RFC 9457 problem details that name the offending field, for every endpoint.</summary>
internal static partial class HttpJson
{
    /// <summary>
    /// The lenient base that <c>POST /v1/admin/apply</c> builds its document options on (ASP.NET's web defaults:
    /// field names in any case, numbers also from strings, since YAML scalars arrive as strings). Apply owns its own
    /// strictness; every other request body is read with <see cref="StrictOptions"/>.
    /// </summary>
    public static readonly JsonSerializerOptions RequestOptions = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>
    /// Request bodies, read strictly as docs/api.md says: field names exactly camelCase (<c>"User"</c> is an unknown
    /// field, not <c>user</c>), numbers only as JSON numbers (<c>"cost":"1"</c> is the wrong type), unknown fields
    /// refused, so a typo or a client's sloppy encoding is an error naming the field, not a silent guess.
    /// </summary>
    public static readonly JsonSerializerOptions StrictOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = false,
        NumberHandling = JsonNumberHandling.Strict,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Responses: camelCase, enums as camelCase strings.</summary>
    public static readonly JsonSerializerOptions ResponseOptions = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>
    /// Reads a bounded JSON body strictly (<see cref="StrictOptions"/> unless <paramref name="options"/> is given);
    /// a problem result names what is wrong. A body the client framed wrongly (conflicting <c>Content-Length</c> and
    /// <c>Transfer-Encoding</c>, bad chunks, fewer bytes than declared) or sent too slowly is the client's mistake:
    /// a <c>400</c> or <c>408</c> problem, not an error in the log. With <paramref name="allowEmpty"/>, an empty
    /// body is no body: the answer is (null, null).
    /// </summary>
    public static async Task<(T? Body, IResult? Problem)> ReadAsync<T>(HttpContext context, int maxBytes, JsonSerializerOptions? options = null, bool allowEmpty = false)
        where T : class
    {
        if (context.Request.ContentLength > maxBytes)
        {
            return (null, Problem(StatusCodes.Status400BadRequest, [new("body", $"is {context.Request.ContentLength} bytes; at most {maxBytes} are accepted (Quota:Http:MaxBodyBytes).")]));
        }

        // Pooled, and only as large as the body: a fresh array of MaxBodyBytes + 1 (16 KiB against a ~30-byte body)
        // per request was most of what a decision allocated over HTTP, and the silo spent ~30% of its time in gen-0
        // pauses at 256 in flight (docs/benchmarks.md, "Quota's HTTP front door"). The buffer starts at the
        // declared length (or 1 KiB when chunked) plus the one byte that detects "more than declared", and doubles up
        // to the bound.
        var limit = maxBytes + 1;
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(limit, (context.Request.ContentLength ?? 1023) + 1));
        try
        {
            var length = 0;
            try
            {
                int read;
                while (length < limit)
                {
                    if (length == buffer.Length)
                    {
                        var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(limit, 2L * buffer.Length));
                        buffer.AsSpan(0, length).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }

                    read = await context.Request.Body.ReadAsync(buffer.AsMemory(length, Math.Min(buffer.Length, limit) - length), context.RequestAborted);
                    if (read == 0)
                    {
                        break;
                    }

                    length += read;
                }
            }
            catch (BadHttpRequestException e)
            {
                return (null, Framing(e));
            }

            return Parse<T>(buffer.AsSpan(0, length), maxBytes, options, allowEmpty);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static (T? Body, IResult? Problem) Parse<T>(ReadOnlySpan<byte> body, int maxBytes, JsonSerializerOptions? options, bool allowEmpty)
        where T : class
    {
        if (body.Length > maxBytes)
        {
            return (null, Problem(StatusCodes.Status400BadRequest, [new("body", $"is larger than {maxBytes} bytes, the most accepted (Quota:Http:MaxBodyBytes).")]));
        }

        if (body.Length == 0)
        {
            return allowEmpty ? (null, null) : (null, Problem(StatusCodes.Status400BadRequest, [new("body", "is empty; send a JSON object.")]));
        }

        try
        {
            var value = JsonSerializer.Deserialize<T>(body, options ?? StrictOptions);
            return value is null
                ? (null, Problem(StatusCodes.Status400BadRequest, [new("body", "must be a JSON object, not null.")]))
                : (value, null);
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
        if (field == "body")
        {
            // Well-formed JSON of another shape ([] or 5 where an object is expected) is not "invalid JSON".
            return new FieldProblem(field, Unconvertible().IsMatch(e.Message)
                ? $"must be a JSON object{where}; see the API reference for its fields."
                : $"is not valid JSON{where}.");
        }

        // A JSON number the field's type cannot hold (1.5 or 1e2 for a count, 99999999999 for a 32-bit one): the reader
        // says "out of bounds for an Int32". Telling this caller to drop quotes it never wrote would mislead.
        if (e.InnerException is FormatException && OutOfBounds().Match(e.InnerException.Message) is { Success: true } bounds)
        {
            return new FieldProblem(field, bounds.Groups[1].Value switch
            {
                "Int32" => $"must be a whole number{where} from -2147483648 to 2147483647, written without a fraction or exponent.",
                "Int64" => $"must be a whole number{where} from -9223372036854775808 to 9223372036854775807, written without a fraction or exponent.",
                "Decimal" or "Double" or "Single" => $"must be a number{where} within the range of a {bounds.Groups[1].Value.ToLowerInvariant()}.",
                var other => $"must be a number{where} that fits a {other}, written without a fraction or exponent.",
            });
        }

        // Say which JSON type the field takes: a number sent as a string ("cost":"1") is the common case. The reader's
        // own complaint ("Cannot get the value of a token type 'String' as a number") names it; the converter's
        // message names the CLR type, except for constructor parameters, where it names the body's type.
        var expected = e.InnerException is InvalidOperationException inner && TokenAs().Match(inner.Message) is { Success: true } token
            ? token.Groups[1].Value
            : Unconvertible().Match(e.Message) is { Success: true } type ? type.Groups[1].Value : string.Empty;
        return new FieldProblem(field, expected switch
        {
            "number" => $"must be a JSON number{where}: write 1, not \"1\" (numbers in quotes are not read).",
            "boolean" => $"must be true or false{where}, without quotes.",
            "string" => $"must be a JSON string{where}.",
            _ when expected.Contains("Int64", StringComparison.Ordinal) || expected.Contains("Int32", StringComparison.Ordinal) || expected.Contains("Double", StringComparison.Ordinal) =>
                $"must be a JSON number{where}: write 1, not \"1\" (numbers in quotes are not read).",
            _ when expected.Contains("Boolean", StringComparison.Ordinal) => $"must be true or false{where}, without quotes.",
            _ when expected.Contains("TimeSpan", StringComparison.Ordinal) => $"must be a duration string such as \"00:01:00\"{where}.",
            _ when expected.Contains("String", StringComparison.Ordinal) && !expected.Contains("[]", StringComparison.Ordinal) => $"must be a JSON string{where}.",
            _ => $"has the wrong type or is malformed{where}; see the API reference for its type.",
        });
    }

    /// <summary>
    /// The problem for a body the client framed wrongly or sent too slowly (Kestrel's status: 400, 408 or 413), named
    /// <c>body</c>. Nothing of the request was decided.
    /// </summary>
    public static IResult Framing(BadHttpRequestException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var status = error.StatusCode is >= 400 and < 500 ? error.StatusCode : StatusCodes.Status400BadRequest;
        return Problem(status, [new("body", status switch
        {
            StatusCodes.Status408RequestTimeout => "arrived too slowly (below the server's minimum data rate); send the whole body at once.",
            StatusCodes.Status413PayloadTooLarge => "is larger than the server accepts.",
            _ => $"was not framed correctly ({error.Message.TrimEnd('.')}); send it with one correct Content-Length or Transfer-Encoding: chunked, not both, and every byte declared.",
        })]);
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
                StatusCodes.Status408RequestTimeout => "Request timeout",
                StatusCodes.Status413PayloadTooLarge => "Request too large",
                StatusCodes.Status404NotFound => "Unknown subject",
                StatusCodes.Status409Conflict => "Conflict",
                StatusCodes.Status415UnsupportedMediaType => "Unsupported media type",
                StatusCodes.Status429TooManyRequests => "Too many requests",
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

    [GeneratedRegex("could not be converted to ([^ ]+)\\. Path")]
    private static partial Regex Unconvertible();

    [GeneratedRegex("out of bounds for an? ([A-Za-z0-9]+)")]
    private static partial Regex OutOfBounds();

    [GeneratedRegex("token type '[A-Za-z]+' as an? (number|boolean|string)")]
    private static partial Regex TokenAs();

    /// <summary>
    /// A query parameter read as true or false (exactly those, in any case); a problem naming it otherwise. Read here
    /// rather than bound, so <c>?dryRun=maybe</c> is a problem saying what to send, not an empty 400.
    /// </summary>
    public static bool TryQueryFlag(HttpContext context, string name, out bool value, out IResult? problem)
    {
        ArgumentNullException.ThrowIfNull(context);
        value = false;
        problem = null;
        var values = context.Request.Query[name];
        if (values.Count == 0)
        {
            return true;
        }

        if (values.Count == 1 && bool.TryParse(values[0], out value) && values[0]!.Trim().Length == values[0]!.Length)
        {
            return true;
        }

        problem = Problem(StatusCodes.Status400BadRequest, [new(name, $"must be true or false, given once (got '{string.Join(",", values.Select(v => v))}').")]);
        return false;
    }

    /// <summary>Every problem with a policy list, each named by its path (<c>policies[0].limit</c>).</summary>
    public static List<FieldProblem> PolicyProblems(IReadOnlyList<PolicySpec> specs, string path)
    {
        PolicySpec.ToDefinitions(specs, path, out var errors);
        return [.. errors];
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

}
