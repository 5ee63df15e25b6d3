using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Quota.Http.Tests.Infrastructure;

/// <summary>
/// Raw HTTP calls to the host's v1 API; every answer is read whole into a <see cref="Reply"/>. When
/// <paramref name="authorization"/> is given it is sent as the <c>Authorization</c> header of every request, and so are
/// <paramref name="headers"/> (as a browser would send <c>Origin</c> or another <c>Host</c>). Every body is sent with a
/// JSON content type unless a method says otherwise; bodiless requests send none.
/// </summary>
public sealed class QuotaApi(HttpClient http, string? authorization = null, IReadOnlyList<(string Name, string Value)>? headers = null)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The same host, sending <paramref name="header"/> as <c>Authorization</c> (null: none).</summary>
    public QuotaApi WithAuthorization(string? header) => new(http, header, headers);

    /// <summary>The same host, also sending <paramref name="name"/>: <paramref name="value"/> with every request.</summary>
    public QuotaApi WithHeader(string name, string value) => new(http, authorization, [.. headers ?? [], (name, value)]);

    /// <summary>Where this API's requests go, e.g. <c>http://127.0.0.1:40123/</c>.</summary>
    public Uri BaseAddress => http.BaseAddress!;

    /// <summary>PUT <paramref name="path"/> with exactly these bytes as an application/json body.</summary>
    public Task<Reply> Put(string path, string rawBody) =>
        Send(HttpMethod.Put, path, new StringContent(rawBody, Encoding.UTF8, "application/json"), Ct);

    /// <summary>PUT <paramref name="path"/> with <paramref name="content"/>.</summary>
    public Task<Reply> Put(string path, HttpContent content) => Send(HttpMethod.Put, path, content, Ct);

    /// <summary>PUT <paramref name="path"/> with <paramref name="body"/> serialised as JSON (property names as written).</summary>
    public Task<Reply> PutJson(string path, object body) => Put(path, JsonSerializer.Serialize(body));

    /// <summary>POST <paramref name="path"/> with <paramref name="body"/> serialised as JSON (property names as written).</summary>
    public Task<Reply> PostJson(string path, object body) => Post(path, JsonSerializer.Serialize(body));

    /// <summary>POST <paramref name="path"/> with <paramref name="text"/> as a body of <paramref name="mediaType"/>.</summary>
    public Task<Reply> PostText(string path, string text, string mediaType) =>
        Send(HttpMethod.Post, path, new StringContent(text, Encoding.UTF8, mediaType), Ct);

    /// <summary>DELETE <paramref name="path"/>.</summary>
    public Task<Reply> Delete(string path) => Send(HttpMethod.Delete, path, null, Ct);

    /// <summary>Any method on <paramref name="path"/>, without a body.</summary>
    public Task<Reply> Send(HttpMethod method, string path) => Send(method, path, null, Ct);

    /// <summary>POST /v1/acquire with <paramref name="body"/> serialised as JSON (property names as written).</summary>
    public Task<Reply> Acquire(object body) => Post("/v1/acquire", JsonSerializer.Serialize(body));

    /// <summary>POST /v1/settle.</summary>
    public Task<Reply> Settle(object body) => Post("/v1/settle", JsonSerializer.Serialize(body));

    /// <summary>POST /v1/release.</summary>
    public Task<Reply> Release(object body) => Post("/v1/release", JsonSerializer.Serialize(body));

    /// <summary>POST <paramref name="path"/> with exactly these bytes as an application/json body (with a Content-Length).</summary>
    public Task<Reply> Post(string path, string rawBody) =>
        Send(HttpMethod.Post, path, new StringContent(rawBody, Encoding.UTF8, "application/json"), Ct);

    /// <summary>POST <paramref name="path"/> with <paramref name="content"/>.</summary>
    public Task<Reply> Post(string path, HttpContent content) => Send(HttpMethod.Post, path, content, Ct);

    /// <summary>POST /v1/acquire that the caller may abandon with <paramref name="abandon"/>.</summary>
    public Task<Reply> AcquireAbandonable(object body, CancellationToken abandon) =>
        Send(HttpMethod.Post, "/v1/acquire", new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"), abandon);

    /// <summary>GET /v1/usage/{kind}/{id}, both escaped as path segments.</summary>
    public Task<Reply> Usage(string kind, string id) =>
        Get($"/v1/usage/{Uri.EscapeDataString(kind)}/{Uri.EscapeDataString(id)}");

    /// <summary>GET <paramref name="path"/>.</summary>
    public Task<Reply> Get(string path) => Send(HttpMethod.Get, path, null, Ct);

    /// <summary>GET /metrics: the Prometheus text exposition.</summary>
    public async Task<string> Metrics() => (await Get("/metrics")).Expect(HttpStatusCode.OK).Body;

    /// <summary>
    /// Scrapes /metrics until <paramref name="done"/> holds (the exporter caches a scrape for a moment, and the HTTP
    /// server records a request's duration after answering it); fails after 15 s, showing the last scrape.
    /// </summary>
    public async Task<string> MetricsUntil(Func<string, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            var text = await Metrics();
            if (done(text))
            {
                return text;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"/metrics did not show the expected values within 15 s:{Environment.NewLine}{text}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), Ct);
        }
    }

    /// <summary>The remaining permits of <paramref name="policy"/> on a subject, from GET /v1/usage.</summary>
    public async Task<long> Remaining(string kind, string id, string policy)
    {
        var usage = (await Usage(kind, id)).Expect(HttpStatusCode.OK).Json;
        return Reply.Policy(usage, $"{kind}:{id}", policy)["remaining"]!.GetValue<long>();
    }

    /// <summary>The callers waiting on a subject now, from GET /v1/usage.</summary>
    public async Task<int> Waiting(string kind, string id) =>
        (await Usage(kind, id)).Expect(HttpStatusCode.OK).Json["waiting"]!.GetValue<int>();

    /// <summary>
    /// Polls GET /v1/usage until <paramref name="waiting"/> callers wait on the subject: the synchronisation
    /// point for tests that need a request to be queued. Bounded.
    /// </summary>
    public async Task UntilWaiting(string kind, string id, int waiting)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        int now;
        while ((now = await Waiting(kind, id)) != waiting)
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"{kind}:{id} still has {now} waiting after 10 s; expected {waiting}.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), Ct);
        }
    }

    private async Task<Reply> Send(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative)) { Content = content };
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        foreach (var (name, value) in headers ?? [])
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await http.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        return new Reply(response.StatusCode, response.Headers, response.Content.Headers, body);
    }
}

