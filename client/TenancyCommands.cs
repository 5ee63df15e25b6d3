using System.CommandLine;
using System.Text.Json.Nodes;

namespace Quota.Cli;

/// <summary>
/// Tenancy: <c>tenants</c> here; <c>upstreams</c> (with their <c>tokens</c> and <c>allocation</c>), <c>feedback</c>
/// and <c>secrets</c> in <c>TenancyCommands.Upstreams.cs</c>, over <c>/v1/admin</c> and <c>POST /v1/feedback</c>. A
/// token's secret is read from a file or an environment variable, never from an argument (arguments show in the
/// process list), and never printed.
/// </summary>
internal static partial class TenancyCommands
{
    private const string Admin = "v1/admin/";

    public static Command Tenants(GlobalOptions globals)
    {
        var list = new Command("list", "List tenants with their resolved settings.");
        list.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync(Admin + "tenants", ct);
            return session.Show(response, body =>
            {
                var tenants = Objects(body?["tenants"]);
                if (tenants.Count == 0)
                {
                    session.Output.Line("no tenants are configured.");
                    return;
                }

                var table = session.Output.Table("TENANT", "TIER", "UPSTREAM", "STRATEGY", "RESERVED", "BURST", "WEIGHT", "PRIORITY");
                foreach (var tenant in tenants)
                {
                    Output.Row(
                        table,
                        Output.Str(tenant["id"]),
                        Output.Str(tenant["tier"]),
                        Output.Str(tenant["upstream"]),
                        Output.Str(tenant["strategy"]),
                        Output.Str(tenant["reserved"]),
                        Output.Str(tenant["burst"]) ?? "unbounded",
                        Output.Str(tenant["weight"]),
                        Output.Str(tenant["priority"]));
                }

                session.Output.Write(table);
            });
        });

        var getId = TenantId();
        var get = new Command("get", "Show a tenant with every default resolved.") { getId };
        get.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync($"{Admin}tenants/{Session.Segment(parse.GetValue(getId)!)}", ct);
            return session.Show(response, body => ShowTenant(session.Output, body));
        });

        var setId = TenantId();
        var tier = new Option<string?>("--tier") { Description = "premium, standard or basic (default standard); omitted settings take the tier's.", HelpName = "TIER" };
        var upstream = new Option<string?>("--upstream") { Description = "The upstream whose tokens the tenant uses (required).", HelpName = "NAME" };
        var reserved = new Option<long?>("--reserved") { Description = "Guaranteed permits per upstream window.", HelpName = "N" };
        var burst = new Option<long?>("--burst") { Description = "The most it may borrow from the pool per window beyond its reserve.", HelpName = "N" };
        var weight = new Option<double?>("--weight") { Description = "Its relative share when the pool is short (positive).", HelpName = "W" };
        var strategy = new Option<string?>("--strategy") { Description = "shared (the pool), dedicated (its own tokens) or hybrid (its own, then the pool).", HelpName = "STRATEGY" };
        var priority = new Option<int?>("--priority") { Description = "Service class when the pool is short, 0 to 9 (higher first).", HelpName = "N" };
        var adaptive = new Option<string?>("--adaptive") { Description = "on (the default) lets the scheduler adapt the reserve to the tenant's use; off keeps it as written.", HelpName = "on|off" };
        adaptive.AcceptOnlyFromAmong("on", "off");
        var adaptiveMin = new Option<long?>("--adaptive-min") { Description = "The least the scheduler lowers the reserve to.", HelpName = "N" };
        var adaptiveMax = new Option<long?>("--adaptive-max") { Description = "The most the scheduler raises the reserve to (default: as far as the 80% reservation rule allows).", HelpName = "N" };
        var set = new Command("set", "Create or replace a tenant; options not given take their defaults (as with PUT).")
        {
            setId, tier, upstream, reserved, burst, weight, strategy, priority, adaptive, adaptiveMin, adaptiveMax,
        };
        set.Runs(globals, async (session, parse, ct) =>
        {
            var body = new JsonObject();
            Put(body, "tier", parse.GetValue(tier));
            Put(body, "upstream", parse.GetValue(upstream));
            Put(body, "reserved", parse.GetValue(reserved));
            Put(body, "burst", parse.GetValue(burst));
            Put(body, "weight", parse.GetValue(weight));
            Put(body, "strategy", parse.GetValue(strategy));
            Put(body, "priority", parse.GetValue(priority));
            var bounds = new JsonObject();
            Put(bounds, "enabled", parse.GetValue(adaptive) switch { "on" => true, "off" => false, _ => (bool?)null });
            Put(bounds, "minimum", parse.GetValue(adaptiveMin));
            Put(bounds, "maximum", parse.GetValue(adaptiveMax));
            if (bounds.Count > 0)
            {
                body["adaptive"] = bounds;
            }

            var response = await session.SendJsonAsync(HttpMethod.Put, $"{Admin}tenants/{Session.Segment(parse.GetValue(setId)!)}", body, ct);
            return session.Show(response, answer =>
            {
                session.Output.Line($"set tenant {Output.Str(answer?["id"])}");
                ShowTenant(session.Output, answer);
            });
        });

        var deleteId = TenantId();
        var delete = new Command("delete", "Remove a tenant: its reserve goes back to the pool.") { deleteId };
        delete.Runs(globals, async (session, parse, ct) =>
        {
            var id = parse.GetValue(deleteId)!;
            var response = await session.DeleteAsync($"{Admin}tenants/{Session.Segment(id)}", ct);
            return session.Show(response, _ => session.Output.Line($"deleted tenant {id}"));
        });

        return new Command("tenants", "Tenants: reserved quota, burst, weight and strategy on an upstream's shared pool.") { list, get, set, delete };
    }

    private static Argument<string> TenantId() => new("id") { Description = "The tenant's id." };

    private static void ShowTenant(Output output, JsonNode? body)
    {
        var dedicated = Strings(body?["dedicatedTokens"]);
        output.Fields(
            ("tenant", Output.Str(body?["id"])),
            ("tier", Output.Str(body?["tier"])),
            ("upstream", Output.Str(body?["upstream"])),
            ("strategy", Output.Str(body?["strategy"])),
            ("reserved", Output.Str(body?["reserved"])),
            ("configured reserve", Output.Str(body?["configuredReserved"])),
            ("adaptive", Adaptive(body?["adaptive"])),
            ("adapted at", Output.Utc(body?["adaptedAt"]) is { } at ? at + " UTC" : "never (the reserve is as configured)"),
            ("burst", Output.Str(body?["burst"]) ?? "unbounded"),
            ("weight", Output.Str(body?["weight"])),
            ("priority", Output.Str(body?["priority"])),
            ("window", Output.Number(body?["windowSeconds"]) is { } seconds ? $"{seconds} s" : null),
            ("dedicated tokens", dedicated.Count == 0 ? "none" : string.Join(", ", dedicated)));
    }

    /// <summary>A tenant's adaptive settings in words: <c>off</c>, <c>on</c>, <c>on, from 20 to 80</c>.</summary>
    private static string? Adaptive(JsonNode? adaptive)
    {
        if (adaptive is null)
        {
            return null;
        }

        if (adaptive["enabled"] is JsonValue enabled && enabled.TryGetValue<bool>(out var on) && !on)
        {
            return "off";
        }

        return (Output.Number(adaptive["minimum"]), Output.Number(adaptive["maximum"])) switch
        {
            ({ } min, { } max) => $"on, from {min} to {max}",
            ({ } min, null) => $"on, at least {min}",
            (null, { } max) => $"on, at most {max}",
            _ => "on",
        };
    }

    private static void Put<T>(JsonObject body, string name, T? value)
    {
        if (value is not null)
        {
            body[name] = JsonValue.Create(value);
        }
    }

    private static string? Seconds(JsonNode? node) => Output.Number(node) is { } seconds ? $"{seconds} s" : null;

    private static List<JsonObject> Objects(JsonNode? node) => (node as JsonArray)?.OfType<JsonObject>().ToList() ?? [];

    private static List<string> Strings(JsonNode? node) => (node as JsonArray)?.Select(Output.Str).OfType<string>().ToList() ?? [];
}
