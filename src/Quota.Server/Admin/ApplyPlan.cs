using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Quota.Abstractions;
using Quota.Grains.Subjects;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace Quota.Server.Admin;

/// <summary>
/// A whole declarative configuration document (JSON or YAML):
/// <c>{ "users": { id: { "policies": [...] } }, "resources": { name: { "policies": [...] } },
/// "keys": [ { "user", "key" | "keyId", "policies" } ] }</c>. Subjects the document does not name are left alone.
/// </summary>
public sealed class ApplyDocument
{
    /// <summary>Users and their own policies.</summary>
    public Dictionary<string, SubjectBody?>? Users { get; set; }

    /// <summary>Exact resources and their own policies (patterns live in configuration).</summary>
    public Dictionary<string, SubjectBody?>? Resources { get; set; }

    /// <summary>API keys: registered by raw key (hashed, never stored) or updated by key id.</summary>
    public List<KeyBody?>? Keys { get; set; }
}

/// <summary>A subject's policies in an admin body or document.</summary>
public sealed class SubjectBody
{
    /// <summary>The policies; required.</summary>
    public PolicySpec[]? Policies { get; set; }
}

/// <summary>A key in an admin body or document.</summary>
public sealed class KeyBody
{
    /// <summary>The owning user (documents only; the URL names it for the API).</summary>
    public string? User { get; set; }

    /// <summary>The raw key to register; omitted in the API to have one generated.</summary>
    public string? Key { get; set; }

    /// <summary>An already registered key's id, to change its policies without the raw key.</summary>
    public string? KeyId { get; set; }

    /// <summary>The key's own policies; omitted for none.</summary>
    public PolicySpec[]? Policies { get; set; }
}

/// <summary>One planned change of an apply: what the subject has, what it will have, and what happens.</summary>
/// <param name="Subject">The subject's label.</param>
/// <param name="Action"><c>create</c>, <c>update</c>, <c>register</c> or <c>unchanged</c>.</param>
/// <param name="Old">The current policies (null when none of its own).</param>
/// <param name="New">The document's policies.</param>
public sealed record PlannedChange(string Subject, string Action, PolicySpec[]? Old, PolicySpec[]? New);

/// <summary>Parses, validates (every error with its path), diffs and applies <see cref="ApplyDocument"/>s.</summary>
public sealed class ApplyPlanner(AdminService admin, ApiKeyHasher hasher)
{
    private static readonly JsonSerializerOptions DocumentJson = new(Http.HttpJson.RequestOptions)
    {
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>Parses JSON (when it starts with '{') or YAML; returns null with the problem when unreadable.</summary>
    public static ApplyDocument? Parse(string text, out FieldProblem? problem)
    {
        problem = null;
        try
        {
            var json = text.TrimStart().StartsWith('{') ? text : YamlToJson(text);
            var document = JsonSerializer.Deserialize<ApplyDocument>(json, DocumentJson);
            if (document is null)
            {
                problem = new FieldProblem("body", "is empty; send a document with users, resources or keys.");
            }

            return document;
        }
        catch (JsonException e)
        {
            problem = e.Message.Contains("could not be mapped", StringComparison.Ordinal)
                ? new FieldProblem(e.Path?.TrimStart('$', '.') is { Length: > 0 } p ? p : "body", $"has a field that is not part of a document ({e.Message.Split('\'')[1]}); use users, resources and keys.")
                : new FieldProblem(e.Path?.TrimStart('$', '.') is { Length: > 0 } path ? path : "body", "has the wrong type or is malformed; see the API reference.");
        }
        catch (YamlException e)
        {
            problem = new FieldProblem("body", $"is neither JSON nor valid YAML (line {e.Start.Line}, column {e.Start.Column}).");
        }

        return null;
    }

    /// <summary>Every problem in the document, each with its path; empty when it may be applied.</summary>
    public async Task<List<FieldProblem>> ValidateAsync(ApplyDocument document)
    {
        var problems = new List<FieldProblem>();
        foreach (var (id, body) in document.Users ?? [])
        {
            ValidateSubject(problems, $"users.{id}", id, body, allowPattern: false);
        }

        foreach (var (name, body) in document.Resources ?? [])
        {
            ValidateSubject(problems, $"resources.{name}", name, body, allowPattern: false);
        }

        var keys = document.Keys ?? [];
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < keys.Count; i++)
        {
            var path = $"keys[{i}]";
            if (keys[i] is not { } key)
            {
                problems.Add(new(path, "a key entry is required here."));
                continue;
            }

            if (key.User is null)
            {
                problems.Add(new($"{path}.user", "is required: the user the key belongs to."));
            }
            else
            {
                RequestRules.CheckName(problems, $"{path}.user", key.User);
            }

            string? id = null;
            if ((key.Key is null) == (key.KeyId is null))
            {
                problems.Add(new($"{path}.key", "give exactly one of key (the raw key, to register it) or keyId (to change a registered key)."));
            }
            else if (key.KeyId is { } keyId && !ApiKeyHasher.IsKeyId(keyId))
            {
                problems.Add(new($"{path}.keyId", "must be a key id: 64 lower-case hex digits."));
            }
            else if (key.Key is { Length: < 16 })
            {
                problems.Add(new($"{path}.key", "is too short; use at least 16 random characters."));
            }
            else
            {
                id = key.KeyId ?? hasher.KeyId(key.Key!);
            }

            if (key.Policies is not null)
            {
                problems.AddRange(Http.HttpJson.PolicyProblems(key.Policies, $"{path}.policies"));
            }

            // Only a well-formed key is looked up, once: a key named twice would be applied twice, the second time
            // possibly for another user, which could not be refused before the first was applied.
            if (id is null)
            {
                continue;
            }

            if (seen.TryGetValue(id, out var first))
            {
                problems.Add(new($"{path}.{(key.KeyId is null ? "key" : "keyId")}", $"is the same key as keys[{first}]; name each key once."));
                continue;
            }

            seen[id] = i;
            var existing = await admin.GetKeyAsync(id);
            if (existing is null)
            {
                if (key.KeyId is not null)
                {
                    problems.Add(new($"{path}.keyId", "no key with this id is registered; register it with its raw key."));
                }
            }
            else if (key.User is not null && existing.Owner != key.User)
            {
                problems.Add(new($"{path}.user", "this key is registered to another user; revoke it there first."));
            }
        }

        return problems;
    }

