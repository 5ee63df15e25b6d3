using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace Quota.Benchmarks.Compare;

/// <summary>
/// What a comparison run prints and writes: markdown tables (throughput and latency per system and workload with the
/// ratio to Redis + Lua sliding log; every system's throughput against every peer's; accuracy), a JSON file with every
/// round, and two plots (decisions per second and p99 latency against callers in flight, distinct keys, log scales).
/// </summary>
internal sealed class CompareReport(
    IReadOnlyList<IComparedSystem> systems, IReadOnlyList<PointResult> results, CompareSettings settings, Method method, RunInfo info)
{
    private const string Baseline = "redis-log";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>Writes the three tables.</summary>
    public void WriteMarkdown(TextWriter output)
    {
        var throughput = results.Where(r => r.Workload != Workload.Accuracy).ToList();
        output.WriteLine(Invariant(
            $"Run {info.Started:yyyy-MM-dd HH:mm} UTC, commit {info.Commit}, {info.Cores} cores, {info.Os}, {info.Runtime}; ")
            + Invariant($"{method.Seconds.TotalSeconds:0.##} s per system per round, rounds: {method.Rounds} (the median by decisions/s is reported), ")
            + Invariant($"{method.Warmup.TotalSeconds:0.##} s warm-up; {settings.Keys:N0} distinct keys."));
        output.WriteLine();
        output.WriteLine("| workload | in flight | system | decisions/s | p50 µs | p99 µs | p99.9 µs | granted | vs Redis log |");
        output.WriteLine("|---|---:|---|---:|---:|---:|---:|---:|---:|");
        foreach (var result in throughput)
        {
            var median = result.Median;
            output.WriteLine(Invariant(
                $"| {CompareLoad.Label(result.Workload)} | {result.InFlight} | {System(result).Name} | {median.Rate:N0} | {Micros(median.P50)} | {Micros(median.P99)} | ")
                + Invariant($"{Micros(median.P999)} | {Share(median)} | {Ratio(result, Baseline)} |"));
        }

        output.WriteLine();
        output.WriteLine("Decisions/s of the row's system divided by the column's, same workload and callers in flight:");
        output.WriteLine();
        output.WriteLine($"| workload | in flight | system | {string.Join(" | ", systems.Select(s => "÷ " + s.ShortName))} |");
        output.WriteLine($"|---|---:|---|{string.Concat(systems.Select(_ => "---:|"))}");
        foreach (var result in throughput)
        {
            output.WriteLine(Invariant(
                $"| {CompareLoad.Label(result.Workload)} | {result.InFlight} | {System(result).ShortName} | {string.Join(" | ", systems.Select(s => Ratio(result, s.Id)))} |"));
        }

        output.WriteLine();
        output.WriteLine(Invariant(
            $"Accuracy: one fresh key per round, limit {settings.AccuracyLimit:N0} per {settings.AccuracyWindow.TotalHours:0.##} h, hammered for the measured time; ")
            + "admitted/allowed is the round furthest from 1 (a correct limiter shows exactly 1.000):");
        output.WriteLine();
        output.WriteLine("| system | in flight | admitted, each round | allowed, each round | admitted/allowed | decisions/s | p99 µs | allowed is |");
        output.WriteLine("|---|---:|---|---|---:|---:|---:|---|");
        foreach (var result in results.Where(r => r.Workload == Workload.Accuracy))
        {
            var worst = result.Rounds.MaxBy(r => Math.Abs(Accuracy(r) - 1))!;
            output.WriteLine(Invariant(
                $"| {System(result).Name} | {result.InFlight} | {string.Join(" / ", result.Rounds.Select(r => r.Admitted.ToString("N0", CultureInfo.InvariantCulture)))} | ")
                + Invariant($"{string.Join(" / ", result.Rounds.Select(r => (r.Allowed ?? 0).ToString("N0", CultureInfo.InvariantCulture)))} | {Accuracy(worst):F3} | ")
                + Invariant($"{result.Median.Rate:N0} | {Micros(result.Median.P99)} | {worst.AllowedNote} |"));
        }
    }

    /// <summary>Writes every round of every point, the settings and the systems' descriptions.</summary>
    public async Task WriteJsonAsync(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var document = new
        {
            info,
            method = new { seconds = method.Seconds.TotalSeconds, method.Rounds, warmupSeconds = method.Warmup.TotalSeconds, reported = "median round by decisions/s", latencies = "microseconds" },
            settings,
            systems = systems.Select(s => new { s.Id, s.Name, s.Description }),
            results = results.Select(r => new
            {
                r.System,
                r.Workload,
                r.InFlight,
                median = r.Median,
                vsRedisLog = RatioValue(r, Baseline),
                r.Rounds,
            }),
        };
        await using var file = File.Create(path);
        await JsonSerializer.SerializeAsync(file, document, Json);
    }

    /// <summary>
    /// Draws decisions/s and p99 latency against callers in flight for the distinct-keys workload, one line per
    /// system, both axes logarithmic; writes each as SVG and PNG into <paramref name="directory"/>. Returns the files.
    /// </summary>
    public IReadOnlyList<string> WritePlots(string directory)
    {
        Directory.CreateDirectory(directory);
        var keys = results.Where(r => r.Workload == Workload.DistinctKeys).ToList();
        var levels = keys.Select(r => r.InFlight).Distinct().Order().ToArray();
        var written = new List<string>();
        written.AddRange(Draw(
            Path.Combine(directory, "compare-throughput"),
            Invariant($"Decisions per second, {settings.Keys:N0} distinct keys (median round of {method.Rounds})"),
            "decisions per second",
            levels,
            keys,
            r => r.Median.Rate,
            v => v >= 1e6 ? Invariant($"{v / 1e6:0.#}M") : v >= 1e3 ? Invariant($"{v / 1e3:0.#}k") : Invariant($"{v:0}")));
        written.AddRange(Draw(
            Path.Combine(directory, "compare-latency"),
            Invariant($"p99 latency, {settings.Keys:N0} distinct keys (median round of {method.Rounds})"),
            "p99 latency, µs",
            levels,
            keys,
            r => r.Median.P99,
            v => v >= 1e3 ? Invariant($"{v / 1e3:0.#}k") : Invariant($"{v:0.##}")));
        return written;
    }

    private IEnumerable<string> Draw(
        string path, string title, string yLabel, int[] levels, List<PointResult> points, Func<PointResult, double> value, Func<double, string> format)
    {
        var plot = new Plot();
        var low = double.MaxValue;
        var high = double.MinValue;
        foreach (var system in systems)
        {
            var mine = points.Where(p => p.System == system.Id).OrderBy(p => p.InFlight).ToArray();
            if (mine.Length == 0)
            {
                continue;
            }

            // Plotted as logarithms with labels in plain numbers: ScottPlot 5 has no logarithmic axis of its own.
            var ys = mine.Select(p => Math.Log10(Math.Max(value(p), 1e-3))).ToArray();
            low = Math.Min(low, ys.Min());
            high = Math.Max(high, ys.Max());
            var scatter = plot.Add.Scatter(mine.Select(p => Math.Log10(p.InFlight)).ToArray(), ys);
            scatter.LegendText = system.Name;
            scatter.LineWidth = 2;
            scatter.MarkerSize = 8;
        }

        var x = new NumericManual();
        foreach (var level in levels)
        {
            x.AddMajor(Math.Log10(level), level.ToString(CultureInfo.InvariantCulture));
        }

        plot.Axes.Bottom.TickGenerator = x;

        // Whole decades on the value axis, so it always carries labelled ticks however narrow the data.
        if (low <= high)
        {
            plot.Axes.SetLimitsY(Math.Floor(low), Math.Max(Math.Ceiling(high), Math.Floor(low) + 1));
            plot.Axes.SetLimitsX(-0.1, Math.Log10(levels.Max()) + 0.1);
        }

        plot.Axes.Left.TickGenerator = new NumericAutomatic
        {
            MinorTickGenerator = new LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = v => format(Math.Pow(10, v)),
        };
        plot.Grid.MajorLineColor = Colors.Black.WithOpacity(0.15);
        plot.Grid.MinorLineColor = Colors.Black.WithOpacity(0.05);
        plot.Grid.MinorLineWidth = 1;
        plot.Title(title);
        plot.XLabel("callers in flight (log scale)");
        plot.YLabel($"{yLabel} (log scale)");
        plot.ShowLegend(Edge.Right);
        plot.SaveSvg(path + ".svg", 1100, 600);
        plot.SavePng(path + ".png", 1100, 600);
        return [path + ".svg", path + ".png"];
    }

    private IComparedSystem System(PointResult result) => systems.First(s => s.Id == result.System);

    private double? RatioValue(PointResult result, string peer) =>
        results.FirstOrDefault(r => r.System == peer && r.Workload == result.Workload && r.InFlight == result.InFlight) is { } other && other.Median.Rate > 0
            ? result.Median.Rate / other.Median.Rate
            : null;

    private string Ratio(PointResult result, string peer) =>
        RatioValue(result, peer) is { } ratio ? ratio.ToString(ratio >= 10 ? "N0" : "F2", CultureInfo.InvariantCulture) : "–";

    private static string Share(RoundResult round) =>
        round.Calls == round.Admitted ? "100%" : (round.Admitted / (double)round.Calls).ToString("P2", CultureInfo.InvariantCulture);

    /// <summary>Microseconds: two decimals below 10 (the in-process limiter answers in fractions of one), else whole.</summary>
    private static string Micros(double micros) => micros.ToString(micros < 10 ? "F2" : "N0", CultureInfo.InvariantCulture);

    private static double Accuracy(RoundResult round) => round.Allowed is long allowed && allowed > 0 ? round.Admitted / (double)allowed : 0;

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
