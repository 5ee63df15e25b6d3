using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Quota.Abstractions;
using Quota.Grains;
using Quota.Grains.Subjects;

namespace Quota.Server.Admin;

/// <summary>
/// Applies configuration changes to live subjects and records each one (when, which subject, old and new). A change
/// takes effect on the subject's grain at once and keeps its current usage. Every change of a user, resource or key
/// takes one path (<see cref="RecordedAsync"/>): its change-log form read before, the write, the form read after, and
/// old → new recorded when the two differ, the rule the tenancy configuration's diff follows for its entries.
/// </summary>
public sealed class AdminService(IGrainFactory grains, ApiKeyHasher hasher, QuotaInstruments instruments)
{
    private static readonly JsonSerializerOptions ChangeJson = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private IChangeLogGrain Log => grains.GetGrain<IChangeLogGrain>(0);

    private IRegistryGrain Registry => grains.GetGrain<IRegistryGrain>(0);

    private ITenancyGrain Tenancy => grains.GetGrain<ITenancyGrain>(0);

    private ISchedulerGrain Scheduler => grains.GetGrain<ISchedulerGrain>(0);

    /// <summary>A user's or resource's policies now.</summary>
    public Task<SubjectPolicies> GetAsync(SubjectKind kind, string id) => DecisionResults.Grain(grains, kind, id).GetPoliciesAsync();

    /// <summary>Subjects of a kind with own policies (users, resources) or registered keys.</summary>
    public Task<string[]> ListAsync(SubjectKind kind) => Registry.ListAsync(kind);

    /// <summary>Sets (or with null, resets to the defaults) a user's or resource's own policies. Policies must be valid.</summary>
    public async Task<SubjectPolicies> SetPoliciesAsync(SubjectKind kind, string id, PolicySpec[]? policies, string source)
    {
        var grain = DecisionResults.Grain(grains, kind, id);
        return await RecordedAsync(policies is null ? "reset" : "set", Json(await grain.GetPoliciesAsync()), async () =>
        {
            await grain.SetPoliciesAsync(policies);
            var after = await grain.GetPoliciesAsync();
            await Registry.MarkAsync(kind, id, policies is not null);
            return after;
        }, after => (after.Subject, Json(after)), source);
    }

    /// <summary>
    /// Registers a key for a user (a new random key when <paramref name="rawKey"/> is null). Answers the key's
    /// registration and the raw key, to be shown once; null when the key already belongs to another user.
    /// </summary>
    public async Task<(ApiKeyInfo Info, string RawKey)?> RegisterKeyAsync(string user, string? rawKey, PolicySpec[]? policies, string source)
    {
        var raw = rawKey ?? NewKey();
        var grain = grains.GetGrain<IApiKeyGrain>(hasher.KeyId(raw));
        var before = await grain.GetInfoAsync();
        if (before is not null && before.Owner != user)
        {
            return null;
        }

        var info = await RecordedAsync("register", Json(before), async () =>
        {
            var registered = await grain.RegisterAsync(user, policies);
            await Registry.MarkKeyAsync(user, registered.KeyId, registered: true);
            return registered;
        }, registered => (SubjectNames.Label(SubjectKind.ApiKey, registered.KeyId), Json(registered)), source);
        return (info, raw);
    }

    /// <summary>A registered key, or null.</summary>
    public Task<ApiKeyInfo?> GetKeyAsync(string keyId) => grains.GetGrain<IApiKeyGrain>(keyId).GetInfoAsync();

    /// <summary>A user's registered keys.</summary>
    public async Task<ApiKeyInfo[]> KeysOfAsync(string user)
    {
        var ids = await Registry.KeysOfAsync(user);
        var infos = await Task.WhenAll(ids.Select(GetKeyAsync));
        return [.. infos.OfType<ApiKeyInfo>()];
    }

    /// <summary>Replaces a registered key's own policies; null when the key is not registered.</summary>
    public async Task<ApiKeyInfo?> SetKeyPoliciesAsync(string keyId, PolicySpec[]? policies, string source)
    {
        var grain = grains.GetGrain<IApiKeyGrain>(keyId);
        var before = await grain.GetInfoAsync();
        if (before is null)
        {
            return null;
        }

        return await RecordedAsync("set", Json(before), () => grain.RegisterAsync(before.Owner, policies), after => (SubjectNames.Label(SubjectKind.ApiKey, keyId), Json(after)), source);
    }

    /// <summary>Revokes a key; false when it was not registered.</summary>
    public async Task<bool> RevokeKeyAsync(string keyId, string source)
    {
        var grain = grains.GetGrain<IApiKeyGrain>(keyId);
        var before = await grain.GetInfoAsync();
        if (before is null || !await grain.RevokeAsync())
        {
            return false;
        }

        await Registry.MarkKeyAsync(before.Owner, keyId, registered: false);
        await RecordAsync(SubjectNames.Label(SubjectKind.ApiKey, keyId), "revoke", Json(before), null, source);
        return true;
    }

    /// <summary>
    /// Runs one write of a <see cref="ConfigurationPlan"/> from <paramref name="source"/>; the tenancy change answers its
    /// outcome (problems when the tenancy configuration refused it), the others null.
    /// </summary>
    public async Task<TenancyOutcome?> WriteAsync(ConfigurationWrite write, string source)
    {
        ArgumentNullException.ThrowIfNull(write);
        switch (write)
        {
            case ChangeTenancy tenancy:
                return await ChangeTenancyAsync(tenancy.Change with { Source = source }, dryRun: false);
            case SetSubjectPolicies subject:
                await SetPoliciesAsync(subject.Kind, subject.Id, subject.Policies, source);
                return null;
            case RegisterKey key:
                await RegisterKeyAsync(key.User, key.RawKey, key.Policies, source);
                return null;
            case SetKeyPolicies key:
                await SetKeyPoliciesAsync(key.KeyId, key.Policies, source);
                return null;
            default:
                throw new ArgumentOutOfRangeException(nameof(write), write.GetType().Name, "not a write a plan makes");
        }
    }

