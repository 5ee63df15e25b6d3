using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Quota.Cli;

/// <content>
/// Upstreams: <c>upstreams</c> with their <c>tokens</c> and <c>allocation</c>, <c>feedback</c> on a token, and
/// <c>secrets reencrypt</c>.
/// </content>
internal static partial class TenancyCommands
{
    public static Command Upstreams(GlobalOptions globals)
    {
        var list = new Command("list", "List upstreams: buffer, window, pool capacity and reserves.");
        list.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync(Admin + "upstreams", ct);
            return session.Show(response, body =>
            {
                var upstreams = Objects(body?["upstreams"]);
                if (upstreams.Count == 0)
                {
                    session.Output.Line("no upstreams are configured.");
                    return;
                }

                var table = session.Output.Table("UPSTREAM", "BUFFER %", "WINDOW", "CAPACITY", "RESERVED", "TOKENS", "TENANTS");
                foreach (var upstream in upstreams)
                {
                    Output.Row(
                        table,
                        Output.Str(upstream["name"]),
                        Output.Str(upstream["bufferPercent"]),
                        Seconds(upstream["windowSeconds"]),
                        Output.Str(upstream["capacity"]),
                        Output.Str(upstream["reserved"]),
                        Objects(upstream["tokens"]).Count.ToString(CultureInfo.InvariantCulture),
                        Strings(upstream["tenants"]).Count.ToString(CultureInfo.InvariantCulture));
                }

                session.Output.Write(table);
            });
        });

        var getName = UpstreamName();
        var get = new Command("get", "Show an upstream with its tokens (never their secrets).") { getName };
        get.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync($"{Admin}upstreams/{Session.Segment(parse.GetValue(getName)!)}", ct);
            return session.Show(response, body => ShowUpstream(session.Output, body));
        });

        var setName = UpstreamName();
        var buffer = new Option<double?>("--buffer-percent") { Description = "Safety margin kept unused on every token, 0 to 50 (default 5).", HelpName = "PERCENT" };
        var window = new Option<string?>("--window") { Description = "The window reserves and leases are counted in, e.g. 00:01:00 (default one minute).", HelpName = "HH:MM:SS" };
        var set = new Command("set", "Create or replace an upstream's settings (its tokens stay); options not given take their defaults.") { setName, buffer, window };
        set.Runs(globals, async (session, parse, ct) =>
        {
            var body = new JsonObject();
            Put(body, "bufferPercent", parse.GetValue(buffer));
            Put(body, "window", parse.GetValue(window));
            var response = await session.SendJsonAsync(HttpMethod.Put, $"{Admin}upstreams/{Session.Segment(parse.GetValue(setName)!)}", body, ct);
            return session.Show(response, answer =>
            {
                session.Output.Line($"set upstream {Output.Str(answer?["name"])}");
                ShowUpstream(session.Output, answer);
            });
        });

        var deleteName = UpstreamName();
        var delete = new Command("delete", "Remove an upstream and its tokens (refused while tenants use it).") { deleteName };
        delete.Runs(globals, async (session, parse, ct) =>
        {
            var name = parse.GetValue(deleteName)!;
            var response = await session.DeleteAsync($"{Admin}upstreams/{Session.Segment(name)}", ct);
            return session.Show(response, _ => session.Output.Line($"deleted upstream {name}"));
        });

        return new Command("upstreams", "Upstream APIs: their credentials (tokens), safety buffer and shared pool.")
        {
            list, get, set, delete, Tokens(globals), Allocation(globals),
        };
    }

    private static Argument<string> UpstreamName() => new("name") { Description = "The upstream's name." };

    private static void ShowUpstream(Output output, JsonNode? body)
    {
        var tenants = Strings(body?["tenants"]);
        output.Fields(
            ("upstream", Output.Str(body?["name"])),
            ("buffer", Output.Str(body?["bufferPercent"]) is { } percent ? percent + " %" : null),
            ("window", Seconds(body?["windowSeconds"])),
            ("capacity", Output.Str(body?["capacity"])),
            ("reserved", Output.Str(body?["reserved"])),
            ("tenants", tenants.Count == 0 ? "none" : string.Join(", ", tenants)));
        TokenTable(output, body?["tokens"]);
    }

    private static void TokenTable(Output output, JsonNode? tokens)
    {
        var list = Objects(tokens);
        if (list.Count == 0)
        {
            output.Line("no tokens.");
            return;
        }

        var table = output.Table("TOKEN", "LIMIT", "USABLE", "DEDICATED TO", "SECRET", "SUCCESSOR", "POLICIES");
        foreach (var token in list)
        {
            var policies = Objects(token["policies"]).Select(p => Output.Str(p["name"])).ToList();
            Output.Row(
                table,
                Output.Str(token["id"]),
                Output.Str(token["limit"]),
                Output.Str(token["usable"]),
                Output.Str(token["dedicatedTo"]) ?? "pool",
                Output.Flag(token["hasSecret"]) ? "stored" : "none",
                Successor(token),
                policies.Count == 0 ? "-" : string.Join(", ", policies));
        }

        output.Write(table);
    }

    private static Command Tokens(GlobalOptions globals)
    {
        var listName = UpstreamName();
        var list = new Command("list", "List an upstream's tokens (never their secrets).") { listName };
        list.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync($"{Admin}upstreams/{Session.Segment(parse.GetValue(listName)!)}/tokens", ct);
            return session.Show(response, body => TokenTable(session.Output, body?["tokens"]));
        });

        var (getName, getId) = (UpstreamName(), TokenId());
        var get = new Command("get", "Show a token: its limits, buffer-adjusted usable permits and whether a secret is stored.") { getName, getId };
        get.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync(TokenPath(parse.GetValue(getName)!, parse.GetValue(getId)!), ct);
            return session.Show(response, body => ShowToken(session.Output, body));
        });

        var (setName, setId) = (UpstreamName(), TokenId());
        var file = PolicyInput.File("A JSON file { \"policies\": [...] } with the upstream's limits for the token ('-' reads stdin).");
        var policy = PolicyInput.Policy();
        var dedicatedTo = new Option<string?>("--dedicated-to") { Description = "Reserve the token for this tenant (dedicated and hybrid strategies); omitted: the pool.", HelpName = "TENANT" };
        var successor = new Option<string?>("--successor")
        {
            Description = "A token of the same upstream that replaces this one: once it is live the scheduler moves this token's tenant to it and retires this one.",
            HelpName = "ID",
        };
        var secretFile = new Option<string?>("--secret-file") { Description = "Read the credential from this file (one trailing newline is dropped); '-' reads stdin.", HelpName = "PATH" };
        var secretEnv = new Option<string?>("--secret-env") { Description = "Read the credential from this environment variable.", HelpName = "VAR" };
        var set = new Command(
            "set",
            "Create or replace a token. The secret is encrypted at rest and never shown; without --secret-file or --secret-env the stored one is kept.")
        {
            setName, setId, file, policy, dedicatedTo, successor, secretFile, secretEnv,
        };
        set.Runs(globals, async (session, parse, ct) =>
        {
            if (parse.GetValue(secretFile) is not null && parse.GetValue(secretEnv) is not null)
            {
                throw new UsageException("give the secret either with --secret-file or with --secret-env, not both.");
            }

            if (parse.GetValue(secretFile) == "-" && parse.GetValue(file) == "-")
            {
                throw new UsageException("only one of -f and --secret-file can read stdin.");
            }

            var body = await PolicyInput.ReadAsync(parse.GetValue(file), parse.GetValue(policy), ct)
                ?? throw new UsageException("give the token's limits with -f FILE or --policy JSON (repeat for several).");
            Put(body, "dedicatedTo", parse.GetValue(dedicatedTo));
            Put(body, "successor", parse.GetValue(successor));
            if (await SecretAsync(parse.GetValue(secretFile), parse.GetValue(secretEnv), ct) is { } secret)
            {
                body["secret"] = secret;
            }

            var response = await session.SendJsonAsync(HttpMethod.Put, TokenPath(parse.GetValue(setName)!, parse.GetValue(setId)!), body, ct);
            return session.Show(response, answer =>
            {
                session.Output.Line($"set token {Output.Str(answer?["id"])} of upstream {Output.Str(answer?["upstream"])}");
                ShowToken(session.Output, answer);
            });
        });

        var (deleteName, deleteId) = (UpstreamName(), TokenId());
        var delete = new Command("delete", "Remove a token and its stored secret.") { deleteName, deleteId };
        delete.Runs(globals, async (session, parse, ct) =>
        {
            var (name, id) = (parse.GetValue(deleteName)!, parse.GetValue(deleteId)!);
            var response = await session.DeleteAsync(TokenPath(name, id), ct);
            return session.Show(response, _ => session.Output.Line($"deleted token {id} of upstream {name}"));
        });

        return new Command("tokens", "An upstream's credentials: their real limits, secret, dedication and successor.") { list, get, set, delete };
    }

    private static Argument<string> TokenId() => new("id") { Description = "The token's id within its upstream." };

    private static string TokenPath(string upstream, string id) => $"{Admin}upstreams/{Session.Segment(upstream)}/tokens/{Session.Segment(id)}";

    private static void ShowToken(Output output, JsonNode? body)
    {
        output.Fields(
            ("token", Output.Str(body?["id"])),
            ("upstream", Output.Str(body?["upstream"])),
            ("limit", Output.Str(body?["limit"])),
            ("usable", Output.Str(body?["usable"])),
            ("dedicated to", Output.Str(body?["dedicatedTo"]) ?? "the pool"),
            ("secret", Output.Flag(body?["hasSecret"]) ? "stored (never shown)" : "none"),
            ("successor", Output.Str(body?["successor"]) ?? "none"),
            ("retiring since", Output.Utc(body?["retiringSince"]) is { } since ? since + " UTC" : null));
        output.Policies(body?["policies"], "no policies.");
    }

    /// <summary>A token's successor for a table: its id, marked once the token is being retired; null when none.</summary>
    private static string? Successor(JsonObject token) => Output.Str(token["successor"]) switch
    {
        null => null,
        var id when token["retiringSince"] is not null => $"{id} (retiring)",
        var id => id,
    };

    /// <summary>The secret (a token's credential, a raw API key) from a file (or stdin) or an environment variable; null when neither is given.</summary>
    internal static async Task<string?> SecretAsync(string? file, string? variable, CancellationToken ct)
    {
        string secret;
        if (file is not null)
        {
            // Files written with echo end with a newline that is no part of the credential.
            secret = await PolicyInput.ReadFileAsync(file, ct);
            secret = secret.EndsWith("\r\n", StringComparison.Ordinal) ? secret[..^2] : secret.EndsWith('\n') ? secret[..^1] : secret;
        }
        else if (variable is not null)
        {
            secret = Environment.GetEnvironmentVariable(variable)
                ?? throw new UsageException($"the environment variable {variable} is not set.");
        }
        else
        {
            return null;
        }

        return secret.Length > 0 ? secret : throw new UsageException($"the secret in {file ?? variable} is empty.");
    }

    private static Command Allocation(GlobalOptions globals)
    {
        var name = UpstreamName();
        var command = new Command("allocation", "Show an upstream's pool now: capacity, reserves, leases, each tenant's demand and share, each token's use and circuit.") { name };
        command.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync($"v1/upstreams/{Session.Segment(parse.GetValue(name)!)}/allocation", ct);
            return session.Show(response, body => ShowAllocation(session.Output, body));
        });
        return command;
    }

    private static void ShowAllocation(Output output, JsonNode? body)
    {
        var learning = Output.Flag(body?["learning"]);
        output.Fields(
            ("upstream", Output.Str(body?["upstream"])),
            ("window", Seconds(body?["windowSeconds"])),
            ("capacity", Output.Str(body?["capacity"])),
            ("reserved", Output.Str(body?["reserved"])),
            ("lendable", Output.Str(body?["lendable"])),
            ("leased", Output.Str(body?["leased"])),
            ("learning", learning ? $"yes, for {Output.Ms(Output.Number(body?["learningEndsInMs"]))}" : "no"));

        var tenants = Objects(body?["tenants"]);
        if (tenants.Count == 0)
        {
            output.Line("no tenants.");
        }
        else
        {
            var table = output.Table("TENANT", "TIER", "WEIGHT", "PRIORITY", "RESERVED", "BURST", "DEMAND", "FAIR SHARE", "LEASE", "LEASE TTL", "USED");
            foreach (var tenant in tenants)
            {
                Output.Row(
                    table,
                    Output.Str(tenant["tenant"]),
                    Output.Str(tenant["tier"]),
                    Output.Str(tenant["weight"]),
                    Output.Str(tenant["priority"]),
                    Output.Str(tenant["reserved"]),
                    Output.Str(tenant["burst"]) ?? "unbounded",
                    Output.Str(tenant["demand"]),
                    Output.Str(tenant["fairShare"]),
                    Output.Str(tenant["lease"]),
                    Output.Ms(Output.Number(tenant["leaseTtlMs"])),
                    Output.Str(tenant["used"]));
            }

            output.Write(table);
        }

        var tokens = Objects(body?["tokens"]);
        if (tokens.Count == 0)
        {
            output.Line("no tokens.");
            return;
        }

        var tokenTable = output.Table("TOKEN", "DEDICATED TO", "LIMIT", "USABLE", "USED", "UTILISATION", "CIRCUIT", "FAILURES", "RETRY AFTER");
        foreach (var token in tokens)
        {
            var health = token["health"];
            var utilisation = token["utilisation"] is JsonValue u && u.TryGetValue<double>(out var fraction)
                ? (fraction * 100).ToString("0", CultureInfo.InvariantCulture) + "%"
                : null;
            Output.Row(
                tokenTable,
                Output.Str(token["id"]),
                Output.Str(token["dedicatedTo"]) ?? "pool",
                Output.Str(token["limit"]),
                Output.Str(token["usable"]),
                Output.Str(token["used"]),
                utilisation,
                Output.Str(health?["circuit"]),
                Output.Str(health?["consecutiveFailures"]),
                Output.Ms(Output.Number(health?["retryAfterMs"])));
        }

        output.Write(tokenTable);
    }

    public static Command Feedback(GlobalOptions globals)
    {
        var upstream = new Option<string>("--upstream") { Description = "The upstream the token belongs to.", HelpName = "NAME", Required = true };
        // Not --token: that is the admin token, on every command.
        var token = new Option<string>("--token-id") { Description = "The id of the token the upstream answered on.", HelpName = "ID", Required = true };
        var status = new Option<int>("--status") { Description = "The HTTP status the upstream answered; 0 when no answer came.", HelpName = "N", Required = true };
        var retryAfter = new Option<long?>("--retry-after-ms") { Description = "The upstream's Retry-After, in milliseconds.", HelpName = "MS" };
        var command = new Command("feedback", "Report what an upstream answered on a token: failures (0, 5xx) open its circuit breaker; a 429 halves its limit for a while and --retry-after-ms pauses it.")
        {
            upstream, token, status, retryAfter,
        };
        command.Runs(globals, async (session, parse, ct) =>
        {
            var body = new JsonObject
            {
                ["upstream"] = parse.GetValue(upstream),
                ["token"] = parse.GetValue(token),
                ["status"] = parse.GetValue(status),
            };
            Put(body, "retryAfterMs", parse.GetValue(retryAfter));
            var response = await session.SendJsonAsync(HttpMethod.Post, "v1/feedback", body, ct);
            return session.Show(response, answer =>
            {
                var health = answer?["health"];
                session.Output.Fields(
                    ("token", $"{Output.Str(answer?["upstream"])}/{Output.Str(answer?["token"])}"),
                    ("circuit", Output.Str(health?["circuit"])),
                    ("failures in a row", Output.Str(health?["consecutiveFailures"])),
                    ("retry after", Output.Ms(Output.Number(health?["retryAfterMs"]))),
                    ("times opened", Output.Str(health?["timesOpened"])),
                    ("limit in force", health?["limitFactor"] is JsonValue factor && factor.TryGetValue<double>(out var share)
                        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{share * 100:0.#}%")
                        : null),
                    ("paused for", Output.Ms(Output.Number(health?["pausedForMs"]))));
            });
        });
        return command;
    }

    public static Command Secrets(GlobalOptions globals)
    {
        var reencrypt = new Command("reencrypt", "The re-encryption step of a master-key rotation: seal every stored token secret under the newest key (Quota:Secrets:MasterKeys:0). Safe to run again.");
        reencrypt.Runs(globals, async (session, _, ct) =>
        {
            var response = await session.SendJsonAsync(HttpMethod.Post, "v1/admin/secrets/reencrypt", new JsonObject(), ct);
            return session.Show(response, answer =>
            {
                session.Output.Fields(
                    ("newest key", Output.Str(answer?["keyId"])),
                    ("re-encrypted", Output.Str(answer?["reencrypted"])),
                    ("already current", Output.Str(answer?["current"])),
                    ("unreadable", Strings(answer?["unreadable"]) is { Count: > 0 } bad ? string.Join("; ", bad) : "none"));
            });
        });
        return new Command("secrets", "Stored secrets (upstream token credentials).") { reencrypt };
    }
}
