using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Quota.Benchmarks;

/// <summary>
/// HTTP load for issue 16's overload and stop figures (run-overload.sh, run-stop.sh), against a running silo, each
/// caller on a keep-alive connection of its own.
/// <list type="bullet">
/// <item><c>overload --http URL --connections N[,M] --seconds S</c>: a closed loop of <c>POST /v1/acquire</c> over many
/// users, the callers split evenly between the four priorities; per priority: answers, the share shed (503), and the
/// latency of the decided (200/429) and of the shed, and how long the generator's own work waited for a thread; with
/// <c>--retry-after honour</c> a shed caller waits <c>Retry-After</c> before its next call, as a well-behaved client does
/// (<c>ignore</c>, the script's default, sends it at once).</item>
/// <item><c>stop --http URL --connections N --waiters W --pid P --after S</c>: N callers in a loop (W of them waiting on
/// the configured concurrency resource <c>slots</c>, held by the first), SIGTERM to P after S seconds; each caller
/// goes on until a connection is refused (nobody listens any more), waiting <c>Retry-After</c> after an answer that
/// carries one (<c>--retry-after ignore</c> sends the next request at once). Counts every request by what it got: a complete
/// answer by status, refused before it was sent, or sent and never answered (reset, cut, or timed out).</item>
/// </list>
/// </summary>
internal static class OverloadLoad
{
    private static readonly string[] Priorities = ["low", "normal", "high", "critical"];

    // What an overload call came to: decided (200 or 429), shed (503), or anything else (another status, no answer).
    private const int Decided = 0;
    private const int Shed = 1;
    private const int Failed = 2;

    public static async Task<int> RunAsync(string[] args)
    {
        var options = Parse(args);
        var url = new Uri(new Uri(options["http"]), "/v1/acquire");
        return options["mode"] switch
        {
            "overload" => await OverloadAsync(url, options),
            "stop" => await StopAsync(url, options),
            var other => throw new ArgumentException($"unknown mode {other}"),
        };
    }

