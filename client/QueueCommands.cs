using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Quota.Cli;

/// <summary>
/// Queues over <c>/v1/queues</c> and the planner: the defined queues, statistics (once, or a live view), enqueue, dead letters
/// (list, requeue, purge) and <c>plan</c>. Defining a queue is <c>apply</c>'s <c>queues:</c> section.
/// </summary>
internal static class QueueCommands
{
    public static Command Queues(GlobalOptions globals)
    {
        var name = new Argument<string>("name") { Description = "The queue's name." };
        var watch = new Option<double?>("--watch", "-w") { Description = "Show the statistics again every this many seconds, until stopped (Ctrl+C) or --times.", HelpName = "SECONDS" };
        var times = new Option<int?>("--times") { Description = "With --watch: stop after this many views.", HelpName = "N" };
        var show = new Command("show", "Show a queue's depth by priority, in flight, retrying, dead, admitted and allowed rate, drain time, deadlines and the workers worth running.") { name, watch, times };
        show.Runs(globals, async (session, parse, ct) =>
        {
            var every = parse.GetValue(watch);
            var remaining = parse.GetValue(times) ?? int.MaxValue;
            while (true)
            {
                var response = await session.GetAsync(Path(parse.GetValue(name)!), ct);
                var code = session.Show(response, body => ShowStats(session.Output, body));
                if (code != 0 || every is not { } seconds || --remaining <= 0)
                {
                    return code;
                }

                await Task.Delay(TimeSpan.FromSeconds(Math.Max(0.1, seconds)), ct);
                session.Output.Line();
            }
        });

        var payload = new Option<string>("--payload", "-p") { Description = "The item's payload as JSON (default null).", HelpName = "JSON" };
        var id = new Option<string?>("--id") { Description = "The item's id, making the enqueue idempotent.", HelpName = "ID" };
        var priority = new Option<string?>("--priority") { Description = "critical, high, normal (default) or low.", HelpName = "PRIORITY" };
        var attributes = new Option<string[]>("--attr", "-a") { Description = "An attribute the dispatch may name, as key=value; repeatable.", HelpName = "KEY=VALUE", AllowMultipleArgumentsPerToken = false };
        var enqueue = new Command("enqueue", "Enqueue one item.") { name, payload, id, priority, attributes };
        enqueue.Runs(globals, async (session, parse, ct) =>
        {
            var item = new JsonObject();
            if (parse.GetValue(id) is { } itemId)
            {
                item["id"] = itemId;
            }

            item["payload"] = parse.GetValue(payload) is { } text ? JsonNode.Parse(text) : null;
            if (parse.GetValue(priority) is { } p)
            {
                item["priority"] = p;
            }

            var attrs = new JsonObject();
            foreach (var pair in parse.GetValue(attributes) ?? [])
            {
                var at = pair.IndexOf('=', StringComparison.Ordinal);
                attrs[at < 0 ? pair : pair[..at]] = at < 0 ? string.Empty : pair[(at + 1)..];
            }

            if (attrs.Count > 0)
            {
                item["attributes"] = attrs;
            }

            var response = await session.SendJsonAsync(HttpMethod.Post, Path(parse.GetValue(name)!) + "/items", item, ct);
            return session.Show(response, body => session.Output.Line(
                $"{(Output.Number(body?["created"]) == 1 ? "enqueued" : "already held")} {Output.Str(body?["ids"]?[0])}"));
        });

        var dead = new Command("dead", "List a queue's dead letters, oldest first.") { name };
        dead.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync(Path(parse.GetValue(name)!) + "/dead", ct);
            return session.Show(response, body =>
            {
                var items = (body?["items"] as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
                if (items.Count == 0)
                {
                    session.Output.Line("no dead letters.");
                    return;
                }

                var table = session.Output.Table("ID", "PRIORITY", "ATTEMPTS", "STATUS", "DIED (UTC)", "ERROR");
                foreach (var item in items)
                {
                    Output.Row(table, Output.Str(item["id"]), Output.Str(item["priority"]), Output.Str(item["attempts"]), Output.Str(item["upstreamStatus"]) ?? "-", Output.Utc(item["diedAt"]), Output.Str(item["error"]));
                }

                session.Output.Write(table);
            });
        });

