using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Quota.Integrations.Tests.Infrastructure;

namespace Quota.Integrations.Tests;

/// <summary>
/// samples/Quota.Samples.WebApi as its README runs it: two real instances against one real silo, GET /hello limited by
/// the cluster's default user policy (100 a minute, sliding window) for the user in X-User.
/// </summary>
public sealed partial class SampleWebApiTests(QuotaClusterFixture fixture) : IClassFixture<QuotaClusterFixture>, IAsyncLifetime
{
    private SampleProcess? _first;
    private SampleProcess? _second;

    public async ValueTask InitializeAsync()
    {
        var cluster = fixture.Cluster;
        // Fail closed with a long decision timeout: on a loaded machine a slow answer must not pass as the cluster being
        // unreachable (failing open would admit beyond the limit, and these tests count exactly).
        string[] settings = ["--Quota:RateLimiting:WhenUnreachable=FailClosed", "--Quota:RateLimiting:DecisionTimeout=00:00:30"];
        var starting = new[] { SampleProcess.StartAsync(cluster.Gateway, cluster.ClusterId, settings), SampleProcess.StartAsync(cluster.Gateway, cluster.ClusterId, settings) };
        var started = await Task.WhenAll(starting);
        (_first, _second) = (started[0], started[1]);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var sample in new[] { _first, _second })
        {
            if (sample is not null)
            {
                await sample.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task TwoInstancesAdmitExactlyTheUserLimitTogetherUnder256ConcurrentCallers()
    {
        await OutsideAWindowEdgeAsync();
        var user = $"crowd-{Guid.NewGuid():N}";
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 256 };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };

        // 256 callers, each asking twice, alternating between the two instances: 512 requests for a limit of 100.
        var callers = Enumerable.Range(0, 256).Select(i => Task.Run(async () =>
        {
            var codes = new List<HttpStatusCode>(2);
            for (var call = 0; call < 2; call++)
            {
                var target = (i + call) % 2 == 0 ? _first! : _second!;
                using var request = Hello(target, user);
                using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
                codes.Add(response.StatusCode);
            }

            return codes;
        })).ToArray();
        var all = (await Task.WhenAll(callers)).SelectMany(c => c).ToList();

        Assert.Equal(100, all.Count(c => c == HttpStatusCode.OK));
        Assert.Equal(412, all.Count(c => c == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    public async Task AdmittedAnswersCarryTheRateLimitFieldsAndRefusalsAProblemWithRetryAfter()
    {
        await OutsideAWindowEdgeAsync();
        var user = $"headers-{Guid.NewGuid():N}";
        using var http = new HttpClient();

        using var first = await http.SendAsync(Hello(_first!, user), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal($"Hello, {user}!", await first.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal($"\"user:{user}/per-minute\";q=100;w=60", Header(first, "RateLimit-Policy"));
        var state = StateField().Match(Header(first, "RateLimit"));
        Assert.True(state.Success, Header(first, "RateLimit"));
        Assert.Equal(user, state.Groups["user"].Value);
        Assert.Equal(99, int.Parse(state.Groups["r"].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.InRange(int.Parse(state.Groups["t"].Value, System.Globalization.CultureInfo.InvariantCulture), 1, 120);
        Assert.False(first.Headers.Contains("Retry-After"));

        // The other instance takes the rest of the minute's 100.
        for (var i = 0; i < 99; i++)
        {
            using var admitted = await http.SendAsync(Hello(_second!, user), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, admitted.StatusCode);
        }

        using var refused = await http.SendAsync(Hello(_first!, user), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Equal($"\"user:{user}/per-minute\";q=100;w=60", Header(refused, "RateLimit-Policy"));
        var refusedState = StateField().Match(Header(refused, "RateLimit"));
        Assert.Equal("0", refusedState.Groups["r"].Value);

        using var body = JsonDocument.Parse(await refused.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var problem = body.RootElement;
        Assert.Equal(429, problem.GetProperty("status").GetInt32());
        Assert.Equal("https://www.rfc-editor.org/rfc/rfc6585#section-4", problem.GetProperty("type").GetString());
        Assert.Equal("Too many requests", problem.GetProperty("title").GetString());
        Assert.Equal($"user:{user}/per-minute", problem.GetProperty("limitedBy").GetString());
        Assert.Equal("/hello", problem.GetProperty("instance").GetString());
        var retryAfterMs = problem.GetProperty("retryAfterMs").GetInt64();
        // The user's sliding window: 100 taken in the current bucket weigh 99 only 600 ms into the next one (CI: 60,249).
        Assert.InRange(retryAfterMs, 1, 60_600);
        var seconds = (retryAfterMs + 999) / 1000;
        Assert.Equal(seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), Header(refused, "Retry-After"));
        Assert.Equal($"user:{user}/per-minute admits no more now; retry after {seconds} s.", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task ARequestNamingNoUserIsRefusedWithAProblemNamingTheHeader()
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(_first!.BaseAddress, "/hello"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(400, body.RootElement.GetProperty("status").GetInt32());
        Assert.EndsWith("This endpoint's Quota policy reads its subjects from: header X-User.", body.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static HttpRequestMessage Hello(SampleProcess sample, string user)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(sample.BaseAddress, "/hello"));
        request.Headers.Add("X-User", user);
        return request;
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(", ", values) : $"(no {name} field)";

    /// <summary>
    /// The user policy's sliding window is aligned to UTC minutes: a burst crossing a boundary may legitimately be
    /// admitted a little more than 100 (the previous minute's weight falls as the new one goes on). Starting in the
    /// first 45 seconds of a minute keeps these bursts (a few seconds) inside one.
    /// </summary>
    private static async Task OutsideAWindowEdgeAsync()
    {
        var now = DateTimeOffset.UtcNow;
        if (now.Second >= 45)
        {
            await Task.Delay(TimeSpan.FromSeconds(60 - now.Second) - TimeSpan.FromMilliseconds(now.Millisecond) + TimeSpan.FromMilliseconds(100));
        }
    }

    [GeneratedRegex("^\"user:(?<user>[^/]+)/per-minute\";r=(?<r>\\d+);t=(?<t>\\d+)$")]
    private static partial Regex StateField();
}
