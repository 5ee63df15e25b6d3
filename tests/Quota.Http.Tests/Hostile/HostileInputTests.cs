using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using CsCheck;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests.Hostile;

/// <summary>
/// The shipped host with an admin token, short waits and a small body limit, for the hostile-input suite alone: its
/// requests change configuration at random, so no other test shares its state.
/// </summary>
public sealed class HostileSilo : SiloFixture
{
    public const string Token = "quota-hostile-admin-token-5b2f9e";

    protected override IEnumerable<string> Settings =>
    [
        $"--Quota:Admin:Token={Token}",
        "--Quota:Decisions:MaxWait=00:00:01",
        "--Quota:Http:MaxBodyBytes=4096",
    ];

    protected override string? Authorization => $"Bearer {Token}";
}

/// <summary>
/// Property-based requests against every route of the real silo over HTTP (<see cref="HostileRequests"/>): whatever
/// is sent, no answer is a 5xx, none hangs, every refusal is a problem detail saying what is wrong, a refused request
/// changes no configuration, and the silo logs no error for a client's mistake. CI runs a fixed seed and a bounded
/// count; <c>QUOTA_HOSTILE_ITERATIONS</c> and <c>QUOTA_HOSTILE_SEED</c> (a CsCheck seed, or <c>random</c>) run longer or other samples (docs/operations.md).
/// </summary>
public sealed class HostileInputTests(HostileSilo host) : HostTest(host), IClassFixture<HostileSilo>
{
    /// <summary>CsCheck's seed for CI's sample: fixed, so a red run is reproducible.</summary>
    private const string CiSeed = "8q7oyCxXv5a1";

    private const int CiIterations = 1000;

    /// <summary>The longest any answer may take: waits are capped at 1 s on this host.</summary>
    private static readonly TimeSpan NoHang = TimeSpan.FromSeconds(15);

    private readonly HttpClient _http = new() { BaseAddress = host.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };

    [Fact]
    public async Task NoRequestGetsAServerErrorAHangOrAChangeWhenRefused()
    {
        var iterations = long.TryParse(Environment.GetEnvironmentVariable("QUOTA_HOSTILE_ITERATIONS"), out var n) ? n : CiIterations;
        var seed = Environment.GetEnvironmentVariable("QUOTA_HOSTILE_SEED") switch
        {
            null or "" => CiSeed,
            "random" => null,
            var given => given,
        };
        var logMark = host.Host.Output.Count;
        var state = await SnapshotAsync();
        var answered = new Dictionary<int, int>();

        await HostileRequests.Request.SampleAsync(
            async request =>
            {
                var (status, mediaType, body) = await SendAsync(request);
                answered[status] = answered.GetValueOrDefault(status) + 1;
                Assert.True(status < 500, $"{request} answered {status}: {body}");
                if (status >= 400)
                {
                    if (RejectedByKestrel(request, status, body))
                    {
                        return;
                    }

                    AssertProblem(request, status, mediaType, body);
                    var after = await SnapshotAsync();
                    Assert.True(after == state, $"{request} was refused with {status} but changed the configuration:{Environment.NewLine}before: {state}{Environment.NewLine}after:  {after}");
                }
                else
                {
                    state = await SnapshotAsync();
                }
            },
            seed: seed,
            iter: iterations,
            threads: 1,
            print: r => r.ToString());

        var errors = host.Host.Output.Skip(logMark).Where(line => line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 0, $"The silo logged errors for clients' mistakes:{Environment.NewLine}{string.Join(Environment.NewLine, errors.Take(20))}");

        // The sample must reach past the first check: refusals of several kinds and some admitted requests.
        TestContext.Current.TestOutputHelper?.WriteLine($"answers by status: {string.Join(", ", answered.OrderBy(a => a.Key).Select(a => $"{a.Key}: {a.Value}"))}");
        Assert.Contains(200, answered.Keys);
        Assert.Contains(400, answered.Keys);
        Assert.Contains(404, answered.Keys);
    }

    private async Task<(int Status, string? MediaType, string Body)> SendAsync(HostileRequest request)
    {
        using var message = new HttpRequestMessage(request.Method, new Uri(request.Path, UriKind.Relative));
        message.Headers.TryAddWithoutValidation("Authorization", $"Bearer {HostileSilo.Token}");
        if (request.Body is { } bytes)
        {
            message.Content = new ByteArrayContent(bytes);
            if (request.ContentType is { } type)
            {
                message.Content.Headers.TryAddWithoutValidation("Content-Type", type);
            }
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(NoHang);
        try
        {
            using var response = await _http.SendAsync(message, timeout.Token);
            return ((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync(timeout.Token));
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            Assert.Fail($"{request} got no answer within {NoHang.TotalSeconds} s.");
            throw;
        }
    }

    /// <summary>
    /// A request line Kestrel refuses before any of Quota's code runs, answering it bare itself: 400 for a NUL in the
    /// decoded path, 414 for a request line over its 8 KB limit. No middleware sees these, so none can make them problem
    /// details; nothing reached the silo, so nothing changed.
    /// </summary>
    private static bool RejectedByKestrel(HostileRequest request, int status, string body) => body.Length == 0 && status switch
    {
        400 => request.Path.Contains("%00", StringComparison.Ordinal),
        414 => request.Path.Length > 8 * 1024,
        _ => false,
    };

    /// <summary>An RFC 9457 problem whose status is the response's, with a title and a detail saying what is wrong.</summary>
    private static void AssertProblem(HostileRequest request, int status, string? mediaType, string body)
    {
        Assert.True(mediaType == "application/problem+json", $"{request} was refused with {status} as {mediaType ?? "no content type"}, not a problem detail: {body}");
        var problem = JsonNode.Parse(body)!.AsObject();
        Assert.Equal(status, problem["status"]!.GetValue<int>());
        Assert.False(string.IsNullOrWhiteSpace(problem["title"]?.GetValue<string>()), $"{request}: a problem without a title: {body}");
        Assert.False(string.IsNullOrWhiteSpace(problem["detail"]?.GetValue<string>()), $"{request}: a problem without a detail: {body}");
        if (status == 400)
        {
            Assert.False(string.IsNullOrWhiteSpace(problem["field"]?.GetValue<string>()), $"{request}: a 400 that names no field: {body}");
        }
    }

    /// <summary>
    /// What the configuration is now: the change log's newest entry (every admin change is recorded) and every
    /// list the admin API has.
    /// </summary>
    private async Task<string> SnapshotAsync()
    {
        var parts = new List<string>();
        foreach (var path in new[] { "/v1/admin/changes?limit=1", "/v1/admin/users", "/v1/admin/keys", "/v1/admin/resources", "/v1/admin/upstreams", "/v1/admin/tenants" })
        {
            using var message = new HttpRequestMessage(HttpMethod.Get, path);
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", HostileSilo.Token);
            using var response = await _http.SendAsync(message, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
            parts.Add(path switch
            {
                "/v1/admin/changes?limit=1" => json["changes"]!.AsArray().FirstOrDefault()?["sequence"]?.ToJsonString() ?? "none",
                "/v1/admin/upstreams" => string.Join(",", json["upstreams"]!.AsArray().Select(u => u!["name"]!.ToJsonString())),
                "/v1/admin/tenants" => string.Join(",", json["tenants"]!.AsArray().Select(t => t!["id"]!.ToJsonString())),
                _ => json.ToJsonString(),
            });
        }

        return string.Join(" | ", parts);
    }
}
