using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Quota.Cli;

/// <summary>
/// <c>bench</c>: a closed-loop load generator over <c>POST /v1/acquire</c> for any deployment. Progress goes to
/// stderr once a second; the results (a table, or one JSON object with <c>--json</c>) to stdout.
/// </summary>
internal static partial class BenchCommands
{
    private static readonly JsonSerializerOptions ReportJson = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    // The limited subjects the table shows; --json lists up to BenchReport.MaxListed.
    private const int TableRows = 10;

    public static Command Bench(GlobalOptions globals)
    {
        var workers = new Option<int?>("--workers") { Description = $"Requests in flight: each worker sends its next request when the previous answer arrives. 1 to {BenchSettings.MaxWorkers}; default 64.", HelpName = "N" };
        var keys = new Option<int?>("--keys") { Description = $"Distinct users the traffic is spread over, named PREFIX-0 to PREFIX-(N-1). 1 to {BenchSettings.MaxKeys:N0}; default 10,000.", HelpName = "N" };
        var hotShare = new Option<double?>("--hot-share") { Description = "The share of requests (0 to 1) that name the one hot user PREFIX-hot instead. Default: 0.", HelpName = "F" };
        var subjects = new Option<int?>("--subjects") { Description = "Subjects per request: 1 the user; 2 also resource PREFIX-r(i % 100); 3 also PREFIX-g(i % 10). Resources need a policy on the service (a pattern such as 'bench-*' in Quota:Policies:Resources). Default: 1.", HelpName = "N" };
        var cost = new Option<long?>("--cost") { Description = "Permits per request, 1 or more. Default: 1.", HelpName = "N" };
        var duration = new Option<string?>("--duration") { Description = "Measured time, e.g. 10s, 1m, 500ms or 00:00:10; at most 24 hours. Default: 10s.", HelpName = "T" };
        var warmup = new Option<string?>("--warmup") { Description = "Unmeasured time first (its answers still count against the limits); 0s to 1 hour. Default: 2s.", HelpName = "T" };
        var prefix = new Option<string?>("--prefix") { Description = "Name subjects PREFIX-... instead of bench-RUN-... (RUN is random per run, so runs never share counters; with --prefix they may).", HelpName = "PREFIX" };

        var command = new Command(
            "bench",
            "Measure the service under load: requests in flight from many workers over many users, then decisions per second, latency percentiles and, for every subject that denied, admitted against its limit. With --json, one JSON object (its fields are in docs/benchmarks.md). Exit code 0 when any request got a decision and the run was not cancelled.")
        {
            workers, keys, hotShare, subjects, cost, duration, warmup, prefix,
        };
        command.Runs(globals, async (session, parse, ct) =>
        {
            var settings = Validate(
                parse.GetValue(workers),
                parse.GetValue(keys),
                parse.GetValue(hotShare),
                parse.GetValue(subjects),
                parse.GetValue(cost),
                parse.GetValue(duration),
                parse.GetValue(warmup),
                parse.GetValue(prefix));
            return await RunAsync(session, settings, ct);
        });
        return command;
    }

