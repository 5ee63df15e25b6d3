using System.Globalization;
using System.Net;
using System.Text;
using Grpc.Net.Client;
using Quota.Server.Rls.Protocol;

namespace Quota.Benchmarks;

/// <summary>
/// <c>rls --http URL --rls URL [--keys N] [--seconds S] [--rounds R] [--inflight 1,64]</c>: Envoy's
/// <c>ShouldRateLimit</c> over gRPC against the same decision over HTTP (<c>POST /v1/acquire</c>), in alternating rounds
/// at each level of calls in flight (median round reported). Both decide one subject with a limit the run cannot reach:
/// a descriptor <c>user=u{i}</c> of domain <c>bench</c> (a bare-key rule, one resource subject per value) and the user
/// <c>rls-bench-{i}</c> (the silo's user limit, set unreachable by silo-start.sh), over the same keys.
/// </summary>
internal static class RlsLoad
{
    public static async Task<int> RunAsync(string[] args)
    {
        var options = new Dictionary<string, string> { ["keys"] = "10000", ["seconds"] = "3", ["rounds"] = "3", ["inflight"] = "1,64" };
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            options[args[i].TrimStart('-')] = args[i + 1];
        }

        var http = new Uri(options["http"]);
        var keys = int.Parse(options["keys"], CultureInfo.InvariantCulture);
        var seconds = double.Parse(options["seconds"], CultureInfo.InvariantCulture);
        var rounds = int.Parse(options["rounds"], CultureInfo.InvariantCulture);
        var inFlight = options["inflight"].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();

        using (var admin = new HttpClient { BaseAddress = http })
        {
            using var content = new StringContent("""{ "descriptors": [ { "key": "user", "rate_limit": { "unit": "minute", "requests_per_unit": 1000000000 } } ] }""", Encoding.UTF8, "application/json");
            using var put = await admin.PutAsync("/v1/admin/domains/bench", content);
            if (!put.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"PUT /v1/admin/domains/bench: {(int)put.StatusCode} {await put.Content.ReadAsStringAsync()}");
            }
        }

        var requests = Enumerable.Range(0, keys).Select(i =>
        {
            var request = new RateLimitRequest { Domain = "bench" };
            var descriptor = new Quota.Server.Rls.Protocol.RateLimitDescriptor();
            descriptor.Entries.Add(new Quota.Server.Rls.Protocol.RateLimitDescriptor.Types.Entry { Key = "user", Value = $"u{i}" });
            request.Descriptors.Add(descriptor);
            return request;
        }).ToArray();
        var bodies = Enumerable.Range(0, keys).Select(i => Encoding.UTF8.GetBytes($"{{\"user\":\"rls-bench-{i}\"}}")).ToArray();
        var acquire = new Uri(http, "/v1/acquire");

        var paths = new List<(string Name, Func<int, Func<int, Task<bool>>> Make)>
        {
            ("ShouldRateLimit, gRPC (HTTP/2)", workers =>
            {
                var channel = GrpcChannel.ForAddress(options["rls"], new GrpcChannelOptions
                {
                    HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, PooledConnectionLifetime = Timeout.InfiniteTimeSpan },
                });
                var client = new RateLimitService.RateLimitServiceClient(channel);
                return async i => (await client.ShouldRateLimitAsync(requests[i])).OverallCode == RateLimitResponse.Types.Code.Ok;
            }),
            ("decision, HTTP/1.1 keep-alive", workers =>
            {
                var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = workers, PooledConnectionLifetime = Timeout.InfiniteTimeSpan });
                return async i =>
                {
                    using var content = new ByteArrayContent(bodies[i]);
                    content.Headers.ContentType = new("application/json");
                    using var response = await client.PostAsync(acquire, content);
                    return response.StatusCode == HttpStatusCode.OK;
                };
            }),
        };

        // Every subject activated once first, so the table measures steady state rather than first activations.
        foreach (var (_, make) in paths)
        {
            var call = make(64);
            await Parallel.ForEachAsync(Enumerable.Range(0, keys), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, _) => await call(i));
        }

        var rows = new List<(string Name, int Workers, LoadResult Result)>();
        foreach (var workers in inFlight)
        {
            var calls = paths.Select(p => (p.Name, Call: p.Make(workers))).ToList();
            var results = calls.ToDictionary(c => c.Name, _ => new List<LoadResult>());
            foreach (var (_, call) in calls)
            {
                await ClosedLoop.MeasureAsync(call, workers, keys, TimeSpan.FromSeconds(1));
            }

            for (var round = 0; round < rounds; round++)
            {
                foreach (var (name, call) in calls)
                {
                    results[name].Add(await ClosedLoop.MeasureAsync(call, workers, keys, TimeSpan.FromSeconds(seconds)));
                }
            }

            foreach (var (name, _) in calls)
            {
                rows.Add((name, workers, results[name].OrderBy(r => r.Rate).ElementAt(rounds / 2)));
            }
        }

        Console.WriteLine("| path | in flight | calls/s | p50 µs | p99 µs | admitted | vs HTTP |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, workers, result) in rows.OrderBy(r => paths.FindIndex(p => p.Name == r.Name)).ThenBy(r => r.Workers))
        {
            var overHttp = rows.First(r => r.Workers == workers && r.Name == paths[1].Name).Result.Rate;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {workers} | {result.Rate:F0} | {result.Micros(0.5):F0} | {result.Micros(0.99):F0} | {result.AdmittedShare:P1} | {result.Rate / overHttp:F2} |"));
        }

        return 0;
    }
}
