using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
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
