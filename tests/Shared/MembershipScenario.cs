using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quota.Abstractions;
using Quota.Client;

namespace Quota.Testing;

/// <summary>A change of a cluster's membership made under load.</summary>
public enum MembershipChange
{
    /// <summary>A silo joins.</summary>
    Join,

    /// <summary>A silo leaves gracefully (SIGTERM, as Kubernetes stops a pod).</summary>
    Leave,

    /// <summary>Every silo is replaced one by one: a new one starts, then an old one stops gracefully (maxUnavailable 0).</summary>
    RollingRestart,

    /// <summary>The silo hosting the most user subjects is killed (SIGKILL).</summary>
    Kill,
}

/// <summary>How much load a scenario puts on the cluster and on which keys.</summary>
/// <param name="Silos">Silos before the change.</param>
/// <param name="HotLimit">The limit of each hot key: one daily calendar quota, one hour-long fixed window.</param>
/// <param name="SpreadKeys">Keys the other half of the requests cycle over, each with a daily calendar quota.</param>
/// <param name="SpreadLimit">Each spread key's daily limit.</param>
/// <param name="ClientWorkers">Callers through an Orleans client that follows the cluster (PostgreSQL clustering).</param>
/// <param name="HttpWorkers">Callers over HTTP, each request to a silo in the balancer's rotation.</param>
/// <param name="AnswersBefore">Answers before the change starts.</param>
/// <param name="AnswersAfter">Answers after it has finished.</param>
/// <param name="MinimumAfter">How long the load goes on after the change at least (for the client to learn of a new silo).</param>
/// <param name="GatewayListRefreshPeriod">The client's <c>Quota:Client:GatewayListRefreshPeriod</c>; null keeps its default.</param>
public sealed record ScenarioLoad(
    int Silos, int HotLimit, int SpreadKeys, int SpreadLimit, int ClientWorkers, int HttpWorkers, int AnswersBefore, int AnswersAfter,
    TimeSpan MinimumAfter, TimeSpan? GatewayListRefreshPeriod = null);

/// <summary>A key's answers in one of its periods (a fixed window or a calendar day), named by the period's end.</summary>
public sealed record KeyPeriod(string Key, DateTimeOffset Ends, long Admitted, long Denied, long Limit);

/// <summary>What one scenario measured.</summary>
public sealed record ScenarioReport
{
    /// <summary>The change made.</summary>
    public required MembershipChange Change { get; init; }

    /// <summary>Requests answered (admitted or denied).</summary>
    public required long Answered { get; init; }

    /// <summary>Attempts that failed (an exception, a 5xx, no answer); each was retried. By what failed.</summary>
    public required IReadOnlyDictionary<string, int> FailedAttempts { get; init; }

    /// <summary>Requests never answered: still failing when the run ended.</summary>
    public required long Lost { get; init; }

    /// <summary>The longest time one key went without an answer while it was being asked.</summary>
    public required TimeSpan LongestGap { get; init; }

    /// <summary>How long the change took (start to the last silo started or stopped).</summary>
    public required TimeSpan ChangeTook { get; init; }

    /// <summary>Admitted on the daily hot key, its limit, and failed attempts on it that may have taken a permit.</summary>
    public required (long Admitted, long Limit, long Ambiguous) HotDaily { get; init; }

    /// <summary>Admitted on the hour-long fixed-window hot key, its limit, and ambiguous attempts.</summary>
    public required (long Admitted, long Limit, long Ambiguous) HotHour { get; init; }

    /// <summary>The spread keys: admitted in all, the sum of their limits, the most any one admitted over its limit, ambiguous attempts.</summary>
    public required (long Admitted, long Limit, double WorstRatio, long Ambiguous) Spread { get; init; }

    /// <summary>Every key's admitted count with its limit and the attempts on it that may have taken a permit.</summary>
    public required IReadOnlyList<(string Key, long Admitted, long Limit, long Ambiguous)> Keys { get; init; }

