using System.Text.Json;
using System.Text.Json.Nodes;
using Quota.Abstractions;
using Quota.Grains.Rls;
using Quota.Server.Admin;

namespace Quota.Server.Rls;

/// <summary>A domain to set, from a plan of <c>apply</c> (validated).</summary>
/// <param name="Domain">The domain.</param>
/// <param name="Body">Its whole configuration.</param>
public sealed record SetDomain(string Domain, DomainBody Body) : ConfigurationWrite
{
    /// <inheritdoc />
    public override string Subject => DomainAdmin.Label(Domain);
}

/// <summary>
/// Reads and changes the descriptor configuration (<see cref="IDomainsGrain"/>) for the admin API and <c>apply</c>:
/// every change is recorded in the change log (<c>domain:{name}</c>) and seen by this silo's decisions at once.
/// </summary>
public sealed class DomainAdmin(IGrainFactory grains, DomainCatalog catalog)
{
    /// <summary>The change log's label of a domain.</summary>
    public static string Label(string domain) => $"domain:{domain}";

    /// <summary>The stored form of a (valid) domain body.</summary>
    public static string Canonical(DomainBody body) => JsonSerializer.Serialize(body, DomainRules.Json);

    /// <summary>Every configured domain's name, sorted.</summary>
    public async Task<string[]> ListAsync() =>
        [.. (await grains.GetGrain<IDomainsGrain>(0).GetAllAsync()).Domains.Keys.Order(StringComparer.Ordinal)];

    /// <summary>A domain's stored configuration (validated before it was stored); null when it is not configured.</summary>
    public async Task<DomainBody?> GetAsync(string domain) =>
        (await grains.GetGrain<IDomainsGrain>(0).GetAllAsync()).Domains.TryGetValue(domain, out var json) ? JsonSerializer.Deserialize<DomainBody>(json, DomainRules.Json) : null;

    /// <summary>Sets (<paramref name="body"/> not null, validated) or removes a domain; answers whether anything was stored before.</summary>
    public async Task<bool> SetAsync(string domain, DomainBody? body, string source)
    {
        var json = body is null ? null : Canonical(body);
        var old = await grains.GetGrain<IDomainsGrain>(0).SetAsync(domain, json);
        catalog.Invalidate();
        if (old != json)
        {
            await grains.GetGrain<IChangeLogGrain>(0).RecordAsync([new ChangeRecord
            {
                Subject = Label(domain),
                Action = json is null ? "delete" : "set",
                Old = old,
                New = json,
                Source = source,
            }]);
        }

        return old is not null;
    }

    /// <summary>
    /// The document's <c>domains</c> as planned changes (<c>create</c>, <c>update</c>, <c>unchanged</c>) and the writes
    /// that make them. A domain the document does not name is left alone.
    /// </summary>
    public async Task<(List<PlannedChange> Changes, List<SetDomain> Writes)> PlanAsync(IReadOnlyDictionary<string, DomainBody?>? domains)
    {
        var changes = new List<PlannedChange>();
        var writes = new List<SetDomain>();
        if (domains is not { Count: > 0 })
        {
            return (changes, writes);
        }

        var current = (await grains.GetGrain<IDomainsGrain>(0).GetAllAsync()).Domains;
        foreach (var (name, body) in domains.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            var desired = Canonical(body!);
            var old = current.GetValueOrDefault(name);
            var action = old is null ? "create" : old == desired ? "unchanged" : "update";
            changes.Add(new PlannedChange(Label(name), action, old is null ? null : JsonNode.Parse(old), JsonNode.Parse(desired)));
            if (action != "unchanged")
            {
                writes.Add(new SetDomain(name, body!));
            }
        }

        return (changes, writes);
    }

    /// <summary>Every problem of a document's <c>domains</c>, each named by its whole path (<c>domains.gw.descriptors[0].key</c>).</summary>
    public static List<FieldProblem> Validate(IReadOnlyDictionary<string, DomainBody?>? domains)
    {
        var problems = new List<FieldProblem>();
        if (domains is null)
        {
            return problems;
        }

        if (domains.Count > MaxDomains)
        {
            problems.Add(new("domains", $"names {domains.Count} domains; at most {MaxDomains} are allowed."));
            return problems;
        }

        foreach (var (name, body) in domains)
        {
            if (body is null)
            {
                problems.Add(new($"domains.{name}", "a domain's descriptors are required here; a document cannot remove one, DELETE /v1/admin/domains/{domain} does."));
                continue;
            }

            problems.AddRange(DomainRules.Validate(name, body, $"domains.{name}"));
        }

        return problems;
    }

    /// <summary>At most this many domains.</summary>
    public const int MaxDomains = 100;
}