    private static BenchSettings Validate(int? workers, int? keys, double? hotShare, int? subjects, long? cost, string? duration, string? warmup, string? prefix)
    {
        var w = workers ?? 64;
        if (w is < 1 or > BenchSettings.MaxWorkers)
        {
            throw new UsageException($"--workers must be between 1 and {BenchSettings.MaxWorkers} (got {w}): how many requests are in flight at once.");
        }

        var k = keys ?? 10_000;
        if (k is < 1 or > BenchSettings.MaxKeys)
        {
            throw new UsageException($"--keys must be between 1 and {BenchSettings.MaxKeys.ToString("N0", CultureInfo.InvariantCulture)} (got {k}): how many distinct users the requests are spread over.");
        }

        var hot = hotShare ?? 0;
        if (!(hot is >= 0 and <= 1))
        {
            throw new UsageException($"--hot-share must be between 0 and 1 (got {hot.ToString(CultureInfo.InvariantCulture)}): the share of requests that go to the one hot user, e.g. 0.1.");
        }

        var s = subjects ?? 1;
        if (s is < 1 or > 3)
        {
            throw new UsageException($"--subjects must be 1, 2 or 3 (got {s}): the user alone, the user and one resource, or the user and two resources.");
        }

        var c = cost ?? 1;
        if (c < 1)
        {
            throw new UsageException($"--cost must be 1 or more (got {c}): the permits each request takes.");
        }

        var measured = ParseDuration("--duration", duration ?? "10s");
        if (measured <= TimeSpan.Zero || measured > TimeSpan.FromHours(24))
        {
            throw new UsageException($"--duration must be more than 0 and at most 24 hours (got {duration}).");
        }

        var unmeasured = ParseDuration("--warmup", warmup ?? "2s");
        if (unmeasured < TimeSpan.Zero || unmeasured > TimeSpan.FromHours(1))
        {
            throw new UsageException($"--warmup must be between 0s and 1 hour (got {warmup}).");
        }

        if (prefix is { Length: 0 })
        {
            throw new UsageException("--prefix must not be empty; omit it to have a random one (bench-RUN).");
        }

        return new BenchSettings
        {
            Workers = w,
            Keys = k,
            HotShare = hot,
            Subjects = s,
            Cost = c,
            Duration = measured,
            Warmup = unmeasured,
            Prefix = prefix ?? "bench-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3)),
            PrefixGiven = prefix is not null,
        };
    }

    /// <summary>
    /// A duration as <c>500ms</c>, <c>10s</c>, <c>1.5m</c>, <c>2h</c> or <c>hh:mm:ss</c>. A bare number is refused: it
    /// would be ambiguous (TimeSpan reads "10" as ten days).
    /// </summary>
    internal static TimeSpan ParseDuration(string option, string text)
    {
        var trimmed = text.Trim();
        if (DurationWithUnit().Match(trimmed) is { Success: true } match
            && double.TryParse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
        {
            var seconds = match.Groups[2].Value switch
            {
                "ms" => amount / 1000,
                "s" => amount,
                "m" => amount * 60,
                _ => amount * 3600,
            };

            // Bounded well below TimeSpan's range, so the caller's range check is what reports a huge value.
            return TimeSpan.FromSeconds(Math.Min(seconds, TimeSpan.FromDays(3650).TotalSeconds));
        }

        if (trimmed.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParseExact(trimmed, "c", CultureInfo.InvariantCulture, out var span))
        {
            return span;
        }

        throw new UsageException($"{option}: '{text}' is not a duration; write it like 10s, 1m, 500ms or 00:00:10.");
    }

    [GeneratedRegex(@"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")]
    private static partial Regex DurationWithUnit();

    private static async Task<int> RunAsync(Session session, BenchSettings settings, CancellationToken ct)
    {
        var output = session.Output;
        var subjects = new BenchSubjects(settings);

        // One peek (cost 0: nothing is taken) shaped like the run's requests: an unreachable service, an unknown
        // resource or a refused name is reported at once, not after a whole run of identical errors.
        var probeSlots = new int[3];
        var probeCount = subjects.Pick(0, hot: false, probeSlots);
        var probe = await session.SendJsonAsync(HttpMethod.Post, "v1/acquire", System.Text.Encoding.UTF8.GetString(subjects.Body(probeSlots.AsSpan(0, probeCount), 0).Span), ct);
        // Users always exist, so an unknown subject is one of the resources (a 404 without the problem is someone else's).
        if (probe.Status == 404 && settings.Subjects > 1 && Output.Str(probe.Json?["title"]) == "Unknown subject")
        {
            output.Error.WriteLine(UnknownResources(settings, Output.Str(probe.Json?["detail"])));
            return ExitCodes.Error;
        }

        if (probe.Status is not (200 or 429))
        {
            var code = session.Fail(probe);
            if (probe.Status == 400)
            {
                output.Error.WriteLine("hint: a name the service refuses comes from --prefix.");
            }

            return code;
        }

        using var http = session.CreatePooledClient(settings.Workers);
        var run = new BenchRun(settings, subjects, http, session.Timeout);
        var progress = new ProgressLine(output.Error, !Console.IsErrorRedirected);
        await run.RunAsync(p => progress.Show(Describe(p, settings)), ct);
        progress.Finish();

        var totals = run.RunCounts;
        if (totals.Decisions == 0)
        {
            return EveryRequestFailed(session, settings, run);
        }

        var report = Report(session, settings, subjects, run);
        if (output.Json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(report, ReportJson));
        }
        else
        {
            Render(output, report);
        }

        if (report.Cancelled)
        {
            output.Error.WriteLine($"quota: cancelled; the results cover {report.MeasuredSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s of measurement.");
            return ExitCodes.Error;
        }

        return ExitCodes.Ok;
    }

