using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Quota.Abstractions;
using Quota.Grains.Subjects;

namespace Quota.Server.Admin;

/// <summary>
/// A whole declarative configuration document (JSON or YAML):
/// <c>{ "users": { id: { "policies": [...] } }, "resources": { name: { "policies": [...] } },
/// "keys": [ { "user", "key" | "keyId", "policies" } ],
/// "upstreams": { name: { "bufferPercent", "window", "tokens": { id: { "secret", "policies", "dedicatedTo", "successor" } } } },
/// "tenants": { id: { "tier", "upstream", "reserved", ..., "adaptive": { "enabled", "minimum", "maximum" } } } }</c>.
/// Tokens and tenants are read as <see cref="TokenSpec"/> and <see cref="TenantSpec"/>, so every field the admin API
/// takes is taken here too. Subjects, upstreams, tokens and tenants the document does not name are left alone.
/// </summary>
public sealed class ApplyDocument
{
    /// <summary>Users and their own policies.</summary>
    public Dictionary<string, SubjectBody?>? Users { get; set; }

    /// <summary>Exact resources and their own policies (patterns live in configuration).</summary>
    public Dictionary<string, SubjectBody?>? Resources { get; set; }

    /// <summary>API keys: registered by raw key (hashed, never stored) or updated by key id.</summary>
    public List<KeyBody?>? Keys { get; set; }

    /// <summary>Upstreams and their tokens (tokens an upstream's entry does not name are left alone).</summary>
    public Dictionary<string, UpstreamBody?>? Upstreams { get; set; }

    /// <summary>Tenants.</summary>
    public Dictionary<string, TenantSpec?>? Tenants { get; set; }

    /// <summary>Queues by name, each a whole definition (omitted fields take the defaults; queues not named are left alone).</summary>
    public Dictionary<string, QueueBody?>? Queues { get; set; }

    /// <summary>Envoy rate-limit domains and their descriptor rules (<see cref="Rls.DomainBody"/>), by domain.</summary>
    public Dictionary<string, Rls.DomainBody?>? Domains { get; set; }

    /// <summary>Whether the document names anything of the tenancy configuration.</summary>
    public bool HasTenancy => Upstreams is { Count: > 0 } || Tenants is { Count: > 0 };
}

/// <summary>An upstream in a document: <see cref="UpstreamSpec"/>'s fields and its tokens.</summary>
public sealed class UpstreamBody
{
    /// <summary>Safety margin in percent; omitted: the default.</summary>
    public double? BufferPercent { get; set; }

    /// <summary>The window leases and reserves are counted in; omitted: the default.</summary>
    public TimeSpan? Window { get; set; }