/// <summary>One HTTP answer, read whole.</summary>
public sealed class Reply(HttpStatusCode status, HttpResponseHeaders headers, HttpContentHeaders contentHeaders, string body)
{
    private JsonObject? _json;

    public HttpStatusCode Status { get; } = status;

    public HttpResponseHeaders Headers { get; } = headers;

    public string Body { get; } = body;

    /// <summary>The whole Content-Type of the body, with its parameters.</summary>
    public string? ContentType { get; } = contentHeaders.ContentType?.ToString();

    /// <summary>The media type of the body, without parameters.</summary>
    public string? MediaType { get; } = contentHeaders.ContentType?.MediaType;

    /// <summary>The body as a JSON object.</summary>
    public JsonObject Json => _json ??= JsonNode.Parse(Body) as JsonObject
        ?? throw new InvalidOperationException($"The body is not a JSON object: {Body}");

    /// <summary>A response header's raw value (values joined with ", "), or null when absent.</summary>
    public string? Header(string name) =>
        Headers.TryGetValues(name, out var values) ? string.Join(", ", values) : null;

    /// <summary>Fails, showing the body, unless the status is <paramref name="expected"/> (the host's log is added by <see cref="HostTest"/>).</summary>
    public Reply Expect(HttpStatusCode expected)
    {
        if (Status != expected)
        {
            Assert.Fail($"Expected HTTP {(int)expected} {expected}, got {(int)Status} {Status}.{Environment.NewLine}Body: {Body}");
        }

        return this;
    }

    /// <summary>
    /// Asserts an RFC 9457 problem: the status, application/problem+json, <c>field</c> naming
    /// <paramref name="field"/>, and <c>errors</c> starting with that field.
    /// </summary>
    public JsonObject ExpectProblem(HttpStatusCode expected, string field)
    {
        Expect(expected);
        Assert.Equal("application/problem+json", MediaType);
        var json = Json;
        Assert.Equal((int)expected, json["status"]!.GetValue<int>());
        Assert.Equal(expected switch { HttpStatusCode.NotFound => "Unknown subject", HttpStatusCode.Conflict => "Conflict", HttpStatusCode.Forbidden => "Forbidden", HttpStatusCode.RequestTimeout => "Request timeout", HttpStatusCode.RequestEntityTooLarge => "Request too large", HttpStatusCode.UnsupportedMediaType => "Unsupported media type", HttpStatusCode.TooManyRequests => "Too many requests", _ => "Invalid request" }, json["title"]!.GetValue<string>());
        Assert.StartsWith("https://tools.ietf.org/html/rfc9110#section-15.5.", json["type"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(field, json["field"]!.GetValue<string>());
        var errors = json["errors"]!.AsArray();
        Assert.NotEmpty(errors);
        Assert.Equal(field, errors[0]!["field"]!.GetValue<string>());
        Assert.False(string.IsNullOrWhiteSpace(errors[0]!["detail"]!.GetValue<string>()));
        Assert.StartsWith($"{field}: ", json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        return json;
    }

    /// <summary>The entry of a <c>policies</c> list (or of a body's) for one subject and policy.</summary>
    public static JsonObject Policy(JsonNode bodyOrPolicies, string subject, string policy)
    {
        var list = bodyOrPolicies is JsonObject body ? body["policies"]!.AsArray() : bodyOrPolicies.AsArray();
        var matches = list.Where(p => p!["subject"]!.GetValue<string>() == subject && p["policy"]!.GetValue<string>() == policy).ToList();
        Assert.True(matches.Count == 1, $"Expected one policy {subject}/{policy} in {list.ToJsonString()}");
        return matches[0]!.AsObject();
    }

    /// <summary>Whole seconds, rounded up: how the host writes <c>t</c> and <c>Retry-After</c>.</summary>
    public static long CeilingSeconds(long milliseconds) => milliseconds <= 0 ? 0 : (milliseconds + 999) / 1000;
}
