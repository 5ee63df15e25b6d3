using System.Globalization;
using System.Net;

namespace Quota.Benchmarks;

/// <summary>
/// <c>inbound --targets name=URL,... --users N --workers 1,64 --seconds S --rounds R</c>: GET /hello with X-User (one of N
/// users at random) against each running sample web API in a closed loop, targets alternating within each round;
/// prints requests per second and p50/p99 latency per target and caller count (median of the rounds), and each
/// target's added p50 latency and throughput ratio against the last target (the app with no limiter). See run-inbound.sh.
/// </summary>
internal static class InboundLoad
{
    public static async Task<int> RunAsync(string[] args)
    {
        var options = Args(args);
        var targets = options["targets"].Split(',').Select(t => t.Split('=', 2)).Select(p => (Name: p[0], Url: new Uri(p[1]))).ToArray();
        var users = int.Parse(options.GetValueOrDefault("users", "20000"), CultureInfo.InvariantCulture);
        var seconds = double.Parse(options.GetValueOrDefault("seconds", "5"), CultureInfo.InvariantCulture);
        var rounds = int.Parse(options.GetValueOrDefault("rounds", "3"), CultureInfo.InvariantCulture);
        var workerCounts = options.GetValueOrDefault("workers", "1,64").Split(',').Select(w => int.Parse(w, CultureInfo.InvariantCulture)).ToArray();
        var names = Enumerable.Range(0, users).Select(i => $"bench-{i}").ToArray();

        var results = new Dictionary<(string, int), List<(double Rate, double P50, double P99, double Admitted)>>();
        foreach (var workers in workerCounts)
        {
            for (var round = 0; round < rounds; round++)
            {
                foreach (var (name, url) in targets)
                {
                    using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = workers, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
                    using var http = new HttpClient(handler) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
                    var hello = new Uri("/hello", UriKind.Relative);
                    async Task<HttpStatusCode> CallAsync(int worker, int key)
                    {
                        using var request = new HttpRequestMessage(HttpMethod.Get, hello);
                        request.Headers.TryAddWithoutValidation("X-User", names[key]);
                        using var response = await http.SendAsync(request);
                        return response.StatusCode;
                    }

                    var run = await ClosedLoop.RunAsync(CallAsync, static s => s switch { HttpStatusCode.OK => 0, HttpStatusCode.TooManyRequests => 1, _ => 2 },
                        workers, users, outcomes: 3, TimeSpan.FromSeconds(seconds), warmup: TimeSpan.FromSeconds(1));
                    var all = run.Latencies();
                    var result = new LoadResult(all.Count, run.Latencies(outcome: 0).Count, run.Seconds, all);
                    (results.TryGetValue((name, workers), out var list) ? list : results[(name, workers)] = []).Add((result.Rate, result.Micros(0.5), result.Micros(0.99), result.AdmittedShare));
                    Console.WriteLine($"round {round + 1} {name,-15} {workers,3} callers: {result.Rate,8:F0}/s p50 {result.Micros(0.5),8:F0} us p99 {result.Micros(0.99),8:F0} us admitted {result.AdmittedShare:P1}, other {run.Latencies(outcome: 2).Count}");
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine("| limiter | callers | requests/s | p50 µs | p99 µs | added p50 µs vs. none | throughput vs. none |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        var baseline = targets[^1].Name;
        foreach (var workers in workerCounts)
        {
            var none = Median(results[(baseline, workers)]);
            foreach (var (name, _) in targets)
            {
                var m = Median(results[(name, workers)]);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {workers} | {m.Rate:F0} | {m.P50:F0} | {m.P99:F0} | {m.P50 - none.P50:F0} | {m.Rate / none.Rate:F2} |"));
            }
        }

        return 0;
    }

    private static (double Rate, double P50, double P99) Median(List<(double Rate, double P50, double P99, double Admitted)> runs)
    {
        static double Mid(IEnumerable<double> values)
        {
            var sorted = values.Order().ToArray();
            return sorted[sorted.Length / 2];
        }

        return (Mid(runs.Select(r => r.Rate)), Mid(runs.Select(r => r.P50)), Mid(runs.Select(r => r.P99)));
    }

    private static Dictionary<string, string> Args(string[] args)
    {
        var map = new Dictionary<string, string>();
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            map[args[i].TrimStart('-')] = args[i + 1];
        }

        return map;
    }
}