        return new Command("queues", "Work queues paced by Quota's decisions: list, statistics, enqueue, dead letters. Define them with apply (queues:).")
        {
            List(globals), show, enqueue, dead, DeadAction(globals, "requeue", "requeued", "Put dead letters back with fresh attempts (all, or the ids given)."),
            DeadAction(globals, "purge", "purged", "Delete dead letters (all, or the ids given)."),
        };
    }

    private static Command List(GlobalOptions globals)
    {
        var limit = new Option<int?>("--limit", "-n") { Description = "At most this many queues, by name: 1 to 100 (default 100).", HelpName = "N" };
        var after = new Option<string?>("--after") { Description = "Only queues whose names sort after this one (the next page).", HelpName = "NAME" };
        var list = new Command("list", "List the defined queues by name with their depth, in flight, retrying, dead and the workers worth running.") { limit, after };
        list.Runs(globals, async (session, parse, ct) =>
        {
            var query = new List<string>();
            if (parse.GetValue(limit) is { } n)
            {
                query.Add("limit=" + n.ToString(CultureInfo.InvariantCulture));
            }

            if (parse.GetValue(after) is { } name)
            {
                query.Add("after=" + Session.Segment(name));
            }

            var response = await session.GetAsync("v1/queues" + (query.Count == 0 ? string.Empty : "?" + string.Join('&', query)), ct);
            return session.Show(response, body =>
            {
                var queues = (body?["queues"] as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
                if (queues.Count == 0)
                {
                    session.Output.Line("no queues defined.");
                    return;
                }

                var table = session.Output.Table("NAME", "DEPTH", "IN FLIGHT", "RETRYING", "DEAD", "WORKERS");
                foreach (var queue in queues)
                {
                    var depth = (queue["depth"] as JsonObject)?.Sum(d => Output.Number(d.Value) ?? 0) ?? 0;
                    Output.Row(table, Output.Str(queue["name"]), depth.ToString(CultureInfo.InvariantCulture), Output.Str(queue["inFlight"]), Output.Str(queue["retrying"]),
                        Output.Str(queue["dead"]), Output.Str(queue["desiredWorkers"]));
                }

                session.Output.Write(table);
                if (Output.Str(body?["next"]) is { } next)
                {
                    session.Output.Line($"more: quota queues list --after {next}");
                }
            });
        });
        return list;
    }

    private static Command DeadAction(GlobalOptions globals, string action, string counted, string description)
    {
        var name = new Argument<string>("name") { Description = "The queue's name." };
        var ids = new Argument<string[]>("ids") { Description = "Item ids; none for every dead letter.", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command(action, description) { name, ids };
        command.Runs(globals, async (session, parse, ct) =>
        {
            var body = new JsonObject { ["action"] = action };
            if (parse.GetValue(ids) is { Length: > 0 } given)
            {
                body["ids"] = new JsonArray([.. given.Select(i => (JsonNode)i)]);
            }

            var response = await session.SendJsonAsync(HttpMethod.Post, Path(parse.GetValue(name)!) + "/dead", body, ct);
            return session.Show(response, answer => session.Output.Line($"{counted} {Output.Str(answer?[counted])}"));
        });
        return command;
    }

    private static void ShowStats(Output output, JsonNode? body)
    {
        var depth = body?["depth"];
        output.Fields(
            ("queue", Output.Str(body?["name"])),
            ("depth", $"critical {Output.Str(depth?["critical"])}, high {Output.Str(depth?["high"])}, normal {Output.Str(depth?["normal"])}, low {Output.Str(depth?["low"])}"),
            ("in flight", Output.Str(body?["inFlight"])),
            ("retrying", Output.Str(body?["retrying"])),
            ("dead", Output.Str(body?["dead"])),
            ("oldest", Output.Ms(Output.Number(body?["oldestAgeMs"]))),
            ("admitted", Output.Str(body?["admittedPerMinute"]) + " in the last minute"),
            ("allowed", body?["allowedPerMinute"] is JsonValue rate && rate.TryGetValue<double>(out var perMinute)
                ? perMinute.ToString("0.###", CultureInfo.InvariantCulture) + " a minute"
                : "no windowed limit"),
            ("drain time", Output.Ms(Output.Number(body?["drainTimeMs"]))),
            ("deadlines", $"{Output.Str(body?["deadlines"]?["met"])} met, {Output.Str(body?["deadlines"]?["missed"])} missed"),
            ("workers", Output.Str(body?["desiredWorkers"]) + " worth running"),
            ("expired", Output.Str(body?["expired"])),
            ("acked", Output.Str(body?["acked"])));
    }

    private static string Path(string name) => "v1/queues/" + Session.Segment(name);
}
