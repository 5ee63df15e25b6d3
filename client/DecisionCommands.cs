using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Quota.Cli;

/// <summary><c>acquire</c>, <c>settle</c>, <c>release</c> and <c>usage</c>: the decision endpoints.</summary>
internal static class DecisionCommands
{
    public static Command Acquire(GlobalOptions globals)
    {
        var user = new Option<string?>("--user", "-u") { Description = "The user asking; its limits apply across all its keys.", HelpName = "USER" };
        // The raw key is a secret: never an argument, which other users of the machine can read (ps, /proc).
        var keyFile = new Option<string?>("--key-file") { Description = "Read a registered API key (the raw key) from this file (one trailing newline is dropped); '-' reads stdin.", HelpName = "PATH" };
        var keyEnv = new Option<string?>("--key-env") { Description = "Read a registered API key (the raw key) from this environment variable.", HelpName = "VAR" };
        var tenant = new Option<string?>("--tenant") { Description = "A tenant: its reserve and lease apply, and a token of its upstream is chosen.", HelpName = "TENANT" };
        var upstream = new Option<string?>("--upstream") { Description = "An upstream: a token of it is chosen (implied by --tenant when omitted).", HelpName = "NAME" };
        var includeSecret = new Option<bool>("--include-secret") { Description = "Print the chosen token's secret too (admin-scoped callers only: QUOTA_TOKEN, or on the service's machine without one)." };
        var resources = new Option<string[]>("--resource", "-r") { Description = "A resource to take permits from; repeat for several.", HelpName = "NAME" };
        var cost = new Option<long?>("--cost", "-c") { Description = "Permits to take (default 1; 0 peeks without consuming).", HelpName = "N" };
        var priority = new Option<string?>("--priority", "-p") { Description = "Order among waiting callers.", HelpName = "PRIORITY" };
        priority.AcceptOnlyFromAmong("critical", "high", "normal", "low");
        var wait = new Option<long?>("--wait", "-w") { Description = "Wait up to this many milliseconds for capacity.", HelpName = "MS" };
        var reserve = new Option<bool>("--reserve") { Description = "The cost is an estimate: settle it later with 'quota settle'." };

        var command = new Command("acquire", "Ask for permits now. Exit code 0 when allowed, 1 when denied.")
        {
            user, keyFile, keyEnv, tenant, upstream, resources, cost, priority, wait, reserve, includeSecret,
        };
        command.Runs(
            globals,
            async (session, parse, ct) =>
            {
                var body = new JsonObject();
                if (parse.GetValue(user) is { } u)
                {
                    body["user"] = u;
                }

                if (parse.GetValue(keyFile) is not null && parse.GetValue(keyEnv) is not null)
                {
                    throw new UsageException("give the API key either with --key-file or with --key-env, not both.");
                }

                if (await TenancyCommands.SecretAsync(parse.GetValue(keyFile), parse.GetValue(keyEnv), ct) is { } k)
                {
                    body["apiKey"] = k;
                }

                if (parse.GetValue(tenant) is { } t)
                {
                    body["tenant"] = t;
                }

                if (parse.GetValue(upstream) is { } up)
                {
                    body["upstream"] = up;
                }

                if (parse.GetValue(includeSecret))
                {
                    body["includeSecret"] = true;
                }

                if (parse.GetValue(resources) is { Length: > 0 } r)
                {
                    body["resources"] = new JsonArray([.. r.Select(name => (JsonNode)name)]);
                }

                if (parse.GetValue(cost) is { } c)
                {
                    body["cost"] = c;
                }

                if (parse.GetValue(priority) is { } p)
                {
                    body["priority"] = p;
                }

                if (parse.GetValue(wait) is { } w)
                {
                    body["maxWaitMs"] = w;
                }

                if (parse.GetValue(reserve))
                {
                    body["reserve"] = true;
                }

                if (!(body.ContainsKey("user") || body.ContainsKey("apiKey") || body.ContainsKey("tenant") || body.ContainsKey("upstream") || body.ContainsKey("resources")))
                {
                    throw new UsageException("name at least one subject: --user, --key-file or --key-env, --tenant, --upstream or --resource.");
                }

                var response = await session.SendJsonAsync(HttpMethod.Post, "v1/acquire", body, ct);
                if (response.Status is not (200 or 429) || response.Json is not JsonObject decision)
                {
                    return session.Fail(response);
                }

                var allowed = response.Status == 200;
                var output = session.Output;
                if (output.Json)
                {
                    output.Raw(response);
                }
                else
                {
                    output.Line(allowed ? "ALLOWED" : "DENIED", allowed ? Color.Green : Color.Red);
                    output.Fields(
                        ("limited by", Output.Str(decision["limitedBy"])),
                        ("remaining", $"{Output.Str(decision["remaining"])}/{Output.Str(decision["limit"])}"),
                        ("reset after", Output.Ms(Output.Number(decision["resetAfterMs"]))),
                        ("retry after", allowed ? null : Output.Ms(Output.Number(decision["retryAfterMs"]))),
                        ("lease", Output.Str(decision["leaseId"])),
                        ("token", decision["token"] is JsonObject chosen ? $"{Output.Str(chosen["id"])} (upstream {Output.Str(chosen["upstream"])})" : null),
                        ("secret", Output.Str(decision["token"]?["secret"]) ?? (parse.GetValue(includeSecret) && decision["token"] is JsonObject ? "none stored for this token" : null)));
                    output.States(decision["policies"]);
                }

                return allowed ? ExitCodes.Ok : ExitCodes.Denied;
            },
            parse => TimeSpan.FromMilliseconds(Math.Clamp(parse.GetValue(wait) ?? 0, 0, (long)TimeSpan.FromDays(1).TotalMilliseconds)));
        return command;
    }

