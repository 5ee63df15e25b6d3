using System.Globalization;
using System.Net;
using System.Text;
using Quota.Abstractions;
using Quota.Client;

namespace Quota.Benchmarks.Compare;

/// <summary>
/// The subjects the comparison asks Quota about. The silo run-compare.sh starts gives them their policies: every user
/// a sliding window of the throughput limit, the resource patterns <c>bench-a:*</c> and <c>bench-b:*</c> each their
/// own, and <c>bench-acc:*</c> a sliding log of the accuracy limit per hour.
/// </summary>
internal static class QuotaSubjects
{
    /// <summary>Users of the distinct-keys and three-limit workloads: <c>bench-user-{i}</c>.</summary>
    public static string User(int i) => string.Create(CultureInfo.InvariantCulture, $"bench-user-{i}");

    /// <summary>The hot key's user.</summary>
    public const string HotUser = "bench-hot";

    /// <summary>The first resource of the three-limit request (pattern <c>bench-a:*</c>).</summary>
    public static string ResourceA(int i) => string.Create(CultureInfo.InvariantCulture, $"bench-a:{i}");

    /// <summary>The second resource of the three-limit request (pattern <c>bench-b:*</c>).</summary>
    public static string ResourceB(int i) => string.Create(CultureInfo.InvariantCulture, $"bench-b:{i}");

    /// <summary>A fresh accuracy resource (pattern <c>bench-acc:*</c>) for one path and round.</summary>
    public static string Accuracy(string path, string scope, string run) => $"bench-acc:{path}-{scope}-{run}";
}

/// <summary>Quota through its Orleans client: <see cref="IQuotaClient.AcquireAsync"/> from this process to the silo.</summary>
internal sealed class QuotaOrleansSystem(IQuotaClient quota, CompareSettings settings, string run) : IComparedSystem
{
    private readonly AcquireRequest[] _users = [.. Enumerable.Range(0, settings.Keys).Select(i => new AcquireRequest { User = QuotaSubjects.User(i) })];
    private readonly AcquireRequest[] _threes = [.. Enumerable.Range(0, settings.Keys).Select(i => new AcquireRequest
    {
        User = QuotaSubjects.User(i),
        Resources = [QuotaSubjects.ResourceA(i), QuotaSubjects.ResourceB(i)],
    })];

    private readonly AcquireRequest _hot = new() { User = QuotaSubjects.HotUser };

    public string Id => "quota-orleans";

    public string Name => "Quota, Orleans client";

    public string ShortName => "Quota Orleans";

    public string Description =>
        "IQuotaClient.AcquireAsync from the harness process to a separate silo process (embedded default: memory storage), "
        + "the client AddQuotaClient makes (its defaults: above 8 decisions in flight, single-subject decisions that do not "
        + "wait go in batches, one message per batch to a coordinator grain that asks each subject). "
        + "Keys: user bench-user-{i} with a sliding window (two buckets) of the throughput limit; hot key: user bench-hot; three "
        + "limits: the user and resources bench-a:{i}, bench-b:{i}, each pattern with its own sliding window, decided all or "
        + "nothing by a coordinator grain; accuracy: resource bench-acc:… with a sliding log of L per hour.";

    public async Task PrepareAsync()
    {
        // The three-limit request activates the user and both resources; the hot user once.
        await Parallel.ForEachAsync(_threes, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (request, _) => Require(await quota.AcquireAsync(request), request));
        Require(await quota.AcquireAsync(_hot), _hot);
    }

