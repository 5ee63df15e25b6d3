using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Quota.Cli;

/// <summary>One answer of the service: status and body as received.</summary>
internal sealed class ApiResponse(int status, string? reason, string body, string method, string path)
{
    private JsonNode? _node;
    private bool _parsed;

    public int Status { get; } = status;

    public string? Reason { get; } = reason;

    public string Body { get; } = body;

    public string Method { get; } = method;

    public string Path { get; } = path;

    public bool IsSuccess => Status is >= 200 and < 300;

    /// <summary>The body as JSON; null when empty or not JSON.</summary>
    public JsonNode? Json
    {
        get
        {
            if (!_parsed)
            {
                _parsed = true;
                try
                {
                    _node = Body.Length == 0 ? null : JsonNode.Parse(Body);
                }
                catch (JsonException)
                {
                    _node = null;
                }
            }

            return _node;
        }
    }
}

/// <summary>
/// The connection to one Quota service: its base address, the admin token (sent as a bearer token, never printed)
/// and where output goes.
/// </summary>
internal sealed class Session : IDisposable
{
    private readonly HttpClient _http;
    private readonly string? _token;

    private Session(Uri baseUrl, string? token, Output output, TimeSpan timeout)
    {
        BaseUrl = baseUrl;
        _token = token;
        Output = output;
        Timeout = timeout;
        _http = new HttpClient { Timeout = timeout };
        _http.DefaultRequestHeaders.UserAgent.Add(UserAgent);
    }

    private static ProductInfoHeaderValue UserAgent => new("quota-cli", typeof(Session).Assembly.GetName().Version?.ToString(3) ?? "0");

    /// <summary>The service's address, ending with '/'.</summary>
    public Uri BaseUrl { get; }

    /// <summary>Whether an admin token will be sent.</summary>
    public bool HasToken => _token is not null;

    public Output Output { get; }

    public TimeSpan Timeout { get; }

    /// <summary>The address as shown to people: scheme, host, port and path, never user info.</summary>
    public string DisplayUrl => BaseUrl.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped).TrimEnd('/');

    public static Session Open(string url, string? token, Output output, TimeSpan timeout)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new UsageException($"'{url}' is not an http:// or https:// address; set --url or QUOTA_URL, e.g. {GlobalOptions.DefaultUrl}.");
        }

        if (!uri.AbsolutePath.EndsWith('/'))
        {
            uri = new UriBuilder(uri) { Path = uri.AbsolutePath + "/" }.Uri;
        }

        return new Session(uri, token, output, timeout);
    }

    /// <summary>
    /// How a command ends on an answer: on success <paramref name="render"/> draws it (the raw JSON with
    /// <c>--json</c>), exit code 0; on an error answer its problem details go to stderr, exit code 2.
    /// </summary>
    public int Show(ApiResponse response, Action<JsonNode?> render) =>
        response.IsSuccess ? Output.Done(response, render) : Fail(response);

    /// <summary>An error answer: its problem details on stderr with a hint about the token where one helps. Exit code 2.</summary>
    public int Fail(ApiResponse response) => Output.Fail(response, this);

    /// <summary>Escapes one path segment (names contain ':', keys are hex).</summary>
    public static string Segment(string value) => Uri.EscapeDataString(value);

    public Task<ApiResponse> GetAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Get, path, null, ct);

    public Task<ApiResponse> DeleteAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Delete, path, null, ct);

    public Task<ApiResponse> SendJsonAsync(HttpMethod method, string path, JsonNode body, CancellationToken ct) =>
        SendAsync(method, path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), ct);

    public Task<ApiResponse> SendJsonAsync(HttpMethod method, string path, string json, CancellationToken ct) =>
        SendAsync(method, path, new StringContent(json, Encoding.UTF8, "application/json"), ct);

    /// <summary>Sends a request to <paramref name="path"/> (relative to the base address, no leading '/').</summary>
    public async Task<ApiResponse> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, new Uri(BaseUrl, path)) { Content = content };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/problem+json"));
        if (_token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        }

        using var response = await _http.SendAsync(request, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        return new ApiResponse((int)response.StatusCode, response.ReasonPhrase, body, method.Method, "/" + path);
    }

    /// <summary>
    /// A client for many requests in flight to this service at once (<c>bench</c>): keep-alive connections, up to
    /// <paramref name="connections"/> of them, so every worker keeps its own; the same address, timeout, user agent
    /// and admin token as this session. Requests name paths relative to <see cref="BaseUrl"/>. The caller disposes it.
    /// </summary>
    public HttpClient CreatePooledClient(int connections)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(connections, 1);
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            UseCookies = false,
        };
        var client = new HttpClient(handler, disposeHandler: true) { BaseAddress = BaseUrl, Timeout = Timeout };
        client.DefaultRequestHeaders.UserAgent.Add(UserAgent);
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/problem+json"));
        if (_token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        }

        return client;
    }

    /// <summary>The message when the service cannot be reached.</summary>
    public string Unreachable(string why) =>
        $"cannot reach Quota at {DisplayUrl}: {why}. Start a silo with 'dotnet run --project silo' or set --url / QUOTA_URL.";

    /// <summary>Why a request failed before any answer, in a few words.</summary>
    public static string Describe(HttpRequestException e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException socket)
            {
                return socket.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connection refused",
                    SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => "host not found",
                    SocketError.TimedOut => "connection timed out",
                    SocketError.NetworkUnreachable or SocketError.HostUnreachable => "network unreachable",
                    SocketError.ConnectionReset => "connection reset",
                    _ => socket.Message,
                };
            }
        }

        return e.HttpRequestError switch
        {
            HttpRequestError.NameResolutionError => "host not found",
            HttpRequestError.SecureConnectionError => "the TLS handshake failed",
            HttpRequestError.ResponseEnded or HttpRequestError.InvalidResponse => "the answer was not HTTP or ended early",
            _ => e.Message.TrimEnd('.'),
        };
    }

    public void Dispose() => _http.Dispose();
}