    /// <summary>What applying the (valid) document would change.</summary>
    public async Task<List<PlannedChange>> PlanAsync(ApplyDocument document)
    {
        var changes = new List<PlannedChange>();
        foreach (var (kind, entries) in new[] { (SubjectKind.User, document.Users), (SubjectKind.Resource, document.Resources) })
        {
            foreach (var (id, body) in entries ?? [])
            {
                var current = await admin.GetAsync(kind, id);
                var desired = Normalize(body!.Policies!);
                var action = !current.Own ? "create" : current.Policies.SequenceEqual(desired) ? "unchanged" : "update";
                changes.Add(new PlannedChange(SubjectNames.Label(kind, id), action, current.Own ? current.Policies : null, desired));
            }
        }

        foreach (var key in document.Keys ?? [])
        {
            var keyId = key!.KeyId ?? hasher.KeyId(key.Key!);
            var current = await admin.GetKeyAsync(keyId);
            var desired = key.Policies is null ? [] : Normalize(key.Policies);
            var action = current is null ? "register" : current.Policies.SequenceEqual(desired) ? "unchanged" : "update";
            changes.Add(new PlannedChange(SubjectNames.Label(SubjectKind.ApiKey, keyId), action, current?.Policies, desired));
        }

        return changes;
    }

    /// <summary>Applies the (valid) document; answers the changes made (unchanged subjects are not touched).</summary>
    public async Task<List<PlannedChange>> ApplyAsync(ApplyDocument document)
    {
        var plan = await PlanAsync(document);
        var index = 0;
        foreach (var (kind, entries) in new[] { (SubjectKind.User, document.Users), (SubjectKind.Resource, document.Resources) })
        {
            foreach (var (id, body) in entries ?? [])
            {
                if (plan[index++].Action != "unchanged")
                {
                    await admin.SetPoliciesAsync(kind, id, body!.Policies, "apply");
                }
            }
        }

        foreach (var key in document.Keys ?? [])
        {
            if (plan[index++].Action == "unchanged")
            {
                continue;
            }

            if (key!.Key is { } raw)
            {
                await admin.RegisterKeyAsync(key.User!, raw, key.Policies, "apply");
            }
            else
            {
                await admin.SetKeyPoliciesAsync(key.KeyId!, key.Policies, "apply");
            }
        }

        return plan;
    }

    /// <summary>Checks one user's or resource's entry; shared with the single-subject endpoints.</summary>
    public static void ValidateSubject(List<FieldProblem> problems, string path, string id, SubjectBody? body, bool allowPattern)
    {
        RequestRules.CheckName(problems, path, id);
        if (!allowPattern && id.Contains('*', StringComparison.Ordinal))
        {
            problems.Add(new(path, "patterns are configured under Quota:Policies:Resources; the admin API sets exact names."));
        }

        if (body?.Policies is null)
        {
            problems.Add(new($"{path}.policies", "is required: the subject's policies."));
            return;
        }

        problems.AddRange(Http.HttpJson.PolicyProblems(body.Policies, $"{path}.policies"));
    }

    private static PolicySpec[] Normalize(PolicySpec[] specs) =>
        [.. PolicySpec.ToDefinitions(specs, "policies", out _)!.Select(PolicySpec.From)];

    private static string YamlToJson(string yaml)
    {
        var graph = new DeserializerBuilder().Build().Deserialize<object?>(yaml);
        return (ToNode(graph) ?? new JsonObject()).ToJsonString();
    }

    private static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        IDictionary<object, object> map => new JsonObject(map.Select(pair => KeyValuePair.Create(Convert.ToString(pair.Key, System.Globalization.CultureInfo.InvariantCulture)!, ToNode(pair.Value)))),
        IList<object> list => new JsonArray([.. list.Select(ToNode)]),
        _ => JsonValue.Create(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)),
    };
}