    /// <summary>
    /// Every key's answers by the period they were decided in (a run can cross a UTC hour or midnight, where the hot hour's
    /// fixed window or a daily quota starts again from zero), each with the key's limit.
    /// </summary>
    public required IReadOnlyList<KeyPeriod> Periods { get; init; }

    /// <summary>HTTP requests the new silos answered (join, rolling restart).</summary>
    public required long HttpByNewSilos { get; init; }

    /// <summary>Messages the new silos' gateways received from the Orleans client (join, rolling restart).</summary>
    public required long GatewayMessagesToNewSilos { get; init; }

    /// <summary>Decisions made by subjects hosted on the new silos (join, rolling restart).</summary>
    public required long DecisionsOnNewSilos { get; init; }

    /// <summary>A key's admitted/limit per period, oldest first ("60/60", or "60/60 then 12/60" across a period's end).</summary>
    public string AdmittedByPeriod(string key) =>
        string.Join(" then ", Periods.Where(p => p.Key == key).Select(p => $"{p.Admitted}/{p.Limit}"));

    /// <summary>One line for logs and test output.</summary>
    public override string ToString() =>
        $"{Change}: {Answered} answered, {FailedAttempts.Values.Sum()} failed attempts ({string.Join(", ", FailedAttempts.Select(f => $"{f.Value} x {f.Key}"))}), "
        + $"{Lost} lost; longest gap for one key {LongestGap.TotalMilliseconds:F0} ms; change took {ChangeTook.TotalSeconds:F1} s; "
        + $"hot daily {AdmittedByPeriod(MembershipScenario.HotDailyKey)}, hot hour {AdmittedByPeriod(MembershipScenario.HotHourKey)}, spread {Spread.Admitted}/{Spread.Limit} (worst key {Spread.WorstRatio:F3}); "
        + $"new silos: {HttpByNewSilos} HTTP answers, {GatewayMessagesToNewSilos} client gateway messages, {DecisionsOnNewSilos} decisions";
}

/// <summary>
/// Real silo processes on PostgreSQL under steady load, from an Orleans client that follows the cluster and over HTTP
/// (a balancer's rotation: a silo is added once it answers and removed before it is stopped), on two hot keys (a daily
/// calendar quota and an hour-long fixed window; a run that crosses a UTC hour or midnight sees a new period start from zero), on spread keys, and on new keys; one membership change
/// made midway. Callers retry a failed attempt after its <c>Retry-After</c> (1 s), as the docs ask.
/// </summary>
public sealed class MembershipScenario(string connectionString, IReadOnlyList<string> siloSettings) : IAsyncDisposable
{
    /// <summary>The hot key with a daily calendar quota.</summary>
    public const string HotDailyKey = "hot-daily";

    /// <summary>The hot key with an hour-long fixed window.</summary>
    public const string HotHourKey = "hot-hour";
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(60);

    private readonly List<SiloProcess> _silos = [];
    private readonly Lock _rotationLock = new();
    private SiloProcess[] _rotation = [];

    /// <summary>The cluster id the silos and the client share.</summary>
    public string ClusterId { get; } = $"membership-{Guid.NewGuid():N}";

    /// <summary>Every silo started (running or not).</summary>
    public IReadOnlyList<SiloProcess> Silos => _silos;

