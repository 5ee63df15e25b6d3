using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Quota.Abstractions;
using Quota.Client;

namespace Quota.Benchmarks;

/// <summary>
/// What borrowing costs (issue 21), against a running silo from this separate process through the Orleans client:
/// the latency of the request that finds its tenant's reserve used up (with on-demand borrowing it waits for the
/// borrow and is admitted; without, it is denied at once) next to the request before it (served from the reserve),
/// over many fresh tenants one at a time; and decisions per second of a saturated tenant (its pool fully lent, every
/// request denied) at 1 and 16 in flight. Prints a markdown table. Options: <c>--reserve N</c> (each tenant's reserve,
/// 1), <c>--second no</c> (skip the second request, so no borrow), <c>--pause-ms N</c> (a pause after each second request).
/// </summary>
internal static class BorrowLoad
{
    public static async Task<int> RunAsync(string[] args)
    {
        var options = new Dictionary<string, string> { ["gateway"] = "127.0.0.1:30000", ["http"] = "http://127.0.0.1:8080", ["tenants"] = "400", ["seconds"] = "3", ["reserve"] = "1", ["second"] = "yes", ["pause-ms"] = "0" };
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            options[args[i].TrimStart('-')] = args[i + 1];
        }

        using var host = await BenchClient.StartAsync(options["gateway"]);
        var quota = host.Services.GetRequiredService<IQuotaClient>();
        var count = int.Parse(options["tenants"], CultureInfo.InvariantCulture);
        var seconds = double.Parse(options["seconds"], CultureInfo.InvariantCulture);
        using var http = new HttpClient { BaseAddress = new Uri(options["http"]) };
        var run = Guid.NewGuid().ToString("N")[..6];
        var pause = TimeSpan.FromMilliseconds(int.Parse(options["pause-ms"], CultureInfo.InvariantCulture));

        // Many tenants with a reserve of 1 on a pool far larger than they use: each one's second request borrows.
        var upstream = $"borrow-{run}";
        await PutAsync(http, $"/v1/admin/upstreams/{upstream}", "{}");
        await PutAsync(http, $"/v1/admin/upstreams/{upstream}/tokens/t1", "{\"policies\":[{\"name\":\"per-minute\",\"algorithm\":\"sliding-window\",\"limit\":1000000000,\"window\":\"00:01:00\"}]}");
        var tenants = Enumerable.Range(0, count).Select(i => $"borrow-{run}-{i}").ToArray();
        foreach (var tenant in tenants)
        {
            await PutAsync(http, $"/v1/admin/tenants/{tenant}", $"{{\"upstream\":\"{upstream}\",\"reserved\":{int.Parse(options["reserve"], CultureInfo.InvariantCulture)}}}");
        }

        // Activated (a peek takes nothing) and idle, their first refresh answered.
        foreach (var tenant in tenants)
        {
            await quota.AcquireAsync(new AcquireRequest { Tenant = tenant, Cost = 0 });
        }

        await Task.Delay(TimeSpan.FromSeconds(2));
        var fromReserve = new List<double>();
        var triggering = new List<double>();
        var admitted = 0;
        foreach (var tenant in tenants)
        {
            var started = Stopwatch.GetTimestamp();
            await quota.AcquireAsync(new AcquireRequest { Tenant = tenant });
            fromReserve.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
            if (options["second"] != "yes")
            {
                continue;
            }

            started = Stopwatch.GetTimestamp();
            admitted += (await quota.AcquireAsync(new AcquireRequest { Tenant = tenant })).Allowed ? 1 : 0;
            triggering.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
            if (pause > TimeSpan.Zero)
            {
                // Isolates what a borrow sets off from the next tenant's request.
                await Task.Delay(pause);
            }
        }

        // A saturated tenant: one token of 100 a minute (95 usable), a reserve of 10, the rest lent to it and used.
        var satUpstream = $"sat-{run}";
        var sat = $"sat-{run}";
        await PutAsync(http, $"/v1/admin/upstreams/{satUpstream}", "{}");
        await PutAsync(http, $"/v1/admin/upstreams/{satUpstream}/tokens/t1", "{\"policies\":[{\"name\":\"per-minute\",\"algorithm\":\"sliding-log\",\"limit\":100,\"window\":\"00:01:00\"}]}");
        await PutAsync(http, $"/v1/admin/tenants/{sat}", $"{{\"upstream\":\"{satUpstream}\",\"reserved\":10}}");
        for (var i = 0; i < 200; i++)
        {
            await quota.AcquireAsync(new AcquireRequest { Tenant = sat });
        }

        Console.WriteLine($"| measure | figure |");
        Console.WriteLine($"|---|---:|");
        Console.WriteLine($"| request served from the reserve, p50 / p99 µs ({count} tenants, 1 in flight) | {Percentile(fromReserve, 0.5):F0} / {Percentile(fromReserve, 0.99):F0} |");
        Console.WriteLine($"| next request, reserve used up, p50 / p99 µs | {Percentile(triggering, 0.5):F0} / {Percentile(triggering, 0.99):F0} |");
        Console.WriteLine($"| next request admitted | {admitted} of {count} |");
        foreach (var workers in new[] { 1, 16 })
        {
            var result = await ClosedLoop.MeasureAsync(async _ => (await quota.AcquireAsync(new AcquireRequest { Tenant = sat })).Allowed, workers, 1, TimeSpan.FromSeconds(seconds));
            Console.WriteLine($"| saturated tenant, {workers} in flight: decisions/s (admitted share) | {result.Rate:F0} ({result.AdmittedShare:P1}) |");
        }

        await host.StopAsync();
        return 0;
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
    }

    private static async Task PutAsync(HttpClient client, string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await client.PutAsync(path, content);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }
}
