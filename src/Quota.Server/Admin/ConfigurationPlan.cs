using System.Text.Json;
using System.Text.Json.Nodes;
using Quota.Abstractions;

namespace Quota.Server.Admin;

/// <summary>
/// One write of a <see cref="ConfigurationPlan"/>, complete in itself: it names its subject and carries the value to
/// write, so a plan's writes do the same whatever order they run in and whatever order the planner read the document in.
/// </summary>
public abstract record ConfigurationWrite
{
    /// <summary>The change-log label of what it writes (<c>user:alice</c>; for tenancy, <c>tenancy</c>).</summary>
    public abstract string Subject { get; }
}

/// <summary>Replaces a user's or resource's own policies.</summary>
/// <param name="Kind">User or resource.</param>
/// <param name="Id">The user's id or the resource's name.</param>
/// <param name="Policies">The policies as the document wrote them.</param>
public sealed record SetSubjectPolicies(SubjectKind Kind, string Id, PolicySpec[] Policies) : ConfigurationWrite
{
    /// <inheritdoc />
    public override string Subject => SubjectNames.Label(Kind, Id);
}

/// <summary>Registers a raw key for a user (or replaces the policies of one already registered to that user).</summary>
/// <param name="KeyId">The key's id (the raw key's peppered hash): what the change log names.</param>
/// <param name="User">The user it belongs to.</param>
/// <param name="RawKey">The raw key; never shown.</param>
/// <param name="Policies">Its own policies; null for none.</param>
public sealed record RegisterKey(string KeyId, string User, string RawKey, PolicySpec[]? Policies) : ConfigurationWrite
{
    /// <inheritdoc />
    public override string Subject => SubjectNames.Label(SubjectKind.ApiKey, KeyId);

    /// <inheritdoc />
    public override string ToString() => $"RegisterKey {{ KeyId = {KeyId}, User = {User} }}";
}

/// <summary>Replaces a registered key's own policies.</summary>
/// <param name="KeyId">The key's id.</param>
/// <param name="Policies">Its own policies; null for none.</param>
public sealed record SetKeyPolicies(string KeyId, PolicySpec[]? Policies) : ConfigurationWrite
{
    /// <inheritdoc />
    public override string Subject => SubjectNames.Label(SubjectKind.ApiKey, KeyId);
}

/// <summary>The tenancy part, one change the tenancy grain validates and applies whole.</summary>
/// <param name="Change">The change.</param>
public sealed record ChangeTenancy(TenancyChange Change) : ConfigurationWrite
{
    /// <inheritdoc />
    public override string Subject => "tenancy";
}

/// <summary>
/// What a document comes to against the configuration now: the changes it makes (old and new value of each subject,
/// as the change log shows them) and the writes that make them. Planning reads; only <see cref="ApplyPlanner"/>'s apply
/// runs the writes, the tenancy write first (refused whole if the tenancy configuration changed in between, before any
/// subject is touched).
/// </summary>
/// <param name="SubjectChanges">Every user, resource and key the document names, with what happens to it (unchanged ones too).</param>
/// <param name="TenancyChanges">What the tenancy grain's dry run of the tenancy part said it would change (it lists only what changes).</param>
/// <param name="Writes">The writes: one for the tenancy part when the document has one, then one per changed user, resource or key.</param>
public sealed record ConfigurationPlan(IReadOnlyList<PlannedChange> SubjectChanges, IReadOnlyList<PlannedChange> TenancyChanges, IReadOnlyList<ConfigurationWrite> Writes)
{
    /// <summary>Every change, the subjects' first.</summary>
    public IReadOnlyList<PlannedChange> Changes => [.. SubjectChanges, .. TenancyChanges];

    /// <summary>
    /// Plans the document's users, resources and keys against their current values (<paramref name="current"/> by
    /// label, <paramref name="keys"/> by key id; a key absent from it is not registered), and its tenancy part from the
    /// tenancy grain's dry run of <paramref name="tenancy"/>. The document must be valid.
    /// </summary>
    public static ConfigurationPlan Of(
        ApplyDocument document,
        Func<string, string> keyIdOf,
        IReadOnlyDictionary<string, SubjectPolicies> current,
        IReadOnlyDictionary<string, ApiKeyInfo> keys,
        TenancyChange? tenancy = null,
        TenancyOutcome? tenancyPreview = null)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(keyIdOf);
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(keys);
        var changes = new List<PlannedChange>();
        var writes = new List<ConfigurationWrite>();
        foreach (var (kind, entries) in new[] { (SubjectKind.User, document.Users), (SubjectKind.Resource, document.Resources) })
        {
            foreach (var (id, body) in entries ?? [])
            {
                var label = SubjectNames.Label(kind, id);
                var own = current.TryGetValue(label, out var now) && now.Own ? now.Policies : null;
                var desired = Normalize(body!.Policies!);
                var action = own is null ? "create" : own.SequenceEqual(desired) ? "unchanged" : "update";
                changes.Add(new PlannedChange(label, action, Node(own), Node(desired)));
                if (action != "unchanged")
                {
                    writes.Add(new SetSubjectPolicies(kind, id, body.Policies!));
                }
            }
        }

        foreach (var key in document.Keys ?? [])
        {
            var keyId = key!.KeyId ?? keyIdOf(key.Key!);
            var registered = keys.GetValueOrDefault(keyId);
            var desired = key.Policies is null ? [] : Normalize(key.Policies);
            var action = registered is null ? "register" : registered.Policies.SequenceEqual(desired) ? "unchanged" : "update";
            changes.Add(new PlannedChange(SubjectNames.Label(SubjectKind.ApiKey, keyId), action, Node(registered?.Policies), Node(desired)));
            if (action != "unchanged")
            {
                writes.Add(key.Key is { } raw ? new RegisterKey(keyId, key.User!, raw, key.Policies) : new SetKeyPolicies(keyId, key.Policies));
            }
        }

        if (tenancy is not null)
        {
            writes.Insert(0, new ChangeTenancy(tenancy));
        }

        return new ConfigurationPlan(changes, [.. Planned(tenancyPreview)], writes);
    }

    /// <summary>The tenancy grain's changes as planned changes.</summary>
    internal static IEnumerable<PlannedChange> Planned(TenancyOutcome? outcome) =>
        outcome?.Changes.Select(c => new PlannedChange(c.Subject, c.Action, Node(c.Old), Node(c.New))) ?? [];

    private static JsonNode? Node(string? json) => json is null ? null : JsonNode.Parse(json);

    private static JsonNode? Node(PolicySpec[]? policies) =>
        policies is null ? null : JsonSerializer.SerializeToNode(policies, Http.HttpJson.ResponseOptions);

    private static PolicySpec[] Normalize(PolicySpec[] specs) =>
        [.. PolicySpec.ToDefinitions(specs, "policies", out _)!.Select(PolicySpec.From)];
}