    private static async Task<int> OverloadAsync(Uri url, Dictionary<string, string> options)
    {
        var seconds = double.Parse(options["seconds"], CultureInfo.InvariantCulture);
        var warmup = double.Parse(options["warmup"], CultureInfo.InvariantCulture);
        var users = int.Parse(options["users"], CultureInfo.InvariantCulture);
        var honourRetryAfter = options["retry-after"] == "honour";
        Console.WriteLine("| connections | priority | answers | decided/s | shed | decided p50 ms | decided p99 ms | shed p99 ms | errors | generator queue p99 ms |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var connections in options["connections"].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)))
        {
            using var http = Client(connections);
            var bodies = Enumerable.Range(0, users * Priorities.Length)
                .Select(i => Encoding.UTF8.GetBytes($"{{\"user\":\"ol-{i / Priorities.Length}\",\"priority\":\"{Priorities[i % Priorities.Length]}\"}}"))
                .ToArray();

            // Caller w asks at priority w % 4 for a random user; a shed answer's Retry-After is the pause before its
            // next call when the callers honour it.
            async Task<(int Outcome, TimeSpan Pause)> CallAsync(int w, int user)
            {
                try
                {
                    using var content = new ByteArrayContent(bodies[(user * Priorities.Length) + (w % Priorities.Length)]);
                    content.Headers.ContentType = new("application/json");
                    using var response = await http.PostAsync(url, content);
                    _ = await response.Content.ReadAsByteArrayAsync();
                    return response.StatusCode switch
                    {
                        HttpStatusCode.OK or HttpStatusCode.TooManyRequests => (Decided, TimeSpan.Zero),
                        HttpStatusCode.ServiceUnavailable => (Shed, honourRetryAfter ? response.Headers.RetryAfter?.Delta ?? TimeSpan.Zero : TimeSpan.Zero),
                        _ => (Failed, TimeSpan.Zero),
                    };
                }
                catch (HttpRequestException)
                {
                    return (Failed, TimeSpan.Zero);
                }
            }

            // The generator shares the machine: how long its own work waits for a thread is part of every latency it
            // reports, so it is measured too (a no-op work item every 10 ms, from a thread of its own).
            var generatorQueue = new LatencyHistogram();
            using var stopProbing = new ManualResetEventSlim();
            var probing = new Thread(() =>
            {
                using var ran = new ManualResetEventSlim();
                while (!stopProbing.Wait(10))
                {
                    ran.Reset();
                    var sent = Stopwatch.GetTimestamp();
                    ThreadPool.UnsafeQueueUserWorkItem(_ => { generatorQueue.Record(Stopwatch.GetTimestamp() - sent); ran.Set(); }, null);
                    ran.Wait();
                }
            }) { IsBackground = true, Name = "generator queue probe" };
            probing.Start();
            var run = await ClosedLoop.RunAsync(
                CallAsync, static answer => answer.Outcome, connections, users, outcomes: 3, TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(warmup),
                pauseAfter: static answer => answer.Pause);
            stopProbing.Set();
            probing.Join();
            for (var p = 0; p <= Priorities.Length; p++)
            {
                var priority = p;
                Func<int, bool>? callers = p == Priorities.Length ? null : w => w % Priorities.Length == priority;
                var d = run.Latencies(Decided, callers);
                var s = run.Latencies(Shed, callers);
                var e = run.Latencies(Failed, callers).Count;
                var answers = d.Count + s.Count;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {connections} | {(p == Priorities.Length ? "all" : Priorities[p])} | {answers} | {d.Count / run.Seconds:F0} | {(answers == 0 ? 0 : 100.0 * s.Count / answers):F1}% | {Ms(d, 0.5):F1} | {Ms(d, 0.99):F1} | {Ms(s, 0.99):F1} | {e} | {Ms(generatorQueue, 0.99):F1} |"));
            }
        }

        return 0;
    }

    private static async Task<int> StopAsync(Uri url, Dictionary<string, string> options)
    {
        var connections = int.Parse(options["connections"], CultureInfo.InvariantCulture);
        var waiters = int.Parse(options["waiters"], CultureInfo.InvariantCulture);
        var pid = int.Parse(options["pid"], CultureInfo.InvariantCulture);
        var after = TimeSpan.FromSeconds(double.Parse(options["after"], CultureInfo.InvariantCulture));
        var honourRetryAfter = options["retry-after"] == "honour";
        using var http = Client(connections);
        var wait = Encoding.UTF8.GetBytes("{\"resources\":[\"slots\"],\"maxWaitMs\":20000}");
        var statuses = new System.Collections.Concurrent.ConcurrentDictionary<int, long>();
        long refused = 0, unanswered = 0, connectionClose = 0;
        long lastAnswer = 0;
        var unansweredKinds = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        using var giveUp = new CancellationTokenSource(after + TimeSpan.FromSeconds(60));
        async Task WorkAsync(int w)
        {
            var random = new Random(w);
            while (!giveUp.IsCancellationRequested)
            {
                var body = w < waiters ? wait : Encoding.UTF8.GetBytes($"{{\"user\":\"stop-{random.Next(10_000)}\"}}");
                try
                {
                    using var content = new ByteArrayContent(body);
                    content.Headers.ContentType = new("application/json");
                    using var response = await http.PostAsync(url, content, giveUp.Token);
                    _ = await response.Content.ReadAsByteArrayAsync(giveUp.Token);
                    statuses.AddOrUpdate((int)response.StatusCode, 1, (_, n) => n + 1);
                    Interlocked.Exchange(ref lastAnswer, Stopwatch.GetTimestamp());
                    if (response.Headers.ConnectionClose == true)
                    {
                        Interlocked.Increment(ref connectionClose);
                    }

                    if (response.StatusCode == HttpStatusCode.ServiceUnavailable && response.Headers.RetryAfter?.Delta is { } retryAfter && honourRetryAfter)
                    {
                        // As a well-behaved client does: the next request after Retry-After.
                        await Task.Delay(retryAfter, giveUp.Token);
                    }
                }
                catch (HttpRequestException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
                {
                    // Nobody listens: this request was never sent. The silo is gone (or going); this caller is done.
                    Interlocked.Increment(ref refused);
                    return;
                }
                catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
                {
                    Interlocked.Increment(ref unanswered);
                    unansweredKinds.AddOrUpdate($"{e.GetType().Name}: {e.InnerException?.Message ?? e.Message}", 1, (_, n) => n + 1);
                }
            }
        }

        // The waiters first, so the first takes the only slot and the rest queue behind it.
        var workers = Enumerable.Range(0, connections).Select(w => Task.Run(() => WorkAsync(w))).ToArray();
        await Task.Delay(after);
        var sent = Stopwatch.GetTimestamp();
        if (SendSignal(pid, 15) != 0)
        {
            throw new InvalidOperationException($"kill -TERM {pid} failed ({Marshal.GetLastPInvokeError()})");
        }

        await Task.WhenAll(workers);
        var last = Interlocked.Read(ref lastAnswer);
        Console.WriteLine($"answered: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}"))}");
        Console.WriteLine($"answered with Connection: close: {connectionClose}");
        Console.WriteLine($"refused before sending (nobody listening): {refused}");
        Console.WriteLine($"sent and never answered: {unanswered}");
        foreach (var (kind, count) in unansweredKinds)
        {
            Console.WriteLine($"  {count} x {kind}");
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"last answer {(last - sent) * 1000.0 / Stopwatch.Frequency:F0} ms after SIGTERM"));
        return 0;
    }

    private static HttpClient Client(int connections) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = connections,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        ConnectTimeout = TimeSpan.FromSeconds(30),
    })
    {
        Timeout = TimeSpan.FromSeconds(60),
    };

    private static double Ms(LatencyHistogram histogram, double q) => histogram.Quantile(q) * 1000.0 / Stopwatch.Frequency;

#pragma warning disable SYSLIB1054 // a plain import suffices for one signal.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
#pragma warning restore SYSLIB1054

    private static Dictionary<string, string> Parse(string[] args)
    {
        var options = new Dictionary<string, string>
        {
            ["mode"] = args.Length > 0 ? args[0] : "overload",
            ["http"] = "http://127.0.0.1:18080",
            ["connections"] = "1000,3000",
            ["seconds"] = "10",
            ["warmup"] = "3",
            ["users"] = "10000",
            ["waiters"] = "20",
            ["after"] = "3",
            ["pid"] = "0",
            ["retry-after"] = "honour",
        };
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            options[args[i].TrimStart('-')] = args[i + 1];
        }

        return options;
    }
}
