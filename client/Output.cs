using System.Globalization;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Quota.Cli;

/// <summary>
/// Where results and errors go. Results are Spectre.Console tables with ASCII borders on stdout (no colour and no
/// wrapping when stdout is redirected), or the service's JSON as is with <c>--json</c>. Errors go to stderr as plain text.
/// Text from the service is never interpreted as markup.
/// </summary>
internal sealed class Output
{
    private Output(IAnsiConsole console, bool json)
    {
        Console = console;
        Json = json;
    }

    public IAnsiConsole Console { get; }

    public TextWriter Error => System.Console.Error;

    /// <summary>Whether <c>--json</c> was given.</summary>
    public bool Json { get; }

    public static Output Create(bool json)
    {
        var redirected = System.Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Out = new AnsiConsoleOutput(System.Console.Out),
        });
        if (redirected)
        {
            // Files and pipes: nothing wraps at 80 columns, and plain ASCII.
            console.Profile.Width = 4096;
            console.Profile.Capabilities.Unicode = false;
        }

        return new Output(console, json);
    }

    public void Line(string text = "") => Console.WriteLine(text);

    public void Line(string text, Color colour) => Console.Write(new Text(text + Environment.NewLine, new Style(colour)));

    /// <summary>Aligned "label: value" lines.</summary>
    public void Fields(params (string Label, string? Value)[] fields)
    {
        var width = fields.Where(f => f.Value is not null).Select(f => f.Label.Length).DefaultIfEmpty(0).Max() + 2;
        foreach (var (label, value) in fields)
        {
            if (value is not null)
            {
                Line((label + ":").PadRight(width) + value);
            }
        }
    }

    public Table Table(params string[] headers)
    {
        // ASCII borders everywhere: they survive any terminal encoding, logs and copy-paste.
        var table = new Table().Border(TableBorder.Ascii);
        foreach (var header in headers)
        {
            table.AddColumn(new TableColumn(new Text(header)));
        }

        return table;
    }

    public static void Row(Table table, params string?[] cells) =>
        table.AddRow(cells.Select(cell => (IRenderable)new Text(cell ?? "-")).ToArray());

    public void Write(Table table) => Console.Write(table);

    /// <summary>Prints the raw body (for <c>--json</c>).</summary>
    public void Raw(ApiResponse response)
    {
        if (response.Body.Length > 0)
        {
            System.Console.Out.WriteLine(response.Body);
        }
    }

    /// <summary>
    /// A successful answer: the raw JSON with <c>--json</c>, else <paramref name="render"/>. Exit code 0.
    /// </summary>
    public int Done(ApiResponse response, Action<JsonNode?> render)
    {
        if (Json)
        {
            Raw(response);
        }
        else
        {
            render(response.Json);
        }

        return ExitCodes.Ok;
    }

    /// <summary>An error answer: its problem details on stderr (and the raw JSON on stdout with <c>--json</c>). Exit code 2.</summary>
    public int Fail(ApiResponse response, Session session)
    {
        if (Json)
        {
            Raw(response);
        }

        var problem = response.Json as JsonObject;
        var title = Str(problem?["title"]);
        if (title is null)
        {
            Error.WriteLine($"quota: HTTP {response.Status} {response.Reason} from {response.Method} {response.Path}.");
            if (response.Body.Length > 0 && problem is null)
            {
                Error.WriteLine("  " + (response.Body.Length > 500 ? response.Body[..500] + "..." : response.Body).Trim());
            }
        }
        else
        {
            Error.WriteLine($"quota: {title} (HTTP {response.Status})");
            var errors = (problem?["errors"] as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
            if (errors.Count > 0)
            {
                foreach (var error in errors)
                {
                    Error.WriteLine($"  {Str(error["field"]) ?? "?"}: {Str(error["detail"])}");
                }
            }
            else if (Str(problem?["detail"]) is { } detail)
            {
                Error.WriteLine($"  {detail}");
            }

            if (Str(problem?["limitedBy"]) is { } limitedBy)
            {
                Error.WriteLine($"  limited by: {limitedBy}");
            }
        }

        switch (response.Status)
        {
            case 401:
                Error.WriteLine("hint: this service requires its admin token: set QUOTA_TOKEN (or pass --token).");
                break;
            case 403 when session.HasToken:
                Error.WriteLine("hint: the service rejected the admin token: check QUOTA_TOKEN (or --token).");
                break;
            case 403:
                Error.WriteLine("hint: set QUOTA_TOKEN to the service's Quota:Admin:Token (or run quota on the service's own machine).");
                break;
        }

        return ExitCodes.Error;
    }

    /// <summary>A JSON value as text: strings unquoted, anything else as JSON; null for null or missing.</summary>
    public static string? Str(JsonNode? node) => node switch
    {
        null => null,
        JsonValue value when value.TryGetValue<string>(out var text) => text,
        _ => node.ToJsonString(),
    };

    public static long? Number(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<long>(out var number) ? number : null;

    public static bool Flag(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<bool>(out var flag) && flag;

    public static string Ms(long? ms) => ms is null ? "-" : $"{ms.Value.ToString(CultureInfo.InvariantCulture)} ms";

    /// <summary>
    /// A change as <c>old → new</c>: for two objects only the fields that differ (<c>reserved: 30 → 40</c>); policy lists
    /// as <c>name algorithm limit/window</c>; <c>none</c> for nothing. Neither side ever holds a secret (the service
    /// never sends one).
    /// </summary>
    public static string Change(JsonNode? old, JsonNode? @new)
    {
        if (JsonNode.DeepEquals(old, @new))
        {
            return "no change";
        }

        if (old is JsonObject before && @new is JsonObject after)
        {
            var fields = before.Select(pair => pair.Key).Union(after.Select(pair => pair.Key), StringComparer.Ordinal)
                .Where(key => !JsonNode.DeepEquals(before[key], after[key]))
                .Select(key => $"{key}: {Brief(before[key])} → {Brief(after[key])}")
                .ToList();
            return fields.Count == 0 ? "unchanged" : string.Join(", ", fields);
        }

        return $"{Brief(old)} → {Brief(@new)}";
    }

    private static string Brief(JsonNode? node) => node switch
    {
        null => "none",
        JsonArray { Count: 0 } => "none",
        JsonArray list when list.All(item => item is JsonObject policy && policy["name"] is not null && policy["algorithm"] is not null) =>
            string.Join("; ", list.OfType<JsonObject>().Select(policy =>
                $"{Str(policy["name"])} {Str(policy["algorithm"])} {Str(policy["limit"])}/{Str(policy["window"]) ?? Str(policy["period"]) ?? Str(policy["leaseTtl"]) ?? "-"}")),
        JsonObject { Count: 1 } only when only["policies"] is JsonArray policies => Brief(policies),
        JsonObject fields => string.Join(", ", fields.Where(pair => pair.Value is not null).Select(pair => $"{pair.Key}: {Brief(pair.Value)}")),
        _ => Str(node) ?? "none",
    };

    /// <summary>A timestamp from the service as <c>yyyy-MM-dd HH:mm:ss</c> in UTC; as sent when it does not parse; null for null or missing.</summary>
    public static string? Utc(JsonNode? node)
    {
        var text = Str(node);
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when)
            ? when.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)
            : text;
    }

    /// <summary>Policy definitions (as configured: name, algorithm, limit, window, ...) as a table.</summary>
    public void Policies(JsonNode? policies, string none)
    {
        var list = (policies as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
        if (list.Count == 0)
        {
            Line(none);
            return;
        }

        var table = Table("POLICY", "ALGORITHM", "LIMIT", "WINDOW", "DETAILS");
        foreach (var policy in list)
        {
            var details = new List<string>();
            foreach (var (key, label) in new[] { ("burst", "burst"), ("period", "period"), ("timeZone", "time zone"), ("leaseTtl", "lease ttl") })
            {
                if (Str(policy[key]) is { } value)
                {
                    details.Add($"{label} {value}");
                }
            }

            Row(table, Str(policy["name"]), Str(policy["algorithm"]), Str(policy["limit"]), Str(policy["window"]), details.Count == 0 ? null : string.Join(", ", details));
        }

        Write(table);
    }

    /// <summary>Policy states (a decision's or a usage report's <c>policies</c>) as a table.</summary>
    public void States(JsonNode? policies)
    {
        var list = (policies as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
        if (list.Count == 0)
        {
            Line("no policies apply.");
            return;
        }

        var table = Table("SUBJECT", "POLICY", "ALGORITHM", "REMAINING", "LIMIT", "WINDOW", "RESET AFTER");
        foreach (var state in list)
        {
            Row(
                table,
                Str(state["subject"]),
                Str(state["policy"]),
                Str(state["algorithm"]),
                Str(state["remaining"]),
                Str(state["limit"]),
                Number(state["windowSeconds"]) is { } seconds ? $"{seconds} s" : null,
                Ms(Number(state["resetAfterMs"])));
        }

        Write(table);
    }
}
