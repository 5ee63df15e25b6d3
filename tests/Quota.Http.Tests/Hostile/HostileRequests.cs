using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;

namespace Quota.Http.Tests.Hostile;

/// <summary>One request as a hostile client might send it: any method and route of the API, any bytes.</summary>
public sealed record HostileRequest(HttpMethod Method, string Path, byte[]? Body, string? ContentType)
{
    /// <summary>For a failing sample: what was sent, with the body shortened.</summary>
    public override string ToString()
    {
        var body = Body is null ? "(no body)" : Encoding.UTF8.GetString(Body);
        var path = Path.Length > 300 ? $"{Path[..300]}... ({Path.Length} characters)" : Path;
        return $"{Method} {path} [{ContentType ?? "no content type"}] {(body.Length > 400 ? body[..400] + $"... ({Body!.Length} bytes)" : body)}";
    }
}

/// <summary>
/// Generators of hostile requests against every route of the HTTP API: names with whitespace, control characters,
/// lone surrogates, escapes and huge lengths in paths and bodies; JSON of the wrong shape and type, huge and negative
/// numbers, deep nesting, unknown fields, wrong case; bodies that are not JSON; wrong content types. Most requests are
/// almost right, so they get past the first check and reach the deeper ones.
/// </summary>
public static class HostileRequests
{
    private static readonly string[] OddNames =
    [
        " ", "\u00A0", "\u3000", "\t", "a\u0000b", "\u007F", "x\u0085y", "\u202Eevil", "\uD800", "a\uDC00", "\uFEFFbom",
        "a/b", "a%2Fb", "%", "%zz", "a b", " lead", "trail ", "e\u0301", "😀", "名前", "user:alice", "*", "telegram:chat:*",
        "null", "0", "-1", "{}", "[]", "'; drop table quota; --", "<script>", "a\nb", "a\r\nb",
        new string('x', 256), new string('x', 257), new string('y', 5000),
    ];

    private static readonly string[] PlainNames = ["alice", "bob", "telegram", "telegram:chat:-1001", "acme", "baselinker", "bl-1", "tenant-a"];

