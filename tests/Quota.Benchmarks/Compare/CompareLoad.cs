using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quota.Client;

namespace Quota.Benchmarks.Compare;

/// <summary>
/// Quota against the alternatives (issue 8; run-compare.sh): the same workloads, side by side in one run, against
/// Quota through its Orleans client and over HTTP (a silo the script started), Redis with a sliding-log and a GCRA Lua
/// script (a server the script started), PostgreSQL with a conditional UPDATE (a throwaway server this process
/// starts), and <c>System.Threading.RateLimiting</c> in this process. The method is DecisionLoad's: a closed loop, a
/// warm-up per system, then alternating rounds across the systems at each point (each round starting with the next
/// system), and the median round by decisions per second reported. Prints markdown tables; writes a JSON file and
/// plots.
/// </summary>
internal static class CompareLoad
{
    /// <summary>Every system's id, in table order.</summary>
    private static readonly string[] AllSystems = ["quota-orleans", "quota-http", "redis-http", "redis-log", "redis-gcra", "postgres", "ratelimiting"];

    public static async Task<int> RunAsync(string[] args)
    {
        var options = Parse(args);
        var settings = new CompareSettings
        {
            Keys = Int(options["keys"]),
            AccuracyLimit = Int(options["accuracy-limit"]),
        };
        var method = new Method(
            TimeSpan.FromSeconds(double.Parse(options["seconds"], CultureInfo.InvariantCulture)),
            Int(options["rounds"]),
            TimeSpan.FromSeconds(double.Parse(options["warmup"], CultureInfo.InvariantCulture)));
        var selected = options["systems"] == "all" ? AllSystems : options["systems"].Split(',');
        if (selected.Except(AllSystems).ToArray() is { Length: > 0 } unknown)
        {
            Console.Error.WriteLine($"Unknown system(s) {string.Join(", ", unknown)}; choose from {string.Join(", ", AllSystems)} or all.");
            return 2;
        }

        var points = options["inflight"].Split(',').Select(n => (Workload.DistinctKeys, Int(n)))
            .Append((Workload.HotKey, Int(options["hot-inflight"])))
            .Append((Workload.ThreeLimits, Int(options["three-inflight"])))
            .Append((Workload.Accuracy, Int(options["accuracy-inflight"])))
            .ToArray();
        var run = Guid.NewGuid().ToString("N")[..8];
        var started = DateTimeOffset.UtcNow;

        IHost? host = null;
        var systems = new List<IComparedSystem>();
        var versions = new Dictionary<string, string>();
        try
        {
            foreach (var id in AllSystems.Intersect(selected))
            {
                Progress($"starting {id}");
                switch (id)
                {
                    case "quota-orleans":
                        host = await BenchClient.StartAsync(options["gateway"]);
                        systems.Add(new QuotaOrleansSystem(host.Services.GetRequiredService<IQuotaClient>(), settings, run));
                        break;
                    case "quota-http":
                        systems.Add(HttpSystem.Quota(new Uri(options["http"]), settings, run));
                        break;
                    case "redis-http":
                        systems.Add(HttpSystem.Redis(new Uri(options["redis-http"]), settings, run));
                        break;
                    case "redis-log":
                    case "redis-gcra":
                        var redis = await RedisSystem.ConnectAsync(options["redis"], id == "redis-log" ? RedisAlgorithm.SlidingLog : RedisAlgorithm.Gcra, settings, run);
                        versions["redis"] = redis.ServerVersion;
                        systems.Add(redis);
                        break;
                    case "postgres":
                        systems.Add(await PostgresSystem.StartAsync(settings, run, options.GetValueOrDefault("pg-pid-file")));
                        break;
                    case "ratelimiting":
                        systems.Add(new RateLimitingSystem(settings));
                        break;
                }
            }

            foreach (var system in systems)
            {
                Progress($"preparing {system.Name}");
                await system.PrepareAsync();
                if (system is PostgresSystem postgres)
                {
                    versions["postgres"] = postgres.ServerVersion;
                }
            }

            var results = new List<PointResult>();
            foreach (var (workload, inFlight) in points)
            {
                results.AddRange(await MeasurePointAsync(systems, workload, inFlight, method, settings));
            }

            var report = new CompareReport(systems, results, settings, method, new RunInfo(
                started,
                Environment.ProcessorCount,
                System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
                options.GetValueOrDefault("commit") ?? "?",
                versions));
            report.WriteMarkdown(Console.Out);
            if (options.GetValueOrDefault("json") is { } json)
            {
                await report.WriteJsonAsync(json);
                Progress($"wrote {json}");
            }

            if (options.GetValueOrDefault("plots") is { } plots)
            {
                foreach (var file in report.WritePlots(plots))
                {
                    Progress($"wrote {file}");
                }
            }

            return 0;
        }
        finally
        {
            foreach (var system in systems)
            {
                await system.DisposeAsync();
            }

            if (host is not null)
            {
                await host.StopAsync();
                host.Dispose();
            }
        }
    }

