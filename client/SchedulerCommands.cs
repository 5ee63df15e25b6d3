using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Quota.Cli;

/// <summary>
/// The scheduler over <c>/v1/admin/scheduler</c>: its status, a run on demand, and the history of what it changed.
/// Needs the admin token like every admin command.
/// </summary>
internal static class SchedulerCommands
{
    private const string Path = "v1/admin/scheduler";

    public static Command Scheduler(GlobalOptions globals)
    {
        var status = new Command("status", "Show whether the scheduler runs by itself, how often, and when it last and next runs.");
        status.Runs(globals, async (session, _, ct) =>
        {
            var response = await session.GetAsync(Path, ct);
            return session.Show(response, body => ShowStatus(session.Output, body));
        });

        var run = new Command("run", "Run the scheduler once now (also when Quota:Scheduler:Enabled is false): show the changes it made and what it held back, and why.");
        run.Runs(globals, async (session, _, ct) =>
        {
            var response = await session.SendJsonAsync(HttpMethod.Post, Path + "/run", new JsonObject(), ct);
            return session.Show(response, body => ShowRun(session.Output, body));
        });

        var limit = new Option<int?>("--limit", "-n") { Description = "At most this many, newest first: 1 to 1000 (default 100).", HelpName = "N" };
        var subject = new Option<string?>("--subject", "-s") { Description = "Only this subject's changes: tenant:acme, token:baselinker/bl-1.", HelpName = "LABEL" };
        var history = new Command("history", "Show the changes the scheduler made, newest first: when, run, kind, subject, old -> new and why.") { limit, subject };
        history.Runs(globals, async (session, parse, ct) =>
        {
            var query = new List<string>();
            if (parse.GetValue(limit) is { } n)
            {
                query.Add("limit=" + n.ToString(CultureInfo.InvariantCulture));
            }

            if (parse.GetValue(subject) is { } label)
            {
                query.Add("subject=" + Uri.EscapeDataString(label));
            }

            var response = await session.GetAsync(Path + "/history" + (query.Count == 0 ? string.Empty : "?" + string.Join('&', query)), ct);
            return session.Show(response, body =>
            {
                var changes = Objects(body?["changes"]);
                if (changes.Count == 0)
                {
                    session.Output.Line("no scheduler changes recorded.");
                    return;
                }

                var table = session.Output.Table("AT (UTC)", "RUN", "KIND", "SUBJECT", "OLD -> NEW", "REASON");
                foreach (var change in changes)
                {
                    Output.Row(table, Output.Utc(change["at"]), Output.Str(change["run"]), Output.Str(change["kind"]), Output.Str(change["subject"]), OldToNew(change), Output.Str(change["reason"]));
                }

                session.Output.Write(table);
            });
        });

        return new Command("scheduler", "The scheduler: adapts tenants' reserves to their use, moves dedicated tenants off hot or failing tokens, retires tokens that have a successor.")
        {
            status, run, history,
        };
    }

    private static void ShowStatus(Output output, JsonNode? body)
    {
        var enabled = Output.Flag(body?["enabled"]);
        output.Fields(
            ("enabled", enabled ? "yes" : "no, it runs only when asked (quota scheduler run)"),
            ("interval", body?["intervalSeconds"] is JsonValue seconds && seconds.TryGetValue<double>(out var interval)
                ? interval.ToString("0.###", CultureInfo.InvariantCulture) + " s"
                : null),
            ("samples", Output.Str(body?["samples"])),
            ("runs", Output.Str(body?["runs"])),
            ("last run", Output.Utc(body?["lastRunAt"]) is { } last ? last + " UTC" : "never"),
            ("next run", Output.Utc(body?["nextRunAt"]) is { } next ? next + " UTC" : "when asked"),
            ("last error", Output.Str(body?["lastError"]) ?? "none"));
    }

    private static void ShowRun(Output output, JsonNode? body)
    {
        output.Fields(
            ("run", Output.Str(body?["run"])),
            ("at", Output.Utc(body?["at"]) is { } at ? at + " UTC" : null),
            ("tenants sampled", Output.Str(body?["tenantsSampled"])),
            ("tokens read", Output.Str(body?["tokensRead"])));

        var changes = Objects(body?["changes"]);
        if (changes.Count == 0)
        {
            output.Line("no changes.");
        }
        else
        {
            var table = output.Table("KIND", "SUBJECT", "OLD -> NEW", "REASON");
            foreach (var change in changes)
            {
                Output.Row(table, Output.Str(change["kind"]), Output.Str(change["subject"]), OldToNew(change), Output.Str(change["reason"]));
            }

            output.Write(table);
        }

        foreach (var held in (body?["held"] as JsonArray)?.Select(Output.Str).OfType<string>() ?? [])
        {
            output.Line("held: " + held);
        }
    }

    private static string OldToNew(JsonObject change) => $"{Output.Str(change["old"]) ?? "-"} -> {Output.Str(change["new"]) ?? "-"}";

    private static List<JsonObject> Objects(JsonNode? node) => (node as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
}