    private static string UnknownResources(BenchSettings settings, string? detail)
    {
        var pattern = settings.PrefixGiven ? settings.Prefix + "-*" : "bench-*";
        return $"quota: the service does not know the bench's resources{(detail is null ? "." : ": " + detail)}{Environment.NewLine}"
            + "hint: a resource exists only where a policy is configured. Give the service a resource pattern matching the bench's resources, "
            + $"e.g. --Quota:Policies:Resources:0:Name={pattern} with a policy under Quota:Policies:Resources:0:Policies (see docs/benchmarks.md), "
            + "or run with --subjects 1.";
    }

    private static int EveryRequestFailed(Session session, BenchSettings settings, BenchRun run)
    {
        var error = session.Output.Error;
        var totals = run.RunCounts;
        var (kinds, _) = run.ErrorKinds.Snapshot();
        if (totals.Errors == 0)
        {
            error.WriteLine(run.Cancelled ? "quota: cancelled before any answer." : "quota: no request was sent; the run ended before it began.");
            return ExitCodes.Error;
        }

        if (run.TransportErrors == totals.Errors)
        {
            error.WriteLine(session.Unreachable(kinds[0].Message));
            return ExitCodes.Unreachable;
        }

        if (settings.Subjects > 1 && run.UnknownSubjects == totals.Errors)
        {
            error.WriteLine(UnknownResources(settings, null));
            return ExitCodes.Error;
        }

        error.WriteLine($"quota: every request failed ({totals.Errors.ToString("N0", CultureInfo.InvariantCulture)}); the first errors:");
        foreach (var (message, count) in kinds)
        {
            error.WriteLine($"  {count.ToString("N0", CultureInfo.InvariantCulture)} x {message}");
        }

        return ExitCodes.Error;
    }

