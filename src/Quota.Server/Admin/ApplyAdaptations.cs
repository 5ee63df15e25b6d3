using Quota.Abstractions;

namespace Quota.Server.Admin;

/// <summary>
/// What the scheduler holds in force against what an applied document says: a tenant's reserve it adapted, a token's
/// dedication it rotated. Applying a document writes its values as the configuration, but the scheduler's adaptation
/// stays in force until its next run decides again, so <c>apply</c> says so, with the scheduler's reason.
/// </summary>
internal static class ApplyAdaptations
{
    /// <summary>One value in force that differs from the document: the subject, the field, both values and why.</summary>
    internal sealed record Adaptation(string Subject, string Field, string? Document, string? Current, string? Reason, DateTimeOffset? At);

    /// <summary>The adaptations in force for the tenants and tokens <paramref name="document"/> names (those it does not name are not looked at).</summary>
    public static async Task<List<Adaptation>> FindAsync(ApplyDocument document, AdminService admin)
    {
        var found = new List<Adaptation>();
        if (!document.HasTenancy)
        {
            return found;
        }

        var tenants = (await admin.TenantsAsync()).ToDictionary(t => t.Id, StringComparer.Ordinal);
        foreach (var (id, spec) in document.Tenants ?? [])
        {
            if (spec is not null && tenants.TryGetValue(id, out var tenant) && tenant.Reserved != tenant.ConfiguredReserved)
            {
                var why = await LastStepAsync(admin, $"tenant:{id}");
                found.Add(new($"tenant:{id}", "reserved", Number(spec.Reserved ?? tenant.ConfiguredReserved), Number(tenant.Reserved), why?.Reason, tenant.AdaptedAt ?? why?.At));
            }
        }

        var upstreams = (await admin.UpstreamsAsync()).ToDictionary(u => u.Name, StringComparer.Ordinal);
        foreach (var (name, body) in document.Upstreams ?? [])
        {
            foreach (var (id, spec) in body?.Tokens ?? [])
            {
                if (spec is not null && upstreams.TryGetValue(name, out var upstream) && upstream.Tokens.FirstOrDefault(t => t.Id == id) is { } token
                    && !string.Equals(token.DedicatedTo, token.ConfiguredDedicatedTo, StringComparison.Ordinal))
                {
                    var why = await LastStepAsync(admin, $"token:{name}/{id}");
                    found.Add(new($"token:{name}/{id}", "dedicatedTo", spec.DedicatedTo ?? token.ConfiguredDedicatedTo, token.DedicatedTo, why?.Reason, why?.At));
                }
            }
        }

        return found;
    }

    private static async Task<SchedulerChange?> LastStepAsync(AdminService admin, string subject) =>
        (await admin.SchedulerHistoryAsync(1, subject)).FirstOrDefault();

    private static string Number(long value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