    /// <summary>Tokens to set, by id.</summary>
    public Dictionary<string, TokenSpec?>? Tokens { get; set; }
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
/// <param name="Subject">The subject's label (for tenancy, as the tenancy configuration names it).</param>
/// <param name="Action">
/// <c>create</c>, <c>update</c>, <c>register</c> or <c>unchanged</c> for users, resources and keys; for tenancy, the
/// action the tenancy configuration names (it lists only what changes).
/// </param>
/// <param name="Old">The current value as JSON (a subject's own policies; null when none).</param>
/// <param name="New">The document's value as JSON (never a secret).</param>
public sealed record PlannedChange(string Subject, string Action, JsonNode? Old, JsonNode? New);

/// <summary>What applying (or planning) a document came to: every problem (then nothing was applied), or the changes.</summary>
/// <param name="Problems">Every problem with its path; empty when the document was accepted.</param>
/// <param name="Changes">The changes made, or on a dry run those that would be made.</param>
public sealed record ApplyOutcome(List<FieldProblem> Problems, List<PlannedChange> Changes);

/// <summary>
/// Parses and validates (every error with its path) <see cref="ApplyDocument"/>s, plans them against what is configured
/// (<see cref="ConfigurationPlan"/>) and applies a plan by running its writes.
/// </summary>
public sealed class ApplyPlanner(AdminService admin, ApiKeyHasher hasher, Rls.DomainAdmin? domains = null)
{
    // As strict as every request body: names in their exact case, numbers as numbers ("1" is a string), for JSON and
    // for YAML alike (YamlDocumentReader types plain scalars by the YAML 1.2 core schema, so a YAML 1 is a number).
    private static readonly JsonSerializerOptions DocumentJson = new(Http.HttpJson.RequestOptions)
    {
        PropertyNameCaseInsensitive = false,
        NumberHandling = JsonNumberHandling.Strict,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>Parses a document in <paramref name="format"/> within the default YAML bounds (see <see cref="YamlLimits.For"/>).</summary>
    public static ApplyDocument? Parse(string text, DocumentFormat format, out FieldProblem? problem) =>
        Parse(text, format, YamlLimits.For(text.Length), out problem);

    /// <summary>
    /// Parses a document written in <paramref name="format"/> (YAML within <paramref name="limits"/>); returns null with
    /// the problem when it is unreadable.
    /// </summary>
    public static ApplyDocument? Parse(string text, DocumentFormat format, YamlLimits limits, out FieldProblem? problem)
    {
        ArgumentNullException.ThrowIfNull(text);
        problem = null;
        try
        {
            ApplyDocument? document;
            if (format == DocumentFormat.Json)
            {
                document = JsonSerializer.Deserialize<ApplyDocument>(text, DocumentJson);
            }
            else
            {
                var node = YamlDocumentReader.Read(text, limits, out problem);
                if (problem is not null)
                {
                    return null;
                }

                document = node?.Deserialize<ApplyDocument>(DocumentJson);
            }

            if (document is null)
            {
                problem = new FieldProblem("body", "is empty; send a document with users, resources, keys, upstreams, tenants, queues or domains.");
            }

            return document;
        }
        catch (JsonException e)
        {
            problem = e.Message.Contains("could not be mapped", StringComparison.Ordinal)
                ? new FieldProblem(e.Path?.TrimStart('$', '.') is { Length: > 0 } p ? p : "body", $"has a field that is not part of a document ({e.Message.Split('\'')[1]}); check its spelling and case; see the API reference (users, resources, keys, upstreams, tenants, queues, domains).")
                : new FieldProblem(e.Path?.TrimStart('$', '.') is { Length: > 0 } path ? path : "body", format == DocumentFormat.Json && e.Path is null or "$"
                    ? $"is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine}); a YAML document is sent as application/yaml."
                    : "has the wrong type or is malformed (numbers and booleans are written plainly, not quoted); see the API reference.");
        }

        return null;
    }

    /// <summary>
    /// Validates the whole document and, unless it has a problem or <paramref name="dryRun"/>, applies it. All or
    /// nothing: the tenancy part is validated whole by the tenancy configuration (a dry run of the same change) and its
    /// problems join the others; an invalid document changes nothing. Then the document is planned
    /// (<see cref="ConfigurationPlan"/>) and the plan's writes are run, the tenancy part first, as one change, so a
    /// configuration changed by someone else in between is refused before any subject is touched.
    /// </summary>
    public async Task<ApplyOutcome> RunAsync(ApplyDocument document, bool dryRun)
    {
        ArgumentNullException.ThrowIfNull(document);
        var problems = await ValidateAsync(document);
        var queues = QueuesOf(document, problems);
        var tenancy = TenancyOf(document, problems);
        TenancyOutcome? preview = null;
        if (tenancy is not null)
        {
            preview = await admin.ChangeTenancyAsync(tenancy, dryRun: true);
            problems.AddRange(preview.Problems);
        }

        if (problems.Count > 0)
        {
            return new ApplyOutcome(problems, []);
        }

        var plan = await PlanAsync(document, tenancy, preview);
        var queueChanges = await PlanQueuesAsync(queues);
        var (domainChanges, domainWrites) = domains is null ? ([], []) : await domains.PlanAsync(document.Domains);
        if (dryRun)
        {
            return new ApplyOutcome([], [.. plan.Changes, .. domainChanges, .. queueChanges]);
        }

        TenancyOutcome? applied = null;
        foreach (var write in plan.Writes)
        {
            var outcome = await admin.WriteAsync(write, "apply");
            if (outcome is { Problems.Length: > 0 })
            {
                return new ApplyOutcome([.. outcome.Problems], []);
            }

            applied = outcome ?? applied;
        }

        foreach (var write in domainWrites)
        {
            await domains!.SetAsync(write.Domain, write.Body, "apply");
        }

        foreach (var (name, definition) in queues)
        {
            await admin.DefineQueueAsync(name, definition, "apply");
        }

        return new ApplyOutcome([], [.. plan.SubjectChanges, .. domainChanges, .. ConfigurationPlan.Planned(applied), .. queueChanges]);
    }

    /// <summary>The document's queues as definitions, every problem named by its path (<c>queues.q1.maxAttempts</c>).</summary>
    internal static List<(string Name, QueueDefinition Definition)> QueuesOf(ApplyDocument document, List<FieldProblem> problems)
    {
        var queues = new List<(string, QueueDefinition)>();
        foreach (var (name, body) in document.Queues ?? [])
        {
            var path = $"queues.{name}";
            var before = problems.Count;
            RequestRules.CheckName(problems, path, name);
            if (body is null)
            {
                problems.Add(new(path, "a queue's fields are required here (at least its dispatch); a document cannot remove one, DELETE /v1/admin/queues/{name} does."));
                continue;
            }

            if (body.ToDefinition(path + ".", problems) is { } definition && problems.Count == before)
            {
                queues.Add((name, definition));
            }
        }

        return queues;
    }

    /// <summary>Each queue's planned change against its current definition: <c>create</c>, <c>update</c> or <c>unchanged</c>.</summary>
    private async Task<List<PlannedChange>> PlanQueuesAsync(List<(string Name, QueueDefinition Definition)> queues)
    {
        var changes = new List<PlannedChange>();
        foreach (var (name, definition) in queues)
        {
            var current = AdminService.QueueJson(await admin.GetQueueAsync(name));
            var next = AdminService.QueueJson(definition);
            var action = current is null ? "create" : current == next ? "unchanged" : "update";
            changes.Add(new PlannedChange($"queue:{name}", action, current is null ? null : JsonNode.Parse(current), JsonNode.Parse(next!)));
        }

        return changes;
    }

    /// <summary>Plans a (valid) document against the subjects' current values; see <see cref="ConfigurationPlan.Of"/>.</summary>
    public async Task<ConfigurationPlan> PlanAsync(ApplyDocument document, TenancyChange? tenancy = null, TenancyOutcome? tenancyPreview = null)
    {
        ArgumentNullException.ThrowIfNull(document);
        var current = new Dictionary<string, SubjectPolicies>(StringComparer.Ordinal);
        foreach (var (kind, entries) in new[] { (SubjectKind.User, document.Users), (SubjectKind.Resource, document.Resources) })
        {
            foreach (var id in (entries ?? []).Keys)
            {
                current[SubjectNames.Label(kind, id)] = await admin.GetAsync(kind, id);
            }
        }

        var keys = new Dictionary<string, ApiKeyInfo>(StringComparer.Ordinal);
        foreach (var key in document.Keys ?? [])
        {
            var keyId = key!.KeyId ?? hasher.KeyId(key.Key!);
            if (await admin.GetKeyAsync(keyId) is { } info)
            {
                keys[keyId] = info;
            }
        }

        return ConfigurationPlan.Of(document, hasher.KeyId, current, keys, tenancy, tenancyPreview);
    }

    /// <summary>
    /// The document's tenancy part as one change (null when it names none), from <c>apply</c>. An entry written as
    /// null is a problem rather than a removal: a document says what should exist; removing is the admin API's DELETE.
    /// </summary>
    internal static TenancyChange? TenancyOf(ApplyDocument document, List<FieldProblem> problems)
    {
        if (!document.HasTenancy)
        {
            return null;
        }

        var change = new TenancyChange { Source = "apply" };
        var tokens = new List<TokenChange>();
        foreach (var (name, body) in document.Upstreams ?? [])
        {
            if (body is null)
            {
                problems.Add(new($"upstreams.{name}", "an upstream's fields are required here ({} for the defaults); a document cannot remove one, DELETE /v1/admin/upstreams/{name} does."));
                continue;
            }

            change.Upstreams[name] = new UpstreamSpec { BufferPercent = body.BufferPercent, Window = body.Window };
            foreach (var (id, token) in body.Tokens ?? [])
            {
                if (token is null)
                {
                    problems.Add(new($"upstreams.{name}.tokens.{id}", "a token's fields are required here (its policies); a document cannot remove one, DELETE /v1/admin/upstreams/{name}/tokens/{id} does."));
                    continue;
                }

                tokens.Add(new TokenChange(name, id, token));
            }
        }

        foreach (var (id, tenant) in document.Tenants ?? [])
        {
            if (tenant is null)
            {
                problems.Add(new($"tenants.{id}", "a tenant's fields are required here (at least its upstream); a document cannot remove one, DELETE /v1/admin/tenants/{id} does."));
                continue;
            }

            change.Tenants[id] = tenant;
        }

        return change with { Tokens = [.. tokens] };
    }

    /// <summary>Every problem with the document's users, resources and keys, each with its path.</summary>
    public async Task<List<FieldProblem>> ValidateAsync(ApplyDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        var problems = Rls.DomainAdmin.Validate(document.Domains);
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
}