    public async Task<Caller> OpenAsync(Workload workload, int inFlight, string scope)
    {
        switch (workload)
        {
            case Workload.DistinctKeys:
                return new Caller(async i => Admitted(await quota.AcquireAsync(_users[i]), _users[i]));
            case Workload.HotKey:
                return new Caller(async _ => Admitted(await quota.AcquireAsync(_hot), _hot));
            case Workload.ThreeLimits:
                return new Caller(async i => Admitted(await quota.AcquireAsync(_threes[i]), _threes[i]));
            case Workload.Accuracy:
                var request = new AcquireRequest { Resources = [QuotaSubjects.Accuracy("orleans", scope, run)] };

                // A peek (cost 0) takes nothing: it proves the silo gives the accuracy pattern the limit the harness reports.
                var peek = await quota.AcquireAsync(request with { Cost = 0 });
                if (peek.Limit != settings.AccuracyLimit || peek.Remaining != settings.AccuracyLimit)
                {
                    throw new InvalidOperationException(
                        $"Quota's accuracy resource {request.Resources[0]} has limit {peek.Limit} and {peek.Remaining} remaining; the harness "
                        + $"expects a fresh sliding log of {settings.AccuracyLimit}. Pass the same limit to the silo "
                        + "(Quota:Policies:Resources for bench-acc:*) and to --accuracy-limit.");
                }

                return new Caller(async _ => Admitted(await quota.AcquireAsync(request), request));
            default:
                throw new ArgumentOutOfRangeException(nameof(workload), workload, "not a workload");
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static void Require(AcquireResult result, AcquireRequest request)
    {
        if (!Admitted(result, request))
        {
            throw new InvalidOperationException($"Quota denied a first request ({result.LimitedBy}): the throughput limits must be far above what the run reaches.");
        }
    }

    /// <summary>A grant or a denial; anything else is a broken set-up, not a decision.</summary>
    private static bool Admitted(AcquireResult result, AcquireRequest request) => result.Outcome switch
    {
        DecisionOutcome.Allowed => true,
        DecisionOutcome.Denied => false,
        _ => throw new InvalidOperationException(
            $"Quota answered {result.Outcome} for user {request.User}, resources [{string.Join(", ", request.Resources ?? [])}]: "
            + $"{result.Problem?.Field}: {result.Problem?.Detail}. Is the silo configured as run-compare.sh configures it?"),
    };
}

/// <summary>
/// A limiter over HTTP: <c>POST /v1/acquire</c> with the same JSON body, keep-alive, one connection per caller; 200 is a
/// grant, 429 a denial. Quota's silo (<see cref="Quota"/>) or the minimal ASP.NET Core service in front of Redis
/// (<see cref="RedisFront"/>, <see cref="Redis"/>): the same client, bodies and connections for both.
/// </summary>
internal sealed class HttpSystem(Uri baseAddress, CompareSettings settings, string run, string id, string name, string shortName, string description) : IComparedSystem
{
    private readonly Uri _acquire = new(baseAddress, "/v1/acquire");
    private readonly byte[][] _users = [.. Enumerable.Range(0, settings.Keys).Select(i => Json($"{{\"user\":\"{QuotaSubjects.User(i)}\"}}"))];
    private readonly byte[][] _threes = [.. Enumerable.Range(0, settings.Keys).Select(i =>
        Json($"{{\"user\":\"{QuotaSubjects.User(i)}\",\"resources\":[\"{QuotaSubjects.ResourceA(i)}\",\"{QuotaSubjects.ResourceB(i)}\"]}}"))];

    private readonly byte[] _hot = Json($"{{\"user\":\"{QuotaSubjects.HotUser}\"}}");
    private HttpClient? _http;
    private int _httpConnections;

    /// <summary>Quota's silo over HTTP.</summary>
    public static HttpSystem Quota(Uri baseAddress, CompareSettings settings, string run) => new(
        baseAddress, settings, run, "quota-http", "Quota, HTTP", "Quota HTTP",
        "POST /v1/acquire with a JSON body to the same silo (Kestrel, keep-alive, one HttpClient connection per caller); "
        + "200 is a grant, 429 a denial. The same subjects and policies as the Orleans client, with RateLimit headers and "
        + "policy states in every answer.");

    /// <summary>The minimal ASP.NET Core service in front of Redis + Lua (<see cref="RedisFront"/>, its own process).</summary>
    public static HttpSystem Redis(Uri baseAddress, CompareSettings settings, string run) => new(
        baseAddress, settings, run, "redis-http", "ASP.NET Core + Redis + Lua, HTTP", "Redis HTTP",
        "POST /v1/acquire with the same JSON body to a minimal ASP.NET Core service (slim builder, source-generated JSON, "
        + "no logging; `redis-front` in the harness, its own process) that runs one EVALSHA of Compare/gcra.lua over every "
        + "key the body names (the accuracy resources: Compare/sliding-log.lua, an exact limit) through one multiplexed "
        + "StackExchange.Redis connection and answers 200 {\"allowed\":true} or 429: no RateLimit headers, no policy states.");

    public string Id => id;

    public string Name => name;

    public string ShortName => shortName;

    public string Description => description;

    public async Task PrepareAsync()
    {
        // The grains are the Orleans client's (same silo); this proves the route answers.
        using var http = new HttpClient();
        if (!await PostAsync(http, _hot))
        {
            throw new InvalidOperationException($"POST {_acquire} for {QuotaSubjects.HotUser} was denied: the throughput limits must be far above what the run reaches.");
        }
    }

    public Task<Caller> OpenAsync(Workload workload, int inFlight, string scope)
    {
        var http = Client(inFlight);
        var accuracy = Json($"{{\"resources\":[\"{QuotaSubjects.Accuracy(id, scope, run)}\"]}}");
        Func<int, Task<bool>> call = workload switch
        {
            Workload.DistinctKeys => i => PostAsync(http, _users[i]),
            Workload.HotKey => _ => PostAsync(http, _hot),
            Workload.ThreeLimits => i => PostAsync(http, _threes[i]),
            Workload.Accuracy => _ => PostAsync(http, accuracy),
            _ => throw new ArgumentOutOfRangeException(nameof(workload), workload, "not a workload"),
        };
        return Task.FromResult(new Caller(call));
    }

    public ValueTask DisposeAsync()
    {
        _http?.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// A client of at most <paramref name="connections"/> connections, kept while the number of callers stays the same
    /// (the rounds of a point, the accuracy rounds' fresh keys) so a round does not begin by opening connections.
    /// </summary>
    private HttpClient Client(int connections)
    {
        if (_http is not null && _httpConnections == connections)
        {
            return _http;
        }

        _http?.Dispose();
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = Timeout.InfiniteTimeSpan });
        _httpConnections = connections;
        return _http;
    }

    private async Task<bool> PostAsync(HttpClient http, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("application/json");
        using var response = await http.PostAsync(_acquire, content);
        return response.StatusCode switch
        {
            HttpStatusCode.OK => true,
            HttpStatusCode.TooManyRequests => false,
            _ => throw new InvalidOperationException(
                $"POST {_acquire} {Encoding.UTF8.GetString(body)} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}"),
        };
    }

    private static byte[] Json(string text) => Encoding.UTF8.GetBytes(text);
}