    public static Command Settle(GlobalOptions globals)
    {
        var lease = new Argument<string>("lease") { Description = "The leaseId a reserving acquire returned." };
        var actual = new Argument<long>("actual") { Description = "What the work really cost, 0 or more." };
        var command = new Command("settle", "Settle a reservation with its actual cost: the difference is refunded or taken.") { lease, actual };
        command.Runs(globals, async (session, parse, ct) =>
        {
            var id = parse.GetValue(lease)!;
            var response = await session.SendJsonAsync(HttpMethod.Post, "v1/settle", new JsonObject { ["leaseId"] = id, ["actualCost"] = parse.GetValue(actual) }, ct);
            return session.Show(response, _ => session.Output.Line($"settled {id}"));
        });
        return command;
    }

    public static Command Release(GlobalOptions globals)
    {
        var lease = new Argument<string>("lease") { Description = "The leaseId an acquire returned." };
        var command = new Command("release", "End a lease: concurrency permits come back at once.") { lease };
        command.Runs(globals, async (session, parse, ct) =>
        {
            var id = parse.GetValue(lease)!;
            var response = await session.SendJsonAsync(HttpMethod.Post, "v1/release", new JsonObject { ["leaseId"] = id }, ct);
            return session.Show(response, _ => session.Output.Line($"released {id}"));
        });
        return command;
    }

    public static Command Usage(GlobalOptions globals)
    {
        var kind = new Argument<string>("kind") { Description = "user, key, tenant, token or resource." };
        kind.AcceptOnlyFromAmong("user", "key", "tenant", "token", "resource");
        var id = new Argument<string>("id") { Description = "The user id, the key id (64 hex digits, never the raw key), the tenant id, the token as UPSTREAM/ID, or the resource name." };
        var command = new Command("usage", "Show a subject's policies and what is left of each, without consuming anything.") { kind, id };
        command.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync($"v1/usage/{Session.Segment(parse.GetValue(kind)!)}/{Session.Segment(parse.GetValue(id)!)}", ct);
            return session.Show(response, usage =>
            {
                session.Output.Fields(("subject", Output.Str(usage?["subject"])), ("waiting", Output.Str(usage?["waiting"])));
                session.Output.States(usage?["policies"]);
            });
        });
        return command;
    }
}
