using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Quota.Abstractions;

namespace Quota.Grains.Tenancy;

/// <summary>
/// What a tenancy change changed, entry by entry, as the change log records it: each upstream, token and tenant in its
/// change-log form (JSON, never a secret) before and after, listed when the two differ or a secret was replaced.
/// </summary>
internal static class TenancyDiff
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    // A token's change-log form is its view without what names it (the change's subject does) and without the numbers
    // derived from its policies and the upstream's buffer (a buffer change is the upstream's entry): never the secret,
    // only whether one is stored.
    private static readonly JsonSerializerOptions TokenOptions = new(JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { LeaveOutTokenKeyAndNumbers } },
    };

    /// <summary>Every entry that differs between <paramref name="before"/> and <paramref name="after"/>, by kind and name.</summary>
    /// <param name="before">The configuration before the change.</param>
    /// <param name="after">The configuration after it.</param>
    /// <param name="secretChanged">Tokens (<c>upstreams.{name}.tokens.{id}</c>) whose secret was replaced: listed even when nothing else of them changed.</param>
    public static List<TenancyChanged> Changes(TenancyModel before, TenancyModel after, HashSet<string> secretChanged)
    {
        var changes = new List<TenancyChanged>();
        foreach (var name in before.State.Upstreams.Keys.Union(after.State.Upstreams.Keys).Order(StringComparer.Ordinal))
        {
            before.State.Upstreams.TryGetValue(name, out var old);
            after.State.Upstreams.TryGetValue(name, out var now);
            Compare(changes, $"upstream:{name}", UpstreamJson(old), UpstreamJson(now), false);
            foreach (var id in TokenIds(old).Union(TokenIds(now)).Order(StringComparer.Ordinal))
            {
                Compare(changes, $"token:{name}/{id}", TokenJson(name, old, id), TokenJson(name, now, id), secretChanged.Contains($"upstreams.{name}.tokens.{id}"));
            }
        }

        foreach (var id in before.State.Tenants.Keys.Union(after.State.Tenants.Keys).Order(StringComparer.Ordinal))
        {
            Compare(changes, $"tenant:{id}", Json(before.Tenant(id)), Json(after.Tenant(id)), false);
        }

        return changes;
    }

    /// <summary>The ids of an upstream's tokens; none for no upstream.</summary>
    public static IEnumerable<string> TokenIds(StoredUpstream? upstream) => upstream?.Tokens.Keys ?? Enumerable.Empty<string>();

    /// <summary>A view (a tenant, a pool's or a token grain's setup) as JSON; null for none.</summary>
    public static string? Json(object? view) => view is null ? null : JsonSerializer.Serialize(view, view.GetType(), Options);

    private static void Compare(List<TenancyChanged> changes, string subject, string? old, string? now, bool secretReplaced)
    {
        if (old == now && !secretReplaced)
        {
            return;
        }

        var action = old is null ? "create" : now is null ? "remove" : "update";
        changes.Add(new TenancyChanged(subject, action, old, now));
    }

    private static string? UpstreamJson(StoredUpstream? upstream) => upstream is null ? null : JsonSerializer.Serialize(new
    {
        bufferPercent = TenancyModel.Buffer(upstream.Spec),
        window = TenancyModel.Window(upstream.Spec),
    }, Options);

    private static string? TokenJson(string upstream, StoredUpstream? stored, string id) =>
        stored is not null && stored.Tokens.TryGetValue(id, out var token)
            ? JsonSerializer.Serialize(TenancyModel.Token(upstream, stored, id, token), TokenOptions)
            : null;

    private static void LeaveOutTokenKeyAndNumbers(JsonTypeInfo info)
    {
        if (info.Type != typeof(TokenView))
        {
            return;
        }

        foreach (var property in info.Properties.Where(p => p.Name is "id" or "upstream" or "limit" or "usable").ToList())
        {
            info.Properties.Remove(property);
        }
    }
}
