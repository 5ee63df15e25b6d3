using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Quota.Samples.Worker;

/// <summary>
/// A small rate-limited HTTP API on 127.0.0.1, standing in for a real upstream such as BaseLinker: each credential
/// (sent as <c>Authorization: Bearer {secret}</c>, an <c>X-Token</c> header or a <c>token</c> query parameter) may make
/// <see cref="Limit"/> requests in any trailing <see cref="Window"/> (an exact sliding log); past that it answers
/// <c>429</c> with <c>Retry-After</c> in whole seconds. An unknown or missing credential gets <c>401</c>. It counts what
/// it received and refused per credential, and can be told to answer the next request on a credential with a 429 or a
/// 5xx (an injected fault).
/// </summary>
public sealed class FakeUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, CredentialLog> _logs;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Fault>> _faults = new(StringComparer.Ordinal);

    private FakeUpstream(WebApplication app, TimeProvider time, IReadOnlyDictionary<string, string> tokens, int limit, TimeSpan window)
    {
        _app = app;
        _time = time;
        Limit = limit;
        Window = window;
        _logs = tokens.ToDictionary(t => t.Value, t => new CredentialLog(t.Key), StringComparer.Ordinal);
    }

    /// <summary>Where it listens, e.g. <c>http://127.0.0.1:40123/</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Requests each credential may make in any trailing <see cref="Window"/>.</summary>
    public int Limit { get; }

    /// <summary>The window of <see cref="Limit"/>.</summary>
    public TimeSpan Window { get; }

    /// <summary>
    /// Starts it on a free loopback port. <paramref name="tokens"/> maps each token id (a label for the counts) to the
    /// secret the upstream accepts for it.
    /// </summary>
    public static async Task<FakeUpstream> StartAsync(IReadOnlyDictionary<string, string> tokens, int limit, TimeSpan window, TimeProvider? time = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var upstream = new FakeUpstream(app, time ?? TimeProvider.System, tokens, limit, window);
        app.Map("/{**path}", upstream.Answer);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        upstream.BaseAddress = new Uri(address.EndsWith('/') ? address : address + "/");
        return upstream;
    }

    /// <summary>The next request made with <paramref name="tokenId"/>'s credential is answered <paramref name="status"/> (with <paramref name="retryAfter"/>, a number of seconds or an HTTP date, when given).</summary>
    public void Inject(string tokenId, int status, string? retryAfter = null) =>
        _faults.GetOrAdd(tokenId, _ => new()).Enqueue(new Fault(status, retryAfter));

    /// <summary>What each token's credential got so far, by token id.</summary>
    public IReadOnlyDictionary<string, TokenCounts> Counts() =>
        _logs.Values.ToDictionary(log => log.TokenId, log => log.Counts());

    /// <summary>Requests with no or an unknown credential so far.</summary>
    public long Unauthorized => Interlocked.Read(ref _unauthorized);

    private long _unauthorized;

    private IResult Answer(HttpContext context)
    {
        var secret = Credential(context.Request);
        if (secret is null || !_logs.TryGetValue(secret, out var log))
        {
            Interlocked.Increment(ref _unauthorized);
            return Results.Problem(statusCode: 401, title: "Unknown credential", detail: "Send a known token as Authorization: Bearer, X-Token or ?token=.");
        }

        if (_faults.TryGetValue(log.TokenId, out var faults) && faults.TryDequeue(out var fault))
        {
            log.Injected(_time.GetUtcNow());
            if (fault.RetryAfter is { } retryAfter)
            {
                context.Response.Headers.RetryAfter = retryAfter;
            }

            return Results.Problem(statusCode: fault.Status, title: "Injected fault");
        }

        var (admitted, retryAfterSeconds) = log.Take(_time.GetUtcNow(), Limit, Window);
        if (!admitted)
        {
            context.Response.Headers.RetryAfter = retryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            return Results.Problem(statusCode: 429, title: "Too many requests", detail: $"At most {Limit} requests per {Window.TotalSeconds} s per token.");
        }

        return Results.Json(new { token = log.TokenId, path = context.Request.Path.Value });
    }

    private static string? Credential(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return authorization["Bearer ".Length..];
        }

        return request.Headers["X-Token"].FirstOrDefault() ?? request.Query["token"].FirstOrDefault();
    }

    /// <summary>Stops listening.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed record Fault(int Status, string? RetryAfter);

    /// <summary>One credential's sliding log and counts; one lock, since requests on one credential are few.</summary>
    private sealed class CredentialLog(string tokenId)
    {
        private readonly Queue<DateTimeOffset> _window = new();
        private readonly List<DateTimeOffset> _admitted = [];
        private long _rejected;
        private readonly List<DateTimeOffset> _injected = [];
        private int _mostInWindow;

        public string TokenId { get; } = tokenId;

        public (bool Admitted, long RetryAfterSeconds) Take(DateTimeOffset now, int limit, TimeSpan window)
        {
            lock (_window)
            {
                while (_window.Count > 0 && _window.Peek() <= now - window)
                {
                    _window.Dequeue();
                }

                if (_window.Count >= limit)
                {
                    _rejected++;
                    return (false, Math.Max(1, (long)Math.Ceiling((_window.Peek() + window - now).TotalSeconds)));
                }

                _window.Enqueue(now);
                _admitted.Add(now);
                _mostInWindow = Math.Max(_mostInWindow, _window.Count);
                return (true, 0);
            }
        }

        public void Injected(DateTimeOffset now)
        {
            lock (_window)
            {
                _injected.Add(now);
            }
        }

        public TokenCounts Counts()
        {
            lock (_window)
            {
                return new TokenCounts(_admitted.Count, _rejected, _injected.Count, _mostInWindow, [.. _admitted], [.. _injected]);
            }
        }
    }
}

/// <summary>What one token's credential got from the fake upstream.</summary>
/// <param name="Admitted">Requests answered 200.</param>
/// <param name="RateLimited">Requests refused 429 because the credential was over its limit (not injected).</param>
/// <param name="Injected">Requests answered with an injected fault.</param>
/// <param name="MostInWindow">The most admitted requests seen in one trailing window.</param>
/// <param name="AdmittedAt">When each admitted request arrived.</param>
/// <param name="InjectedAt">When each injected fault was answered.</param>
public sealed record TokenCounts(long Admitted, long RateLimited, long Injected, int MostInWindow, IReadOnlyList<DateTimeOffset> AdmittedAt, IReadOnlyList<DateTimeOffset> InjectedAt);