    /// <summary>
    /// One point (a workload at a number of callers) on every system: a warm-up each, then <see cref="Method.Rounds"/>
    /// rounds in which every system runs once (<see cref="RoundOrder"/>). An accuracy round opens a fresh key for every
    /// system.
    /// </summary>
    private static async Task<IEnumerable<PointResult>> MeasurePointAsync(
        IReadOnlyList<IComparedSystem> systems, Workload workload, int inFlight, Method method, CompareSettings settings)
    {
        var rounds = systems.ToDictionary(s => s, _ => new List<RoundResult>());
        var callers = new Dictionary<IComparedSystem, Caller>();
        foreach (var system in systems)
        {
            Progress($"{Label(workload)} × {inFlight}: warm-up {system.ShortName}");
            if (workload == Workload.Accuracy)
            {
                var warm = await system.OpenAsync(workload, inFlight, "warm");
                await warm.MeasureAsync(inFlight, settings.Keys, method.Warmup);
            }
            else
            {
                callers[system] = await system.OpenAsync(workload, inFlight, "run");
                await callers[system].MeasureAsync(inFlight, settings.Keys, method.Warmup);
            }
        }

        for (var round = 0; round < method.Rounds; round++)
        {
            foreach (var index in RoundOrder(round, systems.Count))
            {
                var system = systems[index];
                RoundResult result;
                if (workload == Workload.Accuracy)
                {
                    var caller = await system.OpenAsync(workload, inFlight, $"r{round}");
                    var load = await caller.MeasureAsync(inFlight, settings.Keys, method.Seconds);
                    var (allowed, note) = caller.Allowance(settings.AccuracyLimit);
                    result = RoundResult.From(load) with { Allowed = allowed, AllowedNote = note };
                }
                else
                {
                    result = RoundResult.From(await callers[system].MeasureAsync(inFlight, settings.Keys, method.Seconds));
                    if (result.Admitted != result.Calls)
                    {
                        Progress($"WARNING: {system.Name} denied {result.Calls - result.Admitted} of {result.Calls} decisions of a throughput workload; "
                            + "its limits are meant to be far above what the run reaches.");
                    }
                }

                rounds[system].Add(result);
                Progress(string.Create(CultureInfo.InvariantCulture,
                    $"{Label(workload)} × {inFlight}: round {round + 1}/{method.Rounds} {system.ShortName}: {result.Rate:N0}/s, p99 {result.P99:N0} µs")
                    + (result.Allowed is { } a ? string.Create(CultureInfo.InvariantCulture, $", admitted {result.Admitted:N0} of {a:N0}") : ""));
            }
        }

        return systems.Select(s => new PointResult(s.Id, workload, inFlight, rounds[s].OrderBy(r => r.Rate).ElementAt(rounds[s].Count / 2), rounds[s]));
    }

    /// <summary>
    /// The order of the systems in round <paramref name="round"/>: it starts with system r (mod n) and runs forwards in
    /// even rounds, backwards in odd ones, so that neither the first place nor the system just before is always the
    /// same (a plain rotation keeps every system after the same one).
    /// </summary>
    public static IEnumerable<int> RoundOrder(int round, int count) =>
        Enumerable.Range(0, count).Select(j => round % 2 == 0 ? (round + j) % count : ((round - j) % count + count) % count);

    /// <summary>A workload as the tables name it.</summary>
    public static string Label(Workload workload) => workload switch
    {
        Workload.DistinctKeys => "distinct keys",
        Workload.HotKey => "hot key",
        Workload.ThreeLimits => "three limits",
        Workload.Accuracy => "accuracy",
        _ => workload.ToString(),
    };

    private static void Progress(string line) => Console.Error.WriteLine($"[compare {DateTime.Now:HH:mm:ss}] {line}");

    private static int Int(string text) => int.Parse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);

    private static Dictionary<string, string> Parse(string[] args)
    {
        var options = new Dictionary<string, string>
        {
            ["gateway"] = "127.0.0.1:30000",
            ["http"] = "http://127.0.0.1:8080",
            ["redis"] = "127.0.0.1:6379",
            ["redis-http"] = "http://127.0.0.1:8079",
            ["keys"] = "10000",
            ["seconds"] = "5",
            ["rounds"] = "5",
            ["warmup"] = "1",
            ["inflight"] = "1,16,64,256",
            ["hot-inflight"] = "256",
            ["three-inflight"] = "64",
            ["accuracy-inflight"] = "256",
            ["accuracy-limit"] = "2000",
            ["systems"] = "all",
        };
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            options[args[i].TrimStart('-')] = args[i + 1];
        }

        return options;
    }
}

/// <summary>How long each measurement runs and how many rounds are taken.</summary>
/// <param name="Seconds">One system's share of one round.</param>
/// <param name="Rounds">Rounds per point; the median is reported.</param>
/// <param name="Warmup">One warm-up per system and point, not reported.</param>
internal sealed record Method(TimeSpan Seconds, int Rounds, TimeSpan Warmup);

/// <summary>One system's measurement in one round.</summary>
internal sealed record RoundResult(double Rate, long Calls, long Admitted, double P50, double P99, double P999)
{
    /// <summary>Accuracy only: what the contract allows for the calls made.</summary>
    public long? Allowed { get; init; }

    /// <summary>Accuracy only: how <see cref="Allowed"/> was counted.</summary>
    public string? AllowedNote { get; init; }

    public static RoundResult From(LoadResult load) =>
        new(load.Rate, load.Calls, load.Admitted, load.Micros(0.50), load.Micros(0.99), load.Micros(0.999));
}

/// <summary>One system at one point: the median round by decisions per second, and every round.</summary>
internal sealed record PointResult(string System, Workload Workload, int InFlight, RoundResult Median, IReadOnlyList<RoundResult> Rounds);

/// <summary>Where and when the run took place.</summary>
internal sealed record RunInfo(DateTimeOffset Started, int Cores, string Os, string Runtime, string Commit, IReadOnlyDictionary<string, string> Versions);
