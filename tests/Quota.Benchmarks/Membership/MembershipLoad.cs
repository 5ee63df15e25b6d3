using System.Globalization;
using Quota.Testing;

namespace Quota.Benchmarks.Membership;

/// <summary>
/// The membership scenarios (issue 19; run-membership.sh): for each of join, graceful leave, rolling restart of three and
/// kill, a fresh database on a throwaway PostgreSQL server, real silo processes, and <see cref="MembershipScenario"/>'s
/// load from an Orleans client that follows the cluster and over HTTP. Prints one report line per scenario and a
/// markdown table.
/// </summary>
internal static class MembershipLoad
{
    /// <summary>A fixed master key and pepper: a throwaway database, nothing real is encrypted.</summary>
    private const string MasterKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    public static async Task<int> RunAsync(string[] args)
    {
        var options = new Dictionary<string, string>
        {
            ["scenarios"] = "join,leave,rolling,kill",
            ["hot-limit"] = "3000",
            ["spread-keys"] = "200",
            ["spread-limit"] = "40",
            ["client-workers"] = "16",
            ["http-workers"] = "16",
            ["before"] = "4000",
            ["after"] = "12000",
            ["after-seconds"] = "25",
        };
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || !options.ContainsKey(args[i][2..]))
            {
                Console.Error.WriteLine($"Unknown option {args[i]}; options: {string.Join(", ", options.Keys.Select(k => "--" + k))}.");
                return 2;
            }

            options[args[i][2..]] = args[i + 1];
        }

        int Int(string name) => int.Parse(options[name], CultureInfo.InvariantCulture);
        var changes = new List<MembershipChange>();
        foreach (var name in options["scenarios"].Split(','))
        {
            MembershipChange? change = name switch
            {
                "join" => MembershipChange.Join,
                "leave" => MembershipChange.Leave,
                "rolling" => MembershipChange.RollingRestart,
                "kill" => MembershipChange.Kill,
                _ => null,
            };
            if (change is null)
            {
                Console.Error.WriteLine($"Unknown scenario '{name}'; choose from join, leave, rolling, kill.");
                return 2;
            }

            changes.Add(change.Value);
        }

        await using var postgres = await PostgresServer.StartAsync();
        var reports = new List<ScenarioReport>();
        foreach (var change in changes)
        {
            var database = await postgres.CreateDatabaseAsync("membership");
            string[] settings =
            [
                "--Quota:Storage:Provider=postgres",
                $"--ConnectionStrings:Quota={database}",
                $"--Quota:Secrets:MasterKeys:0={MasterKey}",
                "--Quota:Secrets:Pepper=membership-pepper-0123456789",
                "--Quota:Admin:AllowLoopback=true",
                "--Logging:LogLevel:Quota=Warning",
                "--Logging:LogLevel:Default=Warning",
            ];
            var load = new ScenarioLoad(
                change == MembershipChange.Join ? 2 : 3,
                Int("hot-limit"), Int("spread-keys"), Int("spread-limit"), Int("client-workers"), Int("http-workers"), Int("before"), Int("after"),
                TimeSpan.FromSeconds(Int("after-seconds")));
            await using var scenario = new MembershipScenario(database, settings);
            var report = await scenario.RunAsync(change, load, line => Console.Error.WriteLine($"[{DateTimeOffset.UtcNow:HH:mm:ss}] {line}"));
            Console.WriteLine(report);
            reports.Add(report);
        }

        Console.WriteLine();
        Console.WriteLine("| scenario | answered | failed attempts (retried) | lost | longest gap, one key | hot daily admitted/limit | hot hour admitted/limit | spread admitted/limit (worst key) | new silos: HTTP answers / client gateway messages / decisions |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var r in reports)
        {
            var failed = r.FailedAttempts.Count == 0 ? "0" : $"{r.FailedAttempts.Values.Sum()} ({string.Join(", ", r.FailedAttempts.Select(f => $"{f.Value} {f.Key}"))})";
            var newSilos = r.Change is MembershipChange.Join or MembershipChange.RollingRestart ? $"{r.HttpByNewSilos} / {r.GatewayMessagesToNewSilos} / {r.DecisionsOnNewSilos}" : "–";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Change} | {r.Answered} | {failed} | {r.Lost} | {r.LongestGap.TotalSeconds:F2} s | {r.AdmittedByPeriod(MembershipScenario.HotDailyKey)} | {r.AdmittedByPeriod(MembershipScenario.HotHourKey)} | {r.Spread.Admitted}/{r.Spread.Limit} ({r.Spread.WorstRatio:F3}) | {newSilos} |"));
        }

        return 0;
    }
}
