using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Runtime;
using Quota.Abstractions;
using Quota.Grains;

namespace Quota.Benchmarks;

/// <summary>
/// Bytes of managed heap per idle subject grain: a silo in this process (memory storage, the scheduler off, idle
/// collection an hour away) activates user grains with one policy (a sliding window of 100 a minute), each taking one
/// permit so its window holds state, then measures the heap after full blocking collections. The baseline is the heap
/// after start-up and a warm-up of 1,000 other users, so the figure is what each further grain adds: the activation
/// (Orleans' own bookkeeping included), the grain, its policy and window. Before each measurement the per-minute usage
/// counts are taken as a silo's usage-history writer takes them (this host runs no writer): a real silo has written
/// and forgotten them within minutes of a subject falling idle.
/// </summary>
internal static class MemoryLoad
{
    public static async Task<int> RunAsync(string[] args)
    {
        var counts = (args.SkipWhile(a => a != "--subjects").Skip(1).FirstOrDefault() ?? "100000,1000000")
            .Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).Order().ToArray();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Quota:Scheduler:Enabled"] = "false",
            ["Quota:Policies:Users:0:Name"] = "per-minute",
            ["Quota:Policies:Users:0:Algorithm"] = "sliding-window",
            ["Quota:Policies:Users:0:Limit"] = "100",
            ["Quota:Policies:Users:0:Window"] = "00:01:00",
        });
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(21_113, 40_003);
            silo.AddMemoryGrainStorage("quota");
            silo.UseInMemoryReminderService();
            silo.AddQuotaGrains();
            silo.Configure<GrainCollectionOptions>(options => options.CollectionAge = TimeSpan.FromHours(1));
        });
        using var host = builder.Build();
        await host.StartAsync();
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var usage = host.Services.GetRequiredService<Quota.Grains.Storage.UsageRecorder>();
        if (args.Contains("--ping"))
        {
            // Orleans' own cost of an activation: the smallest grain there is, for comparison.
            Activate = (g, name, i) => g.GetGrain<IPingGrain>(name).PingAsync(i).ContinueWith(static _ => { }, TaskScheduler.Default);
        }

        await ActivateAsync(grains, "warm", 0, 1_000);
        if (args.SkipWhile(a => a != "--refused").Skip(1).FirstOrDefault() is { } refused)
        {
            await RefusedAsync(grains, usage, int.Parse(refused, CultureInfo.InvariantCulture));
            if (args.Contains("--types"))
            {
                PrintTypes(int.Parse(refused, CultureInfo.InvariantCulture));
            }

            await host.StopAsync();
            return 0;
        }

        var baseline = Heap(usage);
        Console.WriteLine("| idle subject grains | managed heap | bytes per grain | activations/s |");
        Console.WriteLine("|---:|---:|---:|---:|");
        var active = 0;
        foreach (var count in counts)
        {
            var started = Stopwatch.GetTimestamp();
            await ActivateAsync(grains, "mem", active, count);
            var rate = (count - active) / Stopwatch.GetElapsedTime(started).TotalSeconds;
            active = count;
            var heap = Heap(usage);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {count:N0} | {heap / 1048576.0:N0} MB | {(heap - baseline) / (double)count:N0} | {rate:N0} |"));
        }

        if (args.Contains("--types"))
        {
            PrintTypes(active);
        }

        await host.StopAsync();
        return 0;
    }

    /// <summary>
    /// What requests anyone can send leave behind (issue 16): <paramref name="requests"/> of each kind, each naming a
    /// subject never seen before, through the client every front door uses; then the subject activations still there and
    /// the heap's growth per request, after the deactivations the requests started have finished (at most 10 s).
    /// </summary>
    private static async Task RefusedAsync(IGrainFactory grains, Quota.Grains.Storage.UsageRecorder usage, int requests)
    {
        var quota = new Quota.Client.QuotaClient(grains);
        (string Name, Func<int, Task> Send)[] kinds =
        [
            ("acquire, unconfigured resource (404)", i => Expect(quota.AcquireAsync(new AcquireRequest { Resources = [$"refused-resource-{i}"] }), DecisionOutcome.UnknownSubject)),
            ("acquire, unregistered API key (404)", i => Expect(quota.AcquireAsync(new AcquireRequest { ApiKey = $"refused-key-{i}" }), DecisionOutcome.UnknownSubject)),
            ("usage read, never-seen user (200)", i => quota.GetUsageAsync(SubjectKind.User, $"refused-reader-{i}")),
            ("peek (cost 0), never-seen user (200)", i => Expect(quota.AcquireAsync(new AcquireRequest { User = $"refused-peek-{i}", Cost = 0 }), DecisionOutcome.Allowed)),
            ("acquire, new user + unconfigured resource (404, user refunded)", i => Expect(quota.AcquireAsync(new AcquireRequest { User = $"refused-pair-{i}", Resources = [$"refused-pair-resource-{i}"] }), DecisionOutcome.UnknownSubject)),
        ];
        Console.WriteLine("| request | requests | subject activations left | managed heap growth | bytes per request | requests/s |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var (name, send) in kinds)
        {
            var activationsBefore = await SubjectActivationsAsync(grains);
            var heapBefore = Heap(usage);
            var started = Stopwatch.GetTimestamp();
            await Parallel.ForEachAsync(Enumerable.Range(0, requests), new ParallelOptions { MaxDegreeOfParallelism = 256 }, async (i, _) => await send(i));
            var rate = requests / Stopwatch.GetElapsedTime(started).TotalSeconds;

            // Deactivations run after the answers: wait (bounded) until they are done, as a silo would be moments later.
            var left = await SubjectActivationsAsync(grains) - activationsBefore;
            for (var waited = 0; left > 0 && waited < 100; waited++)
            {
                await Task.Delay(100);
                left = await SubjectActivationsAsync(grains) - activationsBefore;
            }

            var growth = Heap(usage) - heapBefore;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {requests:N0} | {left:N0} | {growth / 1048576.0:N1} MB | {growth / (double)requests:N0} | {rate:N0} |"));
        }
    }

    private static async Task Expect(Task<AcquireResult> answer, DecisionOutcome expected)
    {
        var result = await answer;
        if (result.Outcome != expected)
        {
            throw new InvalidOperationException($"expected {expected}, got {result.Outcome}");
        }
    }

    /// <summary>User, key and resource activations in this silo, by the management grain.</summary>
    private static async Task<long> SubjectActivationsAsync(IGrainFactory grains) =>
        (await grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics())
            .Where(s => IsType(s.GrainType, "UserGrain")
                || IsType(s.GrainType, "ApiKeyGrain")
                || IsType(s.GrainType, "ResourceGrain"))
            .Sum(s => (long)s.ActivationCount);

    // A statistic names its grain class with its assembly: "Quota.Grains.Subjects.UserGrain,Quota.Grains".
    private static bool IsType(string grainType, string name) =>
        grainType.Split(',')[0].EndsWith("." + name, StringComparison.Ordinal);

    /// <summary>
    /// What the heap holds, by type, from a snapshot of this process (ClrMD): the types with at least one instance per
    /// grain, largest first, to see where a grain's bytes go.
    /// </summary>
    private static void PrintTypes(int grains)
    {
        using var target = Microsoft.Diagnostics.Runtime.DataTarget.CreateSnapshotAndAttach(Environment.ProcessId);
        using var runtime = target.ClrVersions[0].CreateRuntime(Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "libmscordaccore.so"), ignoreMismatch: true);
        var byType = new Dictionary<string, (long Count, long Bytes)>();
        foreach (var item in runtime.Heap.EnumerateObjects())
        {
            var name = item.Type?.Name ?? "?";
            var (count, bytes) = byType.GetValueOrDefault(name);
            byType[name] = (count + 1, bytes + (long)item.Size);
        }

        Console.WriteLine("| type | instances per grain | bytes per grain |");
        Console.WriteLine("|---|---:|---:|");
        foreach (var (name, (count, bytes)) in byType.Where(t => t.Value.Count >= grains / 2).OrderByDescending(t => t.Value.Bytes).Take(40))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {count / (double)grains:F2} | {bytes / (double)grains:F0} |"));
        }
    }

    private static Func<IGrainFactory, string, int, Task> Activate { get; set; } = async (grains, name, i) =>
    {
        var decision = await grains.GetGrain<IUserGrain>(name).AcquireAsync(new SubjectAcquire { Cost = 1 });
        if (!decision.Allowed)
        {
            throw new InvalidOperationException($"user {name} was denied its first permit");
        }
    };

    private static Task ActivateAsync(IGrainFactory grains, string prefix, int from, int to) =>
        Parallel.ForEachAsync(Enumerable.Range(from, to - from), new ParallelOptions { MaxDegreeOfParallelism = 256 }, async (i, _) =>
            await Activate(grains, $"bench-{prefix}-{i}", i));

    private static long Heap(Quota.Grains.Storage.UsageRecorder usage)
    {
        // What the writer's flush does once the minutes are past: minutes older than two are taken and forgotten.
        usage.TakeBatch(DateTimeOffset.UtcNow.AddMinutes(3));

        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