    /// <summary>A name: mostly plausible, often hostile, sometimes random Unicode.</summary>
    public static readonly Gen<string> Name = Gen.Frequency(
        (3, Gen.OneOf(PlainNames)),
        (2, Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789:-_."], 1, 24]),
        (4, Gen.OneOf(OddNames)),
        (1, Gen.String[Gen.Char, 0, 40]));

    /// <summary>A name for a path segment: never empty or a dot segment (those address another route, not this one).</summary>
    private static readonly Gen<string> SegmentName = Name.Where(n => n.Length > 0 && n is not "." and not "..");

    private static readonly Gen<JsonNode?> Number = Gen.OneOf<JsonNode?>(
        Gen.Long.Select(v => (JsonNode?)JsonValue.Create(v)),
        Gen.Int[-3, 5].Select(v => (JsonNode?)JsonValue.Create(v)),
        Gen.OneOf<JsonNode?>(
            JsonValue.Create(long.MaxValue), JsonValue.Create(long.MinValue), JsonValue.Create(int.MaxValue),
            JsonValue.Create(1e300), JsonValue.Create(-0.0), JsonValue.Create(1.5), JsonValue.Create(0), JsonValue.Create(-1)));

    /// <summary>Any JSON value, nested at most <paramref name="depth"/> deep.</summary>
    private static Gen<JsonNode?> AnyJson(int depth) => depth <= 0
        ? Gen.OneOf(Number, Name.Select(s => (JsonNode?)JsonValue.Create(s)), Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b)), Gen.Const((JsonNode?)null))
        : Gen.Frequency(
            (4, AnyJson(0)),
            (1, AnyJson(depth - 1).Array[0, 4].Select(items => (JsonNode?)new JsonArray([.. items.Select(Clone)]))),
            (1, Gen.Select(Name, AnyJson(depth - 1)).Array[0, 3].Select(pairs => (JsonNode?)Object(pairs))));

    /// <summary>A field's value: the right type most of the time, anything some of the time.</summary>
    private static Gen<JsonNode?> Field(Gen<JsonNode?> right) => Gen.Frequency((4, right), (1, AnyJson(2)));

    private static readonly Gen<JsonNode?> NameValue = Field(Name.Select(s => (JsonNode?)JsonValue.Create(s)));

    private static readonly Gen<JsonNode?> NumberValue = Field(Number);

    private static readonly Gen<JsonNode?> Duration = Field(Gen.OneOf<JsonNode?>(
        "00:01:00", "00:00:01", "01:00:00", "-00:00:01", "00:00:00", "banana", "10675199.02:48:05.4775807", "1.00:00:00", "P1D", ""));

    private static readonly Gen<JsonNode?> PolicyValue = Field(Gen.Select(
        Gen.OneOf("per-minute", "daily", "burst", "in-flight", " ", "a\u0000b"),
        Gen.OneOf("token-bucket", "sliding-window", "sliding-log", "fixed-window", "concurrency", "calendar", "gcra", "TOKEN-BUCKET", ""),
        Number,
        Duration,
        Gen.OneOf<JsonNode?>(null, "day", "week", "month", "year", "fortnight"),
        Gen.OneOf<JsonNode?>(null, "UTC", "Europe/Warsaw", "Mars/Olympus", "../../etc/passwd")).Select(t =>
    {
        var policy = new JsonObject { ["name"] = t.Item1, ["algorithm"] = t.Item2, ["limit"] = Clone(t.Item3), ["window"] = Clone(t.Item4) };
        if (t.Item5 is not null)
        {
            policy["period"] = Clone(t.Item5);
        }

        if (t.Item6 is not null)
        {
            policy["timeZone"] = Clone(t.Item6);
        }

        return (JsonNode?)policy;
    }));

    private static readonly Gen<JsonNode?> Policies = Field(PolicyValue.Array[0, 3].Select(p => (JsonNode?)new JsonArray([.. p.Select(Clone)])));

    private static readonly Gen<JsonNode?> Priority = Field(Gen.OneOf<JsonNode?>("low", "normal", "high", "critical", "LOW", "urgent", "1", "", " "));

    private static readonly Gen<JsonNode?> Bool = Field(Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b)));

    /// <summary>Lease ids: random text, and well-formed ones naming hostile holders.</summary>
    private static readonly Gen<JsonNode?> LeaseId = Field(Gen.OneOf(
        Name.Select(s => (JsonNode?)JsonValue.Create(s)),
        Gen.Select(Gen.OneOf("user", "resource", "key", "tenant", "token", "nope"), Name).Select(h =>
            (JsonNode?)JsonValue.Create($"{new string('a', 32)}.{Convert.ToBase64String(Encoding.UTF8.GetBytes($"{h.Item1}:{h.Item2}")).TrimEnd('=').Replace('+', '-').Replace('/', '_')}"))));

    /// <summary>An object with a random subset of <paramref name="fields"/>, now and then an unknown or mis-cased one.</summary>
    private static Gen<JsonNode?> Body(params (string Name, Gen<JsonNode?> Value)[] fields) =>
        Gen.Select(
            Gen.Bool.Array[fields.Length],
            Sequence([.. fields.Select(f => f.Value)]),
            Gen.Frequency((6, Gen.Const((string?)null)), (1, Gen.OneOf<string?>("unknownField", "User", "COST", "resources "))),
            AnyJson(1)).Select(t =>
        {
            var body = new JsonObject();
            for (var i = 0; i < fields.Length; i++)
            {
                if (t.Item1[i])
                {
                    body[fields[i].Name] = Clone(t.Item2[i]);
                }
            }

            if (t.Item3 is { } extra)
            {
                body[extra] = Clone(t.Item4);
            }

            return (JsonNode?)body;
        });

    private static Gen<JsonNode?[]> Sequence(Gen<JsonNode?>[] gens) =>
        gens.Aggregate(Gen.Const(Array.Empty<JsonNode?>()), (acc, g) => Gen.Select(acc, g).Select(t => (JsonNode?[])[.. t.Item1, t.Item2]));

    /// <summary>Bodies that are not what any endpoint reads: broken, deep, huge, empty, the wrong top-level type.</summary>
    private static readonly Gen<byte[]> BrokenBody = Gen.OneOf(
        Gen.OneOf(
            "", " ", "null", "[]", "\"text\"", "42", "{", "{\"user\":", "{\"user\":\"a\"", "{\"user\":\"a\"}}", "{'user':'a'}",
            "{\"user\":\"a\",\"user\":\"b\"}", "\uFEFF{\"user\":\"a\"}", "{\"cost\":1e999}", "{\"cost\":01}", "{\"cost\":NaN}",
            "{\"user\":\"\\ud800\"}", "{\"user\":\"a\\u0000\"}", "users:\n  - id: a\n", "a: &a [1,1]\nb: [*a,*a]\n")
            .Select(Encoding.UTF8.GetBytes),
        Gen.Int[1, 20_000].Select(depth => Encoding.UTF8.GetBytes(new string('[', depth) + new string(']', depth))),
        Gen.Int[1, 5_000].Select(depth => Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth))),
        Gen.Int[2_000, 200_000].Select(size => Encoding.UTF8.GetBytes($"{{\"user\":\"{new string('u', size)}\"}}")),
        Gen.Byte.Array[1, 64]);

    private static readonly Gen<string?> ContentType = Gen.Frequency(
        (12, Gen.Const<string?>("application/json")),
        (1, Gen.OneOf<string?>(null, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16", "application/yaml", "application/problem+json", "multipart/form-data; boundary=x", "application/json; charset=\"\"")));

    private static readonly Gen<string> Kind = Gen.Frequency((4, Gen.OneOf("user", "key", "tenant", "token", "resource")), (1, SegmentName));

    private static readonly Gen<string> Query = Gen.Frequency(
        (4, Gen.Const(string.Empty)),
        (1, Gen.Select(Gen.OneOf("dryRun", "limit", "subject", "from", "to"), Gen.OneOf("true", "false", "maybe", "1", "-1", "0", "99999999999", "2026-01-01T00:00:00Z", "%00", "", "%20")).Select(q => $"?{q.Item1}={q.Item2}")));

    /// <summary>
    /// Every route with its method and body shape. Bodies are JSON objects of the route's fields, or now and then
    /// <see cref="BrokenBody"/>.
    /// </summary>
    public static readonly Gen<HostileRequest> Request = Gen.OneOf(
        Post("/v1/acquire", Body(
            ("user", NameValue), ("apiKey", NameValue), ("tenant", NameValue), ("upstream", NameValue),
            ("resources", Field(Name.Array[0, 40].Select(r => (JsonNode?)new JsonArray([.. r.Select(n => (JsonNode?)JsonValue.Create(n))])))),
            ("cost", NumberValue), ("priority", Priority), ("maxWaitMs", Field(Gen.OneOf(Number, Gen.Int[0, 1500].Select(v => (JsonNode?)JsonValue.Create(v))))),
            ("reserve", Bool), ("includeSecret", Bool))),
        Post("/v1/settle", Body(("leaseId", LeaseId), ("actualCost", NumberValue))),
        Post("/v1/release", Body(("leaseId", LeaseId))),
        Post("/v1/feedback", Body(("upstream", NameValue), ("token", NameValue), ("status", NumberValue), ("retryAfterMs", NumberValue))),
        Gen.Select(Kind, SegmentName, Query).Select(t => Get($"/v1/usage/{Segment(t.Item1)}/{Segment(t.Item2)}{t.Item3}")),
        Gen.Select(SegmentName, SegmentName).Select(t => Get($"/v1/usage/token/{Segment(t.Item1)}/{Segment(t.Item2)}")),
        SegmentName.Select(n => Get($"/v1/upstreams/{Segment(n)}/allocation")),
        Subject("users", Body(("policies", Policies))),
        Subject("resources", Body(("policies", Policies))),
        Subject("tenants", Body(("tier", Field(Gen.OneOf<JsonNode?>("premium", "standard", "basic", "gold"))), ("reserved", NumberValue), ("burst", NumberValue),
            ("weight", NumberValue), ("strategy", Field(Gen.OneOf<JsonNode?>("shared", "dedicated", "hybrid", "other"))), ("upstream", NameValue))),
        Subject("upstreams", Body(("bufferPercent", NumberValue))),
        Gen.Select(SegmentName, SegmentName, Gen.OneOf("GET", "PUT", "DELETE"), Body(("secret", NameValue), ("policies", Policies), ("dedicatedTo", NameValue)), BrokenBody, ContentType).Select(t =>
            Make(t.Item3, $"/v1/admin/upstreams/{Segment(t.Item1)}/tokens/{Segment(t.Item2)}", t.Item4, t.Item5, t.Item6)),
        Gen.Select(SegmentName, Body(("key", NameValue), ("policies", Policies), ("user", NameValue)), BrokenBody, ContentType, Gen.Bool).Select(t =>
            t.Item5 ? Get($"/v1/admin/users/{Segment(t.Item1)}/keys") : Make("POST", $"/v1/admin/users/{Segment(t.Item1)}/keys", t.Item2, t.Item3, t.Item4)),
        Gen.Select(SegmentName, Gen.OneOf("GET", "PUT", "DELETE"), Body(("policies", Policies)), BrokenBody, ContentType).Select(t =>
            Make(t.Item2, $"/v1/admin/keys/{Segment(t.Item1)}", t.Item3, t.Item4, t.Item5)),
        Query.Select(q => Get($"/v1/admin/changes{q}")),
        Query.Select(q => Get($"/v1/admin/scheduler/history{q}")),
        Gen.Select(Query, Body(
            ("users", Field(Gen.Select(Name, Body(("policies", Policies))).Array[0, 3].Select(ObjectOf))),
            ("resources", Field(Gen.Select(Name, Body(("policies", Policies))).Array[0, 3].Select(ObjectOf))),
            ("tenants", Field(Gen.Select(Name, Body(("reserved", NumberValue), ("upstream", NameValue))).Array[0, 3].Select(ObjectOf))),
            ("upstreams", Field(Gen.Select(Name, Body(("bufferPercent", NumberValue))).Array[0, 3].Select(ObjectOf)))), BrokenBody, ContentType).Select(t =>
            Make("POST", $"/v1/admin/apply{t.Item1}", t.Item2, t.Item3, t.Item4)));

    private static Gen<HostileRequest> Post(string path, Gen<JsonNode?> body) =>
        Gen.Select(body, BrokenBody, ContentType).Select(t => Make("POST", path, t.Item1, t.Item2, t.Item3));

    private static Gen<HostileRequest> Subject(string collection, Gen<JsonNode?> body) =>
        Gen.Select(SegmentName, Gen.OneOf("GET", "PUT", "DELETE"), body, BrokenBody, ContentType).Select(t =>
            Make(t.Item2, $"/v1/admin/{collection}/{Segment(t.Item1)}", t.Item3, t.Item4, t.Item5));

    private static HostileRequest Get(string path) => new(HttpMethod.Get, path, null, null);

    /// <summary>A request of <paramref name="method"/>; with a body one time in eight broken.</summary>
    private static HostileRequest Make(string method, string path, JsonNode? body, byte[] broken, string? contentType)
    {
        if (method is "GET" or "DELETE")
        {
            return new HostileRequest(new HttpMethod(method), path, null, null);
        }

        var bytes = broken.Length % 8 == 0 ? broken : Encoding.UTF8.GetBytes(body?.ToJsonString() ?? "null");
        return new HostileRequest(new HttpMethod(method), path, bytes, contentType);
    }

    private static JsonNode? ObjectOf((string, JsonNode?)[] pairs) => Object(pairs);

    private static JsonObject Object((string, JsonNode?)[] pairs)
    {
        var json = new JsonObject();
        foreach (var (key, value) in pairs)
        {
            json[key] = Clone(value);
        }

        return json;
    }

    /// <summary>JsonNodes have one parent: values are copied wherever they are placed.</summary>
    private static JsonNode? Clone(JsonNode? node) => node?.DeepClone();

    /// <summary>
    /// A path segment: every byte outside the unreserved set percent-escaped (a lone surrogate as UTF-8 of
    /// U+FFFD, as a client's encoder writes it), so the server sees exactly this name.
    /// </summary>
    public static string Segment(string name)
    {
        var builder = new StringBuilder();
        foreach (var b in new UTF8Encoding(false, false).GetBytes(name))
        {
            if (char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'_' or (byte)'~' or (byte)':')
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }
}
