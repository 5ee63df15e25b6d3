using System.Text.Json.Nodes;
using Quota.Abstractions;

namespace Quota.Server.Admin;

// The admin API's answers as named types, so the OpenAPI document describes each one (an anonymous object reaches it
// as an untyped "object"). Their JSON is what the admin API has always answered (docs/api.md): camelCase, nulls written.

/// <summary>A registered API key as the admin API shows it: its id and label, its owner and its own policies; never the raw key.</summary>
/// <param name="KeyId">The key's id: the hex of its peppered hash.</param>
/// <param name="Label">The subject's label, e.g. <c>key:…</c>.</param>
/// <param name="User">The user who owns the key.</param>
/// <param name="Policies">The key's own policies (empty: the configured defaults for keys apply).</param>
public sealed record KeyView(string KeyId, string Label, string User, PolicySpec[] Policies)
{
    internal static KeyView Of(ApiKeyInfo info) => new(info.KeyId, SubjectNames.Label(SubjectKind.ApiKey, info.KeyId), info.Owner, info.Policies);
}

/// <summary>The answer to registering a key (<c>201</c>): the raw key, shown this once, and what was stored.</summary>
/// <param name="KeyId">The key's id, for every later admin call about it.</param>
/// <param name="Key">The raw key: only its peppered hash is kept, so it is never shown again.</param>
/// <param name="User">The user who owns the key.</param>
/// <param name="Policies">The key's own policies.</param>
/// <param name="Note">Says that the raw key is shown once.</param>
public sealed record RegisteredKey(string KeyId, string Key, string User, PolicySpec[] Policies, string Note);

/// <summary>The users given policies through the admin API.</summary>
/// <param name="Users">Their ids.</param>
public sealed record UserList(string[] Users);

/// <summary>A user's registered keys.</summary>
/// <param name="User">The user.</param>
/// <param name="Keys">The keys (never a raw key).</param>
public sealed record UserKeys(string User, KeyView[] Keys);

/// <summary>The registered keys.</summary>
/// <param name="Keys">Their key ids.</param>
public sealed record KeyList(string[] Keys);

/// <summary>The resources: configured (names and patterns from configuration) and given policies through the admin API.</summary>
/// <param name="Configured">Names and patterns from configuration, sorted.</param>
/// <param name="Own">Resources given their own policies.</param>
public sealed record ResourceList(string[] Configured, string[] Own);

/// <summary>One entry of the change log, its old and new values as JSON.</summary>
/// <param name="Sequence">Its position in the log, increasing.</param>
/// <param name="At">When it was made.</param>
/// <param name="Subject">The subject's label, e.g. <c>user:alice</c>.</param>
/// <param name="Action">What was done, e.g. <c>set</c>, <c>reset</c>, <c>register</c>, <c>revoke</c>.</param>
/// <param name="Source">Where it came from: <c>api</c>, <c>apply</c> or the scheduler.</param>
/// <param name="Old">The previous value; null when there was none.</param>
/// <param name="New">The new value; null when removed.</param>
public sealed record ChangeView(long Sequence, DateTimeOffset At, string Subject, string Action, string Source, JsonNode? Old, JsonNode? New)
{
    internal static ChangeView Of(ChangeRecord change) => new(
        change.Sequence, change.At, change.Subject, change.Action, change.Source,
        change.Old is null ? null : JsonNode.Parse(change.Old), change.New is null ? null : JsonNode.Parse(change.New));
}

/// <summary>The change log, newest first.</summary>
/// <param name="Changes">The entries.</param>
public sealed record ChangeList(ChangeView[] Changes);

/// <summary>What <c>POST /v1/admin/apply</c> did (or, with <c>dryRun</c>, would do).</summary>
/// <param name="DryRun">Whether nothing was written.</param>
/// <param name="Changes">Every subject the document names, with its action (<c>create</c>, <c>update</c>, <c>unchanged</c>, …) and old and new values.</param>
/// <param name="Summary">How many changes of each action.</param>
/// <param name="Adapted">The scheduler's adaptations in force that differ from the document (its values are written all the same).</param>
internal sealed record ApplyAnswer(bool DryRun, List<PlannedChange> Changes, Dictionary<string, int> Summary, List<ApplyAdaptations.Adaptation> Adapted);

/// <summary>The scheduler's steps, newest first.</summary>
/// <param name="Changes">The steps, old → new and why.</param>
public sealed record SchedulerHistory(SchedulerChange[] Changes);

/// <summary>The configured upstreams.</summary>
/// <param name="Upstreams">Each with its tokens (never a secret).</param>
public sealed record UpstreamList(UpstreamView[] Upstreams);

/// <summary>An upstream's tokens.</summary>
/// <param name="Upstream">The upstream's name.</param>
/// <param name="Tokens">Its tokens (never a secret).</param>
public sealed record UpstreamTokens(string Upstream, TokenView[] Tokens);

/// <summary>The configured tenants.</summary>
/// <param name="Tenants">Each as stored, with what the scheduler adapted.</param>
public sealed record TenantList(TenantView[] Tenants);