    /// <summary>
    /// Validates a tenancy change whole and, unless a problem is found or <paramref name="dryRun"/>, applies it. The
    /// tenancy grain records what changed in the change log; this counts it in the admin metrics.
    /// </summary>
    public async Task<TenancyOutcome> ChangeTenancyAsync(TenancyChange change, bool dryRun)
    {
        var outcome = await Tenancy.ChangeAsync(change, dryRun);
        if (!dryRun && outcome.Problems.Length == 0)
        {
            foreach (var changed in outcome.Changes)
            {
                instruments.AdminChanged(changed.Action);
            }
        }

        return outcome;
    }

    /// <summary>Every upstream, sorted by name.</summary>
    public Task<UpstreamView[]> UpstreamsAsync() => Tenancy.GetUpstreamsAsync();

    /// <summary>Seals every stored secret under the newest master key; see <see cref="ITenancyGrain.ReencryptSecretsAsync"/>.</summary>
    public Task<SecretRotation> ReencryptSecretsAsync() => Tenancy.ReencryptSecretsAsync();

    /// <summary>One upstream with its tokens, or null.</summary>
    public Task<UpstreamView?> UpstreamAsync(string name) => Tenancy.GetUpstreamAsync(name);

    /// <summary>Every tenant, sorted by id.</summary>
    public Task<TenantView[]> TenantsAsync() => Tenancy.GetTenantsAsync();

    /// <summary>One tenant, or null.</summary>
    public Task<TenantView?> TenantAsync(string id) => Tenancy.GetTenantAsync(id);

    /// <summary>Recorded changes, newest first.</summary>
    public Task<ChangeRecord[]> ChangesAsync(int limit, string? subject) => Log.ListAsync(limit, subject);

    /// <summary>Whether the scheduler runs by itself, how often, and what its last run did.</summary>
    public Task<SchedulerStatus> SchedulerStatusAsync() => Scheduler.GetStatusAsync();

    /// <summary>Runs the scheduler once now, whether or not it runs by itself; answers what the run did.</summary>
    public Task<SchedulerRun> RunSchedulerAsync() => Scheduler.RunAsync();

    /// <summary>The scheduler's changes, newest first, optionally only those of one subject (<c>tenant:acme</c>).</summary>
    public Task<SchedulerChange[]> SchedulerHistoryAsync(int limit, string? subject) => Tenancy.GetSchedulerHistoryAsync(limit, subject);

    /// <summary>Defined queues in ordinal order of name, those after <paramref name="after"/>, at most <paramref name="limit"/>.</summary>
    public Task<string[]> QueuesAsync(string? after, int limit) => Registry.ListQueuesAsync(after, limit);

    /// <summary>A queue's definition, or null when it is not defined.</summary>
    public Task<QueueDefinition?> GetQueueAsync(string name) => grains.GetGrain<IQueueGrain>(name).GetDefinitionAsync();

    /// <summary>Creates or replaces a (valid) queue definition; recorded as <c>queue:{name}</c> when it changed.</summary>
    public async Task<QueueDefinition> DefineQueueAsync(string name, QueueDefinition definition, string source)
    {
        var grain = grains.GetGrain<IQueueGrain>(name);
        return await RecordedAsync("set", QueueJson(await grain.GetDefinitionAsync()), () => grain.DefineAsync(definition), stored => ($"queue:{name}", QueueJson(stored)), source);
    }

    /// <summary>Removes a queue with its items; false when it was not defined.</summary>
    public async Task<bool> RemoveQueueAsync(string name, string source)
    {
        var grain = grains.GetGrain<IQueueGrain>(name);
        var before = await grain.GetDefinitionAsync();
        if (before is null || !await grain.RemoveAsync())
        {
            return false;
        }

        await RecordAsync($"queue:{name}", "remove", QueueJson(before), null, source);
        return true;
    }

    /// <summary>A queue definition's change-log form.</summary>
    public static string? QueueJson(QueueDefinition? definition) =>
        definition is null ? null : JsonSerializer.Serialize(definition, ChangeJson);

    /// <summary>A new random API key: 32 random bytes, base64url, with a recognisable prefix.</summary>
    public static string NewKey() => "qk_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>
    /// Runs <paramref name="write"/> and records the change when the subject's change-log form after it
    /// (<paramref name="after"/>: the subject's label and form) differs from <paramref name="before"/>.
    /// </summary>
    private async Task<T> RecordedAsync<T>(string action, string? before, Func<Task<T>> write, Func<T, (string Subject, string? Form)> after, string source)
    {
        var written = await write();
        var (subject, form) = after(written);
        if (form != before)
        {
            await RecordAsync(subject, action, before, form, source);
        }

        return written;
    }

    private async Task RecordAsync(string subject, string action, string? before, string? after, string source)
    {
        await Log.RecordAsync([new ChangeRecord { Subject = subject, Action = action, Old = before, New = after, Source = source }]);
        instruments.AdminChanged(action);
    }

    private static string? Json(SubjectPolicies? policies) =>
        policies is null ? null : JsonSerializer.Serialize(new { policies.Own, policies.Policies }, ChangeJson);

    private static string? Json(ApiKeyInfo? info) =>
        info is null ? null : JsonSerializer.Serialize(new { info.Owner, info.Policies }, ChangeJson);
}