    private static string Describe(BenchProgress progress, BenchSettings settings)
    {
        var run = progress.Run;
        var seconds = progress.Elapsed.TotalSeconds;
        var rate = seconds > 0 ? run.Decisions / seconds : 0;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"bench: {seconds:0} s of {(settings.Warmup + settings.Duration).TotalSeconds:0.#} s{(progress.Warmup ? " (warmup)" : "")}: {rate:N0} decisions/s, {Share(run.Admitted, run.Decisions)} admitted, {run.Errors:N0} errors");
    }

    private static BenchReport Report(Session session, BenchSettings settings, BenchSubjects subjects, BenchRun run)
    {
        var measured = run.MeasuredCounts;
        var totals = run.RunCounts;
        var seconds = run.Measured.TotalSeconds;
        var (kinds, other) = run.ErrorKinds.Snapshot();

        // Each limited subject with the tightest policy that denied it: the one allowing the fewest requests.
        long Allowed(long limit) => limit / settings.Cost;
        var limited = run.Denying
            .GroupBy(entry => entry.Key.Slot)
            .Select(group =>
            {
                var slot = group.Key;
                var (policyName, policy) = group
                    .Select(entry => (entry.Key.Policy, entry.Value))
                    .OrderBy(entry => entry.Value.Limit)
                    .ThenByDescending(entry => entry.Value.WindowSeconds ?? 0)
                    .ThenBy(entry => entry.Policy, StringComparer.Ordinal)
                    .First();
                var admitted = run.AdmittedOf(slot);
                var why = BenchLimited.WhyNotComparable(policy.Algorithm, policy.WindowSeconds, run.StartedAt, run.Span);
                var allowed = Allowed(policy.Limit);
                if (why is null && allowed == 0)
                {
                    why = $"a request's cost ({settings.Cost}) is above the limit";
                }

                return new BenchLimited(
                    subjects.Label(slot),
                    policyName,
                    policy.Algorithm,
                    policy.Limit,
                    policy.WindowSeconds,
                    admitted,
                    run.DeniedOf(slot),
                    why is null ? Math.Round((double)admitted / allowed, 4) : null,
                    why);
            })
            .OrderByDescending(subject => subject.Denied)
            .ThenBy(subject => subject.Subject, StringComparer.Ordinal)
            .ToList();

        var comparable = limited.Where(subject => subject.NotComparable is null).ToList();
        var summary = new BenchLimitedSummary(
            limited.Count,
            comparable.Count,
            comparable.Count(subject => subject.Admitted == Allowed(subject.Limit)),
            comparable.Count(subject => subject.Admitted > Allowed(subject.Limit)),
            comparable.Count(subject => subject.Admitted < Allowed(subject.Limit)));

        return new BenchReport(
            session.DisplayUrl,
            settings.Prefix,
            settings.Workers,
            settings.Keys,
            settings.HotShare,
            settings.Subjects,
            settings.Cost,
            settings.Warmup.TotalSeconds,
            settings.Duration.TotalSeconds,
            Math.Round(seconds, 3),
            run.Cancelled,
            measured.Requests,
            measured.Admitted,
            measured.Denied,
            measured.Errors,
            seconds > 0 ? Math.Round(measured.Decisions / seconds, 1) : 0,
            measured.Decisions > 0 ? Math.Round((double)measured.Admitted / measured.Decisions, 4) : 0,
            new BenchLatency(
                run.Latency.Count,
                Microseconds(run.Latency.Percentile(0.50)),
                Microseconds(run.Latency.Percentile(0.99)),
                Microseconds(run.Latency.Percentile(0.999)),
                Microseconds(run.Latency.Max),
                Microseconds(run.Latency.Mean)),
            new BenchTotals(Math.Round(run.Span.TotalSeconds, 3), totals.Requests, totals.Admitted, totals.Denied, totals.Errors),
            [.. kinds.Select(kind => new BenchError(kind.Message, kind.Count))],
            other,
            summary,
            [.. limited.Take(BenchReport.MaxListed)]);
    }

    private static double Microseconds(TimeSpan span) => Math.Round(span.Ticks / 10.0, 1);

    private static void Render(Output output, BenchReport report)
    {
        output.Fields(
            ("service", report.Url),
            ("subjects", $"{report.Prefix}-*: {N(report.Keys)} user{(report.Keys == 1 ? "" : "s")}{(report.HotShare > 0 ? $" and {report.Prefix}-hot ({report.HotShare.ToString("0.###", CultureInfo.InvariantCulture)} of requests)" : "")}, {report.Subjects} subject{(report.Subjects == 1 ? "" : "s")} per request, cost {N(report.Cost)}"),
            ("load", $"{N(report.Workers)} workers, closed loop"),
            ("measured", $"{S(report.MeasuredSeconds)} after {S(report.WarmupSeconds)} of warmup (whole run: {S(report.Run.Seconds)}, {N(report.Run.Requests)} requests)"));
        output.Line();

        var decisions = report.Admitted + report.Denied;
        var table = output.Table("RESULT", "VALUE");
        Output.Row(table, "requests", N(report.Requests));
        Output.Row(table, "decisions/s", N((long)Math.Round(report.DecisionsPerSecond)));
        Output.Row(table, "admitted", $"{N(report.Admitted)} ({Share(report.Admitted, decisions)})");
        Output.Row(table, "denied", $"{N(report.Denied)} ({Share(report.Denied, decisions)})");
        Output.Row(table, "errors", N(report.Errors));
        Output.Row(table, "latency p50", Latency(report.LatencyUs.P50));
        Output.Row(table, "latency p99", Latency(report.LatencyUs.P99));
        Output.Row(table, "latency p99.9", Latency(report.LatencyUs.P999));
        Output.Row(table, "latency max", Latency(report.LatencyUs.Max));
        output.Write(table);

        if (report.ErrorKinds.Count > 0)
        {
            output.Line();
            output.Line("errors (whole run, first distinct kinds):");
            foreach (var error in report.ErrorKinds)
            {
                output.Line($"  {N(error.Count)} x {error.Message}");
            }

            if (report.OtherErrors > 0)
            {
                output.Line($"  {N(report.OtherErrors)} x other errors");
            }
        }

        output.Line();
        var summary = report.LimitedSummary;
        if (summary.Subjects == 0)
        {
            output.Line("limited subjects: none denied a request.");
            return;
        }

        output.Line($"limited subjects (denied at least once; counted over the whole run, warmup included): {N(summary.Subjects)}; "
            + $"admitted/limit comparable for {N(summary.Comparable)}: exactly 1.000 on {N(summary.Exact)}, above on {N(summary.Above)}, below on {N(summary.Below)}");
        var limited = output.Table("SUBJECT", "POLICY", "ALGORITHM", "LIMIT", "WINDOW", "ADMITTED", "DENIED", "ADMITTED/LIMIT");
        var notes = new List<string>();
        foreach (var subject in report.Limited.Take(TableRows))
        {
            string ratio;
            if (subject.AdmittedPerLimit is { } value)
            {
                ratio = value.ToString("0.000", CultureInfo.InvariantCulture);
            }
            else
            {
                var index = notes.IndexOf(subject.NotComparable!);
                if (index < 0)
                {
                    notes.Add(subject.NotComparable!);
                    index = notes.Count - 1;
                }

                ratio = $"n/a ({index + 1})";
            }

            Output.Row(
                limited,
                subject.Subject,
                subject.Policy,
                subject.Algorithm,
                N(subject.Limit),
                subject.WindowSeconds is { } seconds ? $"{N(seconds)} s" : null,
                N(subject.Admitted),
                N(subject.Denied),
                ratio);
        }

        output.Write(limited);
        if (summary.Subjects > TableRows)
        {
            output.Line($"... and {N(summary.Subjects - TableRows)} more; --json lists up to {N(BenchReport.MaxListed)}.");
        }

        for (var i = 0; i < notes.Count; i++)
        {
            output.Line($"n/a ({i + 1}): not comparable: {notes[i]}.");
        }
    }

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string S(double seconds) => $"{seconds.ToString("0.0", CultureInfo.InvariantCulture)} s";

    private static string Share(long part, long whole) =>
        whole == 0 ? "-" : (100.0 * part / whole).ToString("0.00", CultureInfo.InvariantCulture) + "%";

    /// <summary>Microseconds as people read them: <c>412 us</c>, <c>1.84 ms</c>, <c>2.10 s</c> (ASCII, like all output).</summary>
    private static string Latency(double us) => us switch
    {
        < 1000 => $"{us.ToString("0", CultureInfo.InvariantCulture)} us",
        < 10_000 => $"{(us / 1000).ToString("0.00", CultureInfo.InvariantCulture)} ms",
        < 1_000_000 => $"{(us / 1000).ToString("0.0", CultureInfo.InvariantCulture)} ms",
        _ => $"{(us / 1_000_000).ToString("0.00", CultureInfo.InvariantCulture)} s",
    };

    /// <summary>
    /// The progress line on stderr: rewritten in place when stderr is a terminal, else one line per update (logs
    /// and pipes get whole lines).
    /// </summary>
    private sealed class ProgressLine(TextWriter error, bool terminal)
    {
        private int _width;

        public void Show(string line)
        {
            if (terminal)
            {
                error.Write("\r" + line.PadRight(_width));
                _width = Math.Max(_width, line.Length);
            }
            else
            {
                error.WriteLine(line);
            }
        }

        public void Finish()
        {
            if (terminal && _width > 0)
            {
                error.Write("\r" + new string(' ', _width) + "\r");
            }
        }
    }
}