    /// <summary>Runs <paramref name="change"/> under <paramref name="load"/>; <paramref name="log"/> hears progress.</summary>
    public async Task<ScenarioReport> RunAsync(MembershipChange change, ScenarioLoad load, Action<string>? log = null)
    {
        log ??= _ => { };
        for (var i = 0; i < load.Silos; i++)
        {
            AddToRotation(await StartSiloAsync());
        }

        var first = _silos[0];
        await PutPoliciesAsync(first.Http, HotDailyKey, new { name = "daily", algorithm = "calendar", limit = load.HotLimit, period = "day", timeZone = "UTC" });
        await PutPoliciesAsync(first.Http, HotHourKey, new { name = "hour", algorithm = "fixed-window", limit = load.HotLimit, window = "01:00:00" });
        for (var k = 0; k < load.SpreadKeys; k++)
        {
            await PutPoliciesAsync(first.Http, SpreadKey(k), new { name = "daily", algorithm = "calendar", limit = load.SpreadLimit, period = "day", timeZone = "UTC" });
        }

        using var client = await StartClientAsync(load.GatewayListRefreshPeriod);
        var quota = client.Services.GetRequiredService<IQuotaClient>();
        var keys = new[] { HotDailyKey, HotHourKey }.Concat(Enumerable.Range(0, load.SpreadKeys).Select(SpreadKey)).ToArray();
        var state = new LoadState(keys);
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, load.ClientWorkers).Select(_ => Task.Run(() => ClientWorkerAsync(quota, state, clock, stop.Token)))
            .Concat(Enumerable.Range(0, load.HttpWorkers).Select(w => Task.Run(() => HttpWorkerAsync(w, state, clock, stop.Token))))
            .ToArray();

        await WaitForAnswersAsync(state, load.AnswersBefore, workers);
        log($"{change}: {state.Answered} answered before the change");
        var before = _silos.ToList();
        var changeClock = Stopwatch.StartNew();
        await ChangeAsync(change, load, log);
        var changeTook = changeClock.Elapsed;
        var newSilos = _silos.Except(before).ToList();
        var baselines = new Dictionary<SiloProcess, (long Gateway, long Decisions)>();
        var afterChange = Stopwatch.StartNew();
        await WaitForAnswersAsync(state, state.Answered + load.AnswersAfter, workers);
        if (load.MinimumAfter > afterChange.Elapsed)
        {
            // Load, not synchronisation: the run goes on for as long as asked.
            await Task.Delay(load.MinimumAfter - afterChange.Elapsed);
        }

        await stop.CancelAsync();
        await Task.WhenAll(workers);

        long gateway = 0, decisions = 0;
        foreach (var silo in newSilos.Where(s => !s.HasExited))
        {
            var text = await silo.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            gateway += Sum(text, "orleans_gateway_received");
            decisions += Sum(text, "quota_decisions_total");
        }

