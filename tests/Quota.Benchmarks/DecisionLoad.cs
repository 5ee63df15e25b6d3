using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quota.Abstractions;
using Quota.Client;

namespace Quota.Benchmarks;

/// <summary>
/// Closed-loop load against a running silo from this separate process: a bare grain call (the ping grain), a
/// decision through the Orleans client, and a decision over HTTP with keep-alive, at several numbers of callers
/// in flight, over many users. With <c>--tenants N</c> it also configures an upstream of four pooled tokens and N
/// tenants over HTTP (limits far above what the machine reaches) and measures a decision naming a tenant: the
/// tenant's allowance and the choice of a token. Prints a markdown table.
/// </summary>
internal static class DecisionLoad
{
    public static async Task<int> RunAsync(string[] args)
    {
        var options = Parse(args);
        using var host = await BenchClient.StartAsync(options["gateway"]);
        var grains = host.Services.GetRequiredService<IClusterClient>();
        var quota = host.Services.GetRequiredService<IQuotaClient>();
        var users = int.Parse(options["users"], CultureInfo.InvariantCulture);
        var seconds = double.Parse(options["seconds"], CultureInfo.InvariantCulture);
        var inFlight = options["inflight"].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var names = Enumerable.Range(0, users).Select(i => $"bench-user-{i}").ToArray();
        var pings = names.Select(n => grains.GetGrain<IPingGrain>(n)).ToArray();
        var bodies = names.Select(n => Encoding.UTF8.GetBytes($"{{\"user\":\"{n}\"}}")).ToArray();
        var url = new Uri(new Uri(options["http"]), "/v1/acquire");

        var paths = new List<(string Name, Func<int, Func<int, Task<bool>>> Make)>
        {
            // Keyed like the subjects (a string per user), so the two differ only in what the call does.
            // References made once: Orleans 10.4 resolves the interface by reflection in every GetGrain, which Quota's
            // client avoids too (DecisionResults.Grain).
            ("bare grain call (ping)", _ => async i => await pings[i].PingAsync(i) == i),
            ("decision, Orleans client", _ => async i => (await quota.AcquireAsync(new AcquireRequest { User = names[i] })).Allowed),
            ("decision, HTTP keep-alive", workers =>
            {
                var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = workers, PooledConnectionLifetime = Timeout.InfiniteTimeSpan });
                return async i =>
                {
                    using var content = new ByteArrayContent(bodies[i]);
                    content.Headers.ContentType = new("application/json");
                    using var response = await http.PostAsync(url, content);
                    return response.StatusCode == HttpStatusCode.OK;
                };
            }),
        };

        var tenants = int.Parse(options["tenants"], CultureInfo.InvariantCulture);
        if (tenants > 0)
        {
            var tenantNames = await ConfigureTenancyAsync(new Uri(options["http"]), tenants);
            paths.Add(("decision with a tenant (token choice), Orleans client", _ => async i => (await quota.AcquireAsync(new AcquireRequest { Tenant = tenantNames[i % tenants] })).Token is not null));
            foreach (var tenant in tenantNames)
            {
                await quota.AcquireAsync(new AcquireRequest { Tenant = tenant });
            }
        }

        // --only TEXT keeps the paths whose name contains TEXT (e.g. "Orleans client"), for a profile of one path.
        if (options.TryGetValue("only", out var only))
        {
            paths.RemoveAll(p => !p.Name.Contains(only, StringComparison.OrdinalIgnoreCase));
        }

        // Activate every grain once first, so the table measures steady state rather than first activations. The
        // acquire takes one permit: with durable counters (PostgreSQL mode) a subject's first grant of a period waits
        // for its first checkpoint, a one-off cost that run-durable.sh reports separately.
        await Parallel.ForEachAsync(Enumerable.Range(0, users), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, _) =>
        {
            await grains.GetGrain<IPingGrain>(names[i]).PingAsync(i);
            await quota.AcquireAsync(new AcquireRequest { User = names[i], Cost = 1 });
        });

        // The machine is shared and noisy: paths are measured in alternating rounds at each level and the median
        // round is reported, so every path sees the same background load.
        var rounds = int.Parse(options["rounds"], CultureInfo.InvariantCulture);
        var rows = new List<(string Name, int Workers, (double Rate, double P50, double P99, double AdmittedShare) Result)>();
        foreach (var workers in inFlight)
        {
            var calls = paths.Select(p => (p.Name, Call: p.Make(workers))).ToList();
            var results = calls.ToDictionary(c => c.Name, _ => new List<(double Rate, double P50, double P99, double AdmittedShare)>());
            foreach (var (_, call) in calls)
            {
                await MeasureAsync(call, workers, users, TimeSpan.FromSeconds(1));
            }

            for (var round = 0; round < rounds; round++)
            {
                foreach (var (name, call) in calls)
                {
                    results[name].Add(await MeasureAsync(call, workers, users, TimeSpan.FromSeconds(seconds)));
                }
            }

            foreach (var (name, _) in calls)
            {
                rows.Add((name, workers, results[name].OrderBy(r => r.Rate).ElementAt(rounds / 2)));
            }
        }

        Console.WriteLine($"| path | in flight | decisions/s | p50 µs | p99 µs | admitted | vs bare call |");
        Console.WriteLine($"|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, workers, result) in rows.OrderBy(r => paths.FindIndex(p => p.Name == r.Name)).ThenBy(r => r.Workers))
        {
            var bare = rows.First(r => r.Workers == workers && r.Name == paths[0].Name).Result.Rate;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {workers} | {result.Rate:F0} | {result.P50:F0} | {result.P99:F0} | {result.AdmittedShare:P1} | {result.Rate / bare:F2} |"));
        }

        await host.StopAsync();
        return 0;
    }

    private static async Task<(double Rate, double P50, double P99, double AdmittedShare)> MeasureAsync(
        Func<int, Task<bool>> call, int workers, int users, TimeSpan duration)
    {
        var result = await ClosedLoop.MeasureAsync(call, workers, users, duration);
        return (result.Rate, result.Micros(0.50), result.Micros(0.99), result.AdmittedShare);
    }

    /// <summary>
    /// One upstream, <c>bench</c>, with four pooled tokens of a billion a minute, and <paramref name="count"/> tenants
    /// whose reserves together take 80% of the pool: every request is admitted from a reserve, so the figure is the
    /// cost of the path, not of waiting for leases. Through the admin API on the loopback (no admin token).
    /// </summary>
    private static async Task<string[]> ConfigureTenancyAsync(Uri http, int count)
    {
        using var client = new HttpClient { BaseAddress = http };
        async Task PutAsync(string path, string json)
        {
            using var content = new StringContent(json, Encoding.UTF8, "application/json");
            using var response = await client.PutAsync(path, content);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        }

        await PutAsync("/v1/admin/upstreams/bench", "{}");
        for (var t = 1; t <= 4; t++)
        {
            await PutAsync($"/v1/admin/upstreams/bench/tokens/t{t}", "{\"policies\":[{\"name\":\"per-minute\",\"algorithm\":\"sliding-window\",\"limit\":1000000000,\"window\":\"00:01:00\"}]}");
        }

        var reserve = (long)(4 * 950_000_000L * 0.8) / count;
        var names = Enumerable.Range(0, count).Select(i => $"bench-tenant-{i}").ToArray();
        foreach (var name in names)
        {
            await PutAsync($"/v1/admin/tenants/{name}", $"{{\"upstream\":\"bench\",\"reserved\":{reserve}}}");
        }

        return names;
    }

    private static Dictionary<string, string> Parse(string[] args)
    {
        var options = new Dictionary<string, string>
        {
            ["gateway"] = "127.0.0.1:30000",
            ["http"] = "http://127.0.0.1:8080",
            ["users"] = "10000",
            ["seconds"] = "5",
            ["inflight"] = "1,16,64,256",
            ["rounds"] = "3",
            ["tenants"] = "0",
        };
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            options[args[i].TrimStart('-')] = args[i + 1];
        }

        return options;
    }
}
