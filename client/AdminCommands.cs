using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Quota.Cli;

/// <summary>
/// The admin API under <c>/v1/admin</c>: users, keys, resources, the change log and apply. Needs the admin token
/// (<c>QUOTA_TOKEN</c>) unless the service has none and quota runs on its machine.
/// </summary>
internal static class AdminCommands
{
    private const string Admin = "v1/admin/";

    public static Command Users(GlobalOptions globals)
    {
        var list = new Command("list", "List users with policies of their own.");
        list.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync(Admin + "users", ct);
            return session.Show(response, body =>
            {
                var users = Strings(body?["users"]);
                if (users.Count == 0)
                {
                    session.Output.Line("no users have policies of their own; every user has the defaults.");
                    return;
                }

                var table = session.Output.Table("USER");
                foreach (var user in users)
                {
                    Output.Row(table, user);
                }

                session.Output.Write(table);
            });
        });

        return SubjectCommands("users", "user", "Users' own policies (a user without any has the configured defaults).", list, globals);
    }

    public static Command Resources(GlobalOptions globals)
    {
        var list = new Command("list", "List configured resources and resources with policies of their own.");
        list.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync(Admin + "resources", ct);
            return session.Show(response, body =>
            {
                var configured = Strings(body?["configured"]);
                var own = Strings(body?["own"]);
                var names = configured.Union(own).Order(StringComparer.Ordinal).ToList();
                if (names.Count == 0)
                {
                    session.Output.Line("no resources are configured or have policies of their own.");
                    return;
                }

                var table = session.Output.Table("RESOURCE", "CONFIGURED", "OWN POLICIES");
                foreach (var name in names)
                {
                    Output.Row(table, name, configured.Contains(name) ? "yes" : "no", own.Contains(name) ? "yes" : "no");
                }

                session.Output.Write(table);
            });
        });

        return SubjectCommands("resources", "resource", "Resources' own policies (patterns such as 'telegram:chat:*' live in configuration).", list, globals);
    }

    /// <summary><c>get</c>, <c>set</c> and <c>delete</c> of users or resources, which share the API's shape.</summary>
    private static Command SubjectCommands(string area, string noun, string description, Command list, GlobalOptions globals)
    {
        var idName = noun == "user" ? "id" : "name";

        var getId = new Argument<string>(idName) { Description = $"The {noun}'s {(noun == "user" ? "id" : "name")}." };
        var get = new Command("get", $"Show a {noun}'s policies in force.") { getId };
        get.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync($"{Admin}{area}/{Session.Segment(parse.GetValue(getId)!)}", ct);
            return session.Show(response, body => ShowSubject(session.Output, body, noun));
        });

        var setId = new Argument<string>(idName) { Description = $"The {noun}'s {(noun == "user" ? "id" : "name")}." };
        var file = PolicyInput.File("A JSON file { \"policies\": [...] } ('-' reads stdin).");
        var policy = PolicyInput.Policy();
        var set = new Command("set", $"Replace a {noun}'s own policies; current usage is kept.") { setId, file, policy };
        set.Runs(globals, async (session, parse, ct) =>
        {
            var body = await PolicyInput.ReadAsync(parse.GetValue(file), parse.GetValue(policy), ct)
                ?? throw new UsageException("give the policies with -f FILE or --policy JSON (repeat for several).");
            var response = await session.SendJsonAsync(HttpMethod.Put, $"{Admin}{area}/{Session.Segment(parse.GetValue(setId)!)}", body, ct);
            return session.Show(response, answer =>
            {
                session.Output.Line($"set {Output.Str(answer?["subject"])}");
                ShowSubject(session.Output, answer, noun);
            });
        });

        var deleteId = new Argument<string>(idName) { Description = $"The {noun}'s {(noun == "user" ? "id" : "name")}." };
        var delete = new Command("delete", $"Remove a {noun}'s own policies: back to {(noun == "user" ? "the defaults" : "configuration")}.") { deleteId };
        delete.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.DeleteAsync($"{Admin}{area}/{Session.Segment(parse.GetValue(deleteId)!)}", ct);
            return session.Show(response, answer =>
            {
                session.Output.Line($"reset {Output.Str(answer?["subject"])}: its own policies are removed.");
                ShowSubject(session.Output, answer, noun);
            });
        });

        return new Command(area, description) { list, get, set, delete };
    }

    private static void ShowSubject(Output output, JsonNode? body, string noun)
    {
        var own = Output.Flag(body?["own"]);
        output.Fields(
            ("subject", Output.Str(body?["subject"])),
            ("policies", own ? "its own" : noun == "user" ? "the defaults" : "from configuration"));
        output.Policies(body?["policies"], noun == "user" ? "no policies apply." : "no policies: the resource is not configured.");
    }

    public static Command Keys(GlobalOptions globals)
    {
        var listUser = new Argument<string>("user") { Description = "The user whose keys to list." };
        var list = new Command("list", "List a user's registered API keys (by key id; raw keys are never kept).") { listUser };
        list.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync($"{Admin}users/{Session.Segment(parse.GetValue(listUser)!)}/keys", ct);
            return session.Show(response, body =>
            {
                var keys = (body?["keys"] as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
                if (keys.Count == 0)
                {
                    session.Output.Line($"user {Output.Str(body?["user"])} has no registered keys.");
                    return;
                }

                var table = session.Output.Table("KEY ID", "LABEL", "OWN POLICIES");
                foreach (var key in keys)
                {
                    var names = (key["policies"] as JsonArray)?.OfType<JsonObject>().Select(p => Output.Str(p["name"])).ToList() ?? [];
                    Output.Row(table, Output.Str(key["keyId"]), Output.Str(key["label"]), names.Count == 0 ? "none" : string.Join(", ", names));
                }

                session.Output.Write(table);
            });
        });

        var getId = KeyId();
        var get = new Command("get", "Show a registered key: its user and its own policies.") { getId };
        get.Runs(globals, async (session, parse, ct) =>
        {
            var response = await session.GetAsync($"{Admin}keys/{Session.Segment(parse.GetValue(getId)!)}", ct);
            return session.Show(response, body => ShowKey(session.Output, body));
        });

        var createUser = new Argument<string>("user") { Description = "The user the key belongs to." };
        // The raw key is a secret: never an argument, which other users of the machine can read (ps, /proc).
        var keyFile = new Option<string?>("--key-file") { Description = "Read the raw key to register (at least 16 characters) from this file (one trailing newline is dropped); '-' reads stdin. Omit it and --key-env to have one generated.", HelpName = "PATH" };
        var keyEnv = new Option<string?>("--key-env") { Description = "Read the raw key to register from this environment variable.", HelpName = "VAR" };
        var createFile = PolicyInput.File("A JSON file { \"policies\": [...] } with the key's own policies ('-' reads stdin).");
        var createPolicy = PolicyInput.Policy();
        var create = new Command("create", "Register an API key for a user. The raw key is printed once; only its hash is kept.") { createUser, keyFile, keyEnv, createFile, createPolicy };
        create.Runs(globals, async (session, parse, ct) =>
        {
            if (parse.GetValue(keyFile) is not null && parse.GetValue(keyEnv) is not null)
            {
                throw new UsageException("give the raw key either with --key-file or with --key-env, not both.");
            }

            if (parse.GetValue(keyFile) == "-" && parse.GetValue(createFile) == "-")
            {
                throw new UsageException("only one of -f and --key-file can read stdin.");
            }

            var body = await PolicyInput.ReadAsync(parse.GetValue(createFile), parse.GetValue(createPolicy), ct) ?? [];
            if (await TenancyCommands.SecretAsync(parse.GetValue(keyFile), parse.GetValue(keyEnv), ct) is { } rawKey)
            {
                body["key"] = rawKey;
            }

            var response = await session.SendJsonAsync(HttpMethod.Post, $"{Admin}users/{Session.Segment(parse.GetValue(createUser)!)}/keys", body, ct);
            return session.Show(response, answer =>
            {
                session.Output.Line($"registered a key for user {Output.Str(answer?["user"])}");
                session.Output.Fields(("key id", Output.Str(answer?["keyId"])), ("key", Output.Str(answer?["key"])));
                session.Output.Line("The raw key is shown once; only its peppered hash is kept. Store it now.");
                session.Output.Policies(answer?["policies"], "no policies of its own; its user's apply.");
            });
        });

        var setId = KeyId();
        var setFile = PolicyInput.File("A JSON file { \"policies\": [...] } ('-' reads stdin).");
        var setPolicy = PolicyInput.Policy();
        var clear = new Option<bool>("--clear") { Description = "Remove the key's own policies (its user's still apply)." };
        var set = new Command("set", "Replace a key's own policies; current usage is kept.") { setId, setFile, setPolicy, clear };
        set.Runs(globals, async (session, parse, ct) =>
        {
            var body = await PolicyInput.ReadAsync(parse.GetValue(setFile), parse.GetValue(setPolicy), ct);
            body = (body, parse.GetValue(clear)) switch
            {
                (null, true) => [],
                (null, false) => throw new UsageException("give the policies with -f FILE or --policy JSON (repeat for several), or --clear."),
                (_, true) => throw new UsageException("--clear takes no policies."),
                _ => body,
            };
            var response = await session.SendJsonAsync(HttpMethod.Put, $"{Admin}keys/{Session.Segment(parse.GetValue(setId)!)}", body, ct);
            return session.Show(response, answer =>
            {
                session.Output.Line($"set {Output.Str(answer?["label"])}");
                ShowKey(session.Output, answer);
            });
        });

        var deleteId = KeyId();
        var delete = new Command("delete", "Revoke a key: requests with it are refused from now on.") { deleteId };
        delete.Runs(globals, async (session, parse, ct) =>
        {
            var id = parse.GetValue(deleteId)!;
            var response = await session.DeleteAsync($"{Admin}keys/{Session.Segment(id)}", ct);
            return session.Show(response, _ => session.Output.Line($"revoked key {id}"));
        });

        return new Command("keys", "Inbound API keys: register, change their own policies, revoke.") { list, get, create, set, delete };
    }

    private static Argument<string> KeyId() => new("keyId") { Description = "The key id: 64 hex digits, as printed at registration." };

    private static void ShowKey(Output output, JsonNode? body)
    {
        output.Fields(("key id", Output.Str(body?["keyId"])), ("label", Output.Str(body?["label"])), ("user", Output.Str(body?["user"])));
        output.Policies(body?["policies"], "no policies of its own; its user's apply.");
    }

    public static Command Changes(GlobalOptions globals)
    {
        var limit = new Option<int?>("--limit", "-n") { Description = "At most this many, newest first (default 100).", HelpName = "N" };
        var subject = new Option<string?>("--subject", "-s") { Description = "Only this subject's changes, by label: user:alice, resource:telegram, key:<12 hex>.", HelpName = "LABEL" };
        var command = new Command("changes", "Show the recorded configuration changes, newest first.") { limit, subject };
        command.Runs(globals, async (session, parse, ct) =>
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

            var response = await session.GetAsync(Admin + "changes" + (query.Count == 0 ? string.Empty : "?" + string.Join('&', query)), ct);
            return session.Show(response, body =>
            {
                var changes = (body?["changes"] as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
                if (changes.Count == 0)
                {
                    session.Output.Line("no changes recorded.");
                    return;
                }

                var table = session.Output.Table("SEQUENCE", "AT (UTC)", "SUBJECT", "ACTION", "SOURCE", "OLD → NEW");
                foreach (var change in changes)
                {
                    Output.Row(table, Output.Str(change["sequence"]), Output.Utc(change["at"]), Output.Str(change["subject"]), Output.Str(change["action"]), Output.Str(change["source"]), Output.Change(change["old"], change["new"]));
                }

                session.Output.Write(table);
            });
        });
        return command;
    }

    public static Command Apply(GlobalOptions globals)
    {
        var file = new Option<string>("--file", "-f")
        {
            Description = "The document, JSON or YAML: { users: { id: { policies } }, resources: { name: { policies } }, keys: [ { user, key | keyId, policies } ], "
                + "upstreams: { name: { bufferPercent, window, tokens: { id: { secret, policies, dedicatedTo, successor } } } }, "
                + "tenants: { id: { tier, upstream, reserved, ..., adaptive: { enabled, minimum, maximum } } } } ('-' reads stdin).",
            HelpName = "FILE",
            Required = true,
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "Only show what would change." };
        var format = new Option<string?>("--format")
        {
            Description = "How the document is written: json or yaml. Default: by the file's extension (.json, .yaml, .yml); for stdin or another extension, json when it starts with '{', else yaml.",
            HelpName = "json|yaml",
        };
        format.AcceptOnlyFromAmong("json", "yaml");
        var command = new Command("apply", "Apply a declarative document: subjects it names get exactly its policies; others are left alone. All or nothing.") { file, dryRun, format };
        command.Runs(globals, async (session, parse, ct) =>
        {
            var path = parse.GetValue(file)!;
            var text = await PolicyInput.ReadFileAsync(path, ct);
            var mediaType = DocumentMediaType(parse.GetValue(format), path, text);
            var dry = parse.GetValue(dryRun);
            var response = await session.SendAsync(HttpMethod.Post, Admin + "apply" + (dry ? "?dryRun=true" : string.Empty), new StringContent(text, Encoding.UTF8, mediaType), ct);
            return session.Show(response, body =>
            {
                var changes = (body?["changes"] as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
                if (changes.Count > 0)
                {
                    var table = session.Output.Table("SUBJECT", "ACTION", "OLD → NEW");
                    foreach (var change in changes)
                    {
                        Output.Row(table, Output.Str(change["subject"]), Output.Str(change["action"]), Output.Change(change["old"], change["new"]));
                    }

                    session.Output.Write(table);
                }

                var summary = (body?["summary"] as JsonObject)?.Select(pair => $"{Output.Str(pair.Value)} {pair.Key}").ToList() ?? [];
                var counts = summary.Count == 0 ? "nothing to do" : string.Join(", ", summary);
                session.Output.Line(dry ? $"dry run, nothing applied: {counts}" : $"applied: {counts}");

                // The scheduler's adaptations in force that differ from the document: its values are written, these hold.
                var adapted = (body?["adapted"] as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
                if (adapted.Count > 0)
                {
                    session.Output.Line("the scheduler's adaptations differ from the document (the document's values are written as configured; these stay in force until a scheduler run decides again):");
                    var table = session.Output.Table("SUBJECT", "FIELD", "DOCUMENT", "IN FORCE", "WHY");
                    foreach (var entry in adapted)
                    {
                        Output.Row(table, Output.Str(entry["subject"]), Output.Str(entry["field"]), Output.Str(entry["document"]) ?? "none", Output.Str(entry["current"]) ?? "none", Output.Str(entry["reason"]) ?? "-");
                    }

                    session.Output.Write(table);
                }
            });
        });
        return command;
    }

    /// <summary>
    /// The Content-Type the service reads the document by: <c>--format</c>, else the file's extension, else (stdin,
    /// other extensions) JSON when the text starts with '{', else YAML.
    /// </summary>
    internal static string DocumentMediaType(string? format, string path, string text)
    {
        var json = format switch
        {
            "json" => true,
            "yaml" => false,
            _ => Path.GetExtension(path).ToLowerInvariant() switch
            {
                ".json" => true,
                ".yaml" or ".yml" => false,
                _ => text.TrimStart().StartsWith('{'),
            },
        };
        return json ? "application/json" : "application/yaml";
    }

    private static List<string> Strings(JsonNode? node) =>
        (node as JsonArray)?.Select(Output.Str).OfType<string>().ToList() ?? [];
}