        var spread = keys.Skip(2).Select(k => (Admitted: state.Admitted[k], Ambiguous: state.Ambiguous[k])).ToList();
        return new ScenarioReport
        {
            Change = change,
            Answered = state.Answered,
            FailedAttempts = state.Failures.ToDictionary(f => f.Key, f => f.Value),
            Lost = Interlocked.Read(ref state.Lost),
            LongestGap = TimeSpan.FromTicks(Interlocked.Read(ref state.LongestGapTicks)),
            ChangeTook = changeTook,
            HotDaily = (state.Admitted[HotDailyKey], load.HotLimit, state.Ambiguous[HotDailyKey]),
            HotHour = (state.Admitted[HotHourKey], load.HotLimit, state.Ambiguous[HotHourKey]),
            Spread = (spread.Sum(s => s.Admitted), (long)load.SpreadLimit * load.SpreadKeys,
                spread.Count == 0 ? 0 : spread.Max(s => (double)s.Admitted / load.SpreadLimit), spread.Sum(s => s.Ambiguous)),
            Keys = [.. keys.Select(k => (k, state.Admitted[k], LimitOf(k, load), state.Ambiguous[k]))],
            Periods = [.. state.Periods.Where(p => keys.Contains(p.Key.Key)).OrderBy(p => p.Key.Key, StringComparer.Ordinal).ThenBy(p => p.Key.Ends)
                .Select(p => new KeyPeriod(p.Key.Key, p.Key.Ends, p.Value.Admitted, p.Value.Denied, LimitOf(p.Key.Key, load)))],
            HttpByNewSilos = newSilos.Sum(s => state.HttpAnswersBy.GetValueOrDefault(s)),
            GatewayMessagesToNewSilos = gateway,
            DecisionsOnNewSilos = decisions,
        };
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos)
        {
            await silo.DisposeAsync();
        }
    }

    private static string SpreadKey(int k) => $"spread-{k}";

    private static long LimitOf(string key, ScenarioLoad load) => key.StartsWith("hot-", StringComparison.Ordinal) ? load.HotLimit : load.SpreadLimit;

    /// <summary>
    /// The end of the period a decision was made in, from its <c>resetAfterMs</c>: every key's periods end on a whole UTC
    /// minute (an hour's fixed window, a UTC day), and an answer takes far less than half a minute to arrive.
    /// </summary>
    private static DateTimeOffset? PeriodEnd(long? resetAfterMs)
    {
        if (resetAfterMs is not { } ms)
        {
            return null;
        }

        var end = DateTimeOffset.UtcNow.AddMilliseconds(ms).Ticks + (TimeSpan.TicksPerMinute / 2);
        return new DateTimeOffset(end - (end % TimeSpan.TicksPerMinute), TimeSpan.Zero);
    }

    private async Task ChangeAsync(MembershipChange change, ScenarioLoad load, Action<string> log)
    {
        switch (change)
        {
            case MembershipChange.Join:
                AddToRotation(await StartSiloAsync());
                log("joined");
                break;
            case MembershipChange.Leave:
                await StopAsync(_silos[^1]);
                log("left");
                break;
            case MembershipChange.RollingRestart:
                foreach (var old in _silos.Take(load.Silos).ToList())
                {
                    AddToRotation(await StartSiloAsync());
                    await StopAsync(old);
                    log($"replaced {old.BaseAddress}");
                }

                break;
            case MembershipChange.Kill:
                var hosted = await Task.WhenAll(_silos.Select(s => ActiveUsersAsync(s)));
                var victim = _silos[Array.IndexOf(hosted, hosted.Max())];
                RemoveFromRotation(victim);
                await victim.KillAsync();
                log($"killed the silo hosting {hosted.Max()} user subjects");
                break;
        }
    }

    private async Task<SiloProcess> StartSiloAsync()
    {
        var silo = await SiloProcess.StartAsync(siloSettings, ClusterId);
        _silos.Add(silo);
        return silo;
    }

    private async Task StopAsync(SiloProcess silo)
    {
        // A balancer stops sending once readiness fails; the silo drains what is in flight.
        RemoveFromRotation(silo);
        await silo.StopGracefullyAsync(TimeSpan.FromSeconds(90));
    }

    private void AddToRotation(SiloProcess silo)
    {
        lock (_rotationLock)
        {
            _rotation = [.. _rotation, silo];
        }
    }

    private void RemoveFromRotation(SiloProcess silo)
    {
        lock (_rotationLock)
        {
            _rotation = [.. _rotation.Where(s => !ReferenceEquals(s, silo))];
        }
    }

    private async Task<IHost> StartClientAsync(TimeSpan? refresh)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        var settings = new Dictionary<string, string?>
        {
            ["Quota:Client:Clustering"] = "postgres",
            ["ConnectionStrings:Quota"] = connectionString,
            ["Quota:Client:ClusterId"] = ClusterId,
        };
        if (refresh is { } period)
        {
            settings["Quota:Client:GatewayListRefreshPeriod"] = period.ToString("c", CultureInfo.InvariantCulture);
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.AddQuotaClient();
        var host = builder.Build();
        using var start = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await host.StartAsync(start.Token);
        return host;
    }

    private static async Task WaitForAnswersAsync(LoadState state, long answers, Task[] workers)
    {
        // Waits on the load's own progress; a worker that failed ends the wait with its exception.
        while (state.Answered < answers)
        {
            if (workers.FirstOrDefault(w => w.IsFaulted) is { } failed)
            {
                await failed;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
    }

    private static async Task ClientWorkerAsync(IQuotaClient quota, LoadState state, Stopwatch clock, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var key = state.NextKey();
            var asked = clock.Elapsed;
            while (true)
            {
                try
                {
                    var answer = await quota.AcquireAsync(new AcquireRequest { User = key }, CancellationToken.None);
                    state.Answer(key, answer.Allowed, clock.Elapsed, PeriodEnd(answer.ResetAfterMs));
                    break;
                }
                catch (QuotaUnavailableException e)
                {
                    state.Fail(key, $"client {e.InnerException?.GetType().Name}", e.MayHaveBeenDecided);

                    // Retried as a caller would, even once the load has stopped (the silos are still up until every
                    // worker returns): lost means no answer within GiveUpAfter, not a failure that fell at the end.
                    if (clock.Elapsed - asked > GiveUpAfter)
                    {
                        Interlocked.Increment(ref state.Lost);
                        break;
                    }

                    await Task.Delay(e.RetryAfter, CancellationToken.None);
                }
            }
        }
    }

    private async Task HttpWorkerAsync(int worker, LoadState state, Stopwatch clock, CancellationToken stop)
    {
        var random = new Random(worker);
        while (!stop.IsCancellationRequested)
        {
            var key = state.NextKey();
            var asked = clock.Elapsed;
            while (true)
            {
                var rotation = Volatile.Read(ref _rotation);
                var silo = rotation[random.Next(rotation.Length)];
                var (outcome, retryAfter, resetAfterMs) = await HttpAcquireAsync(silo.Http, key);
                if (outcome is "admitted" or "denied")
                {
                    state.Answer(key, outcome == "admitted", clock.Elapsed, PeriodEnd(resetAfterMs));
                    state.HttpAnswersBy.AddOrUpdate(silo, 1, (_, n) => n + 1);
                    break;
                }

                // Refused before anything was decided (shed while stopping) is not ambiguous; anything else may have been.
                state.Fail(key, $"http {outcome}", mayHaveBeenDecided: outcome != "503 stopping");
                if (clock.Elapsed - asked > GiveUpAfter)
                {
                    Interlocked.Increment(ref state.Lost);
                    break;
                }

                await Task.Delay(retryAfter, CancellationToken.None);
            }
        }
    }

    private static async Task<(string Outcome, TimeSpan RetryAfter, long? ResetAfterMs)> HttpAcquireAsync(HttpClient http, string user)
    {
        try
        {
            using var response = await http.PostAsJsonAsync(new Uri("/v1/acquire", UriKind.Relative), new { user });
            var retryAfter = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
            switch (response.StatusCode)
            {
                case HttpStatusCode.OK or HttpStatusCode.TooManyRequests:
                    // A decision's body carries resetAfterMs; a 429 refused before deciding (a problem detail) has none.
                    using (var decision = JsonDocument.Parse(await response.Content.ReadAsStringAsync()))
                    {
                        var reset = decision.RootElement.TryGetProperty("resetAfterMs", out var value) ? value.GetInt64() : (long?)null;
                        return (response.StatusCode == HttpStatusCode.OK ? "admitted" : "denied", TimeSpan.Zero, reset);
                    }

                case HttpStatusCode.ServiceUnavailable:
                    var body = await response.Content.ReadAsStringAsync();
                    return (body.Contains("temporary-reduced-capacity", StringComparison.Ordinal) ? "503 stopping" : "503 failover", retryAfter, null);
                default:
                    return ($"{(int)response.StatusCode}", retryAfter, null);
            }
        }
        catch (HttpRequestException e)
        {
            return ($"no answer ({e.HttpRequestError})", TimeSpan.FromSeconds(1), null);
        }
        catch (TaskCanceledException)
        {
            return ("no answer (timeout)", TimeSpan.FromSeconds(1), null);
        }
    }

    private static async Task PutPoliciesAsync(HttpClient http, string user, params object[] policies)
    {
        using var response = await http.PutAsJsonAsync(new Uri($"/v1/admin/users/{user}", UriKind.Relative), new { policies });
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"PUT user {user} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>User subjects active on the silo, from its <c>quota_subjects_active{kind="user"}</c> series.</summary>
    public static async Task<long> ActiveUsersAsync(SiloProcess silo)
    {
        var text = await silo.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        return Sum(text, "quota_subjects_active{", "kind=\"user\"");
    }

    /// <summary>The sum of every series of <paramref name="metric"/> in Prometheus text (with <paramref name="label"/> if given).</summary>
    public static long Sum(string text, string metric, string? label = null) =>
        text.Split('\n')
            .Where(l => l.StartsWith(metric, StringComparison.Ordinal) && (label is null || l.Contains(label, StringComparison.Ordinal)))
            .Sum(l => (long)double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    /// <summary>The load's counts, shared by every worker.</summary>
    private sealed class LoadState
    {
        private readonly string[] _keys;
        private readonly ConcurrentDictionary<string, long> _lastAnswerTicks = new();
        private long _next;
        private long _answered;

        public LoadState(string[] keys)
        {
            _keys = keys;
            foreach (var key in keys)
            {
                Admitted[key] = 0;
                Ambiguous[key] = 0;
            }
        }

        public long Lost;
        public long LongestGapTicks;

        public ConcurrentDictionary<string, long> Admitted { get; } = new();

        public ConcurrentDictionary<string, long> Ambiguous { get; } = new();

        public ConcurrentDictionary<string, int> Failures { get; } = new();

        /// <summary>Admitted and denied answers by key and the end of the period they were decided in.</summary>
        public ConcurrentDictionary<(string Key, DateTimeOffset Ends), (long Admitted, long Denied)> Periods { get; } = new();

        public ConcurrentDictionary<SiloProcess, long> HttpAnswersBy { get; } = new();

        public long Answered => Interlocked.Read(ref _answered);

        /// <summary>
        /// A quarter of the requests on each hot key, three eighths cycling over the spread keys, and one in eight on a key
        /// never asked before (new users arriving, with the default user policy): an Orleans client keeps sending a grain's
        /// calls through the gateway it first used, so only new keys, and keys whose gateway went away, can reach a silo
        /// that joined.
        /// </summary>
        public string NextKey()
        {
            var n = Interlocked.Increment(ref _next);
            if (n % 8 == 7)
            {
                return $"fresh-{n}";
            }

            return (n % 4) switch
            {
                0 => _keys[0],
                1 => _keys[1],
                // Requests 2 and 3 of every four take the next two spread keys, so each spread key is asked in turn.
                var spread => _keys.Length > 2 ? _keys[2 + (int)(((n / 4 * 2) + spread - 2) % (_keys.Length - 2))] : _keys[0],
            };
        }

        public void Answer(string key, bool admitted, TimeSpan at, DateTimeOffset? periodEnd)
        {
            if (admitted)
            {
                Admitted.AddOrUpdate(key, 1, (_, n) => n + 1);
            }

            if (periodEnd is { } ends)
            {
                (long, long) One() => admitted ? (1, 0) : (0, 1);
                Periods.AddOrUpdate((key, ends), _ => One(), (_, n) => admitted ? (n.Admitted + 1, n.Denied) : (n.Admitted, n.Denied + 1));
            }

            Interlocked.Increment(ref _answered);
            var previous = _lastAnswerTicks.GetOrAdd(key, at.Ticks);
            _lastAnswerTicks[key] = Math.Max(previous, at.Ticks);
            var gap = at.Ticks - previous;
            long longest;
            while (gap > (longest = Interlocked.Read(ref LongestGapTicks)) && Interlocked.CompareExchange(ref LongestGapTicks, gap, longest) != longest)
            {
            }
        }

        public void Fail(string key, string what, bool mayHaveBeenDecided)
        {
            Failures.AddOrUpdate(what, 1, (_, n) => n + 1);
            if (mayHaveBeenDecided)
            {
                Ambiguous.AddOrUpdate(key, 1, (_, n) => n + 1);
            }
        }
    }
}
