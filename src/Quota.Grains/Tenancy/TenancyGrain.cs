using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;
using Quota.Abstractions;
using Quota.Grains.Scheduling;
using Quota.Grains.Storage;
using Quota.Grains.Subjects;

namespace Quota.Grains.Tenancy;

/// <summary>
/// The cluster's tenancy configuration; see <see cref="ITenancyGrain"/>. A change is applied to a copy (the
/// serializer's deep copy of the state), the copy is validated whole (every problem at once), compared with what is in
/// force (<see cref="TenancyDiff"/>), then written, then pushed to the pool, token and tenant grains whose
/// configuration it changed, and recorded in the change log. Nothing of a rejected change is applied.
/// </summary>
/// <remarks>
/// Reads interleave with a change in progress (they are marked so on the interface): a grain activated by a push asks
/// for its configuration while the push is awaited. They then see the new configuration, which is the one being
/// pushed. A push that fails (a silo died) is logged; the grain reads the stored configuration when it next activates.
/// </remarks>
[GrainType("tenancy")]
public sealed partial class TenancyGrain(
    [PersistentState("tenancy", QuotaStorage.Name)] IPersistentState<TenancyState> state,
    IOptions<TenancyOptions> options,
    SecretProtector secrets,
    QuotaTime clock,
    DeepCopier copier,
    ILogger<TenancyGrain> logger) : Grain, ITenancyGrain
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly TenancyOptions _options = options.Value;

    private TenancyModel Model => new(state.State, _options);

    /// <inheritdoc />
    public async Task<TenancyOutcome> ChangeAsync(TenancyChange change, bool dryRun)
    {
        ArgumentNullException.ThrowIfNull(change);
        var before = Model;
        var next = new TenancyModel(copier.Copy(state.State), _options);
        var problems = new List<FieldProblem>();
        var secretChanged = new HashSet<string>(StringComparer.Ordinal);
        Apply(change, next.State, problems, secretChanged);
        next.PruneAdjustments();
        problems.AddRange(next.Validate());

        if (problems.Count > 0)
        {
            return new TenancyOutcome { Problems = [.. problems] };
        }

        var changes = TenancyDiff.Changes(before, next, secretChanged);
        if (dryRun || changes.Count == 0)
        {
            return new TenancyOutcome { Changes = [.. changes] };
        }

        await CommitAsync(before, next, [.. changes.Select(c => new ChangeRecord
        {
            At = clock.Provider.GetUtcNow(),
            Subject = c.Subject,
            Action = c.Action,
            Old = c.Old,
            New = c.New,
            Source = change.Source,
        })]);
        return new TenancyOutcome { Changes = [.. changes] };
    }

    /// <inheritdoc />
    public async Task<SecretRotation> ReencryptSecretsAsync()
    {
        var before = Model;
        var next = new TenancyModel(copier.Copy(state.State), _options);
        var (reencrypted, current, unreadable) = (new List<string>(), 0, new List<string>());
        foreach (var (upstream, stored) in next.State.Upstreams.OrderBy(u => u.Key, StringComparer.Ordinal))
        {
            foreach (var (id, token) in stored.Tokens.OrderBy(t => t.Key, StringComparer.Ordinal))
            {
                if (token.SecretEnvelope is not { } envelope)
                {
                    continue;
                }

                try
                {
                    if (!secrets.NeedsRotation(envelope))
                    {
                        current++;
                        continue;
                    }

                    token.SecretEnvelope = secrets.Reencrypt(envelope, TenancyModel.SecretPurpose(upstream, id));
                    reencrypted.Add($"token:{upstream}/{id}");
                }
                catch (SecretUnavailableException e)
                {
                    unreadable.Add($"{upstream}/{id}: {e.Message}");
                }
            }
        }

        if (reencrypted.Count > 0)
        {
            await CommitAsync(before, next, [.. reencrypted.Select(subject => new ChangeRecord
            {
                At = clock.Provider.GetUtcNow(),
                Subject = subject,
                Action = "reencrypt",
                New = JsonSerializer.Serialize(new { keyId = secrets.CurrentKeyId }, Json),
                Source = "api",
            })]);
        }

        return new SecretRotation { KeyId = secrets.CurrentKeyId, Reencrypted = reencrypted.Count, Current = current, Unreadable = [.. unreadable] };
    }

    /// <inheritdoc />
    public async Task<ScheduleOutcome> ScheduleAsync(long run, SchedulerAction[] actions)
    {
        ArgumentNullException.ThrowIfNull(actions);
        var before = Model;
        var next = new TenancyModel(copier.Copy(state.State), _options);
        var now = clock.Provider.GetUtcNow();
        var (applied, held) = (new List<SchedulerChange>(), new List<string>());

        // Problems the configuration already has (tier defaults changed in the options since it was written) do not
        // hold back steps elsewhere; a step may not add one, nor raise a reserve where the reservation rule is broken.
        var existing = before.Validate().Select(p => p.Field).ToHashSet(StringComparer.Ordinal);
        foreach (var action in actions)
        {
            var step = SchedulerSteps.TryApply(action, next, run, now, out var why);
            if (step is not { } taken)
            {
                held.Add($"{action.Kind} {action.Tenant ?? $"{action.Upstream}/{action.Token}"}: not taken, {why}.");
                continue;
            }

            var raise = action.Kind == "reserve" && action.New > action.Old;
            var problem = next.Validate().FirstOrDefault(p => !existing.Contains(p.Field) || (raise && p.Field == $"upstreams.{action.Upstream}.reserved"));
            if (problem is not null)
            {
                taken.Undo();
                held.Add($"{action.Kind} {taken.Change.Subject}: not taken, it would break {problem.Field}: {problem.Detail}");
                continue;
            }

            applied.Add(taken.Change);
        }

        if (applied.Count == 0)
        {
            return new ScheduleOutcome { Held = [.. held] };
        }

        // The history is written in the same write as the changes it records: a crash cannot part them.
        var history = next.State.History;
        history.AddRange(applied);
        if (history.Count > TenancyModel.HistoryCapacity)
        {
            history.RemoveRange(0, history.Count - TenancyModel.HistoryCapacity);
        }

        // The change log gets each step with its reason, and every other entry the steps changed with it (the token
        // that took a tenant, the tenant's list of tokens) as it does for an operator's change.
        var named = applied.Select(c => c.Subject).ToHashSet(StringComparer.Ordinal);
        await CommitAsync(before, next, [.. applied.Select(c => new ChangeRecord
        {
            At = c.At,
            Subject = c.Subject,
            Action = $"scheduler-{c.Kind}",
            Old = JsonSerializer.Serialize(c.Old, Json),
            New = JsonSerializer.Serialize(new { value = c.New, reason = c.Reason, run = c.Run }, Json),
            Source = "scheduler",
        }), .. TenancyDiff.Changes(before, next, []).Where(d => !named.Contains(d.Subject)).Select(d => new ChangeRecord
        {
            At = now,
            Subject = d.Subject,
            Action = d.Action,
            Old = d.Old,
            New = d.New,
            Source = "scheduler",
        })]);
        return new ScheduleOutcome { Applied = [.. applied], Held = [.. held] };
    }

    /// <inheritdoc />
    public Task<SchedulerChange[]> GetSchedulerHistoryAsync(int limit, string? subject)
    {
        IEnumerable<SchedulerChange> changes = state.State.History;
        if (subject is not null)
        {
            changes = changes.Where(c => c.Subject == subject);
        }

        return Task.FromResult(changes.Reverse().Take(Math.Clamp(limit, 0, TenancyModel.HistoryCapacity)).ToArray());
    }

    /// <inheritdoc />
    public Task<UpstreamView[]> GetUpstreamsAsync() => Task.FromResult(Model.Upstreams());

    /// <inheritdoc />
    public Task<TenantView[]> GetTenantsAsync() => Task.FromResult(Model.Tenants());

    /// <inheritdoc />
    public Task<UpstreamView?> GetUpstreamAsync(string name) => Task.FromResult(Model.Upstream(name));

    /// <inheritdoc />
    public Task<TenantView?> GetTenantAsync(string id) => Task.FromResult(Model.Tenant(id));

    /// <inheritdoc />
    public Task<TokenSetup?> GetTokenSetupAsync(string upstream, string id) => Task.FromResult(Model.TokenSetup(upstream, id));

    /// <inheritdoc />
    public Task<PoolSetup?> GetPoolSetupAsync(string upstream) => Task.FromResult(Model.PoolSetup(upstream));

    /// <inheritdoc />
    public Task<RouteAnswer> GetRouteAsync(string? tenant, string? upstream) => Task.FromResult(Model.Route(tenant, upstream));

    /// <summary>
    /// Makes <paramref name="next"/> the configuration: written first (on failure nothing changes and the error
    /// propagates), then pushed to the grains it concerns, then recorded.
    /// </summary>
    private async Task CommitAsync(TenancyModel before, TenancyModel next, ChangeRecord[] records)
    {
        var previous = state.State;
        state.State = next.State;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            state.State = previous;
            throw;
        }

        await PushAsync(before, next);
        await GrainFactory.GetGrain<IChangeLogGrain>(0).RecordAsync(records);
    }

    /// <summary>
    /// Applies the change to <paramref name="target"/>. Entries that cannot be applied at all (a token of an upstream
    /// that does not exist, one without policies) are left out with their problem, so the checks of the whole that
    /// follow report everything else and nothing twice.
    /// </summary>
    private void Apply(TenancyChange change, TenancyState target, List<FieldProblem> problems, HashSet<string> secretChanged)
    {
        foreach (var (name, spec) in change.Upstreams)
        {
            if (spec is null)
            {
                if (target.Upstreams.ContainsKey(name))
                {
                    var users = target.Tenants.Where(t => t.Value.Upstream == name).Select(t => t.Key).Order(StringComparer.Ordinal).ToList();
                    if (users.Count > 0)
                    {
                        problems.Add(new($"upstreams.{name}", $"tenants {string.Join(", ", users)} use this upstream; remove them or move them to another upstream first."));
                    }

                    target.Upstreams.Remove(name);
                }
            }
            else if (target.Upstreams.TryGetValue(name, out var existing))
            {
                existing.Spec = spec;
            }
            else
            {
                target.Upstreams[name] = new StoredUpstream { Spec = spec };
            }
        }

        foreach (var token in change.Tokens)
        {
            var path = $"upstreams.{token.Upstream}.tokens.{token.Id}";
            if (!target.Upstreams.TryGetValue(token.Upstream, out var upstream))
            {
                if (token.Spec is not null)
                {
                    problems.Add(new(path, $"no upstream '{token.Upstream}' is configured; create it first."));
                }

                continue;
            }

            if (token.Spec is null)
            {
                upstream.Tokens.Remove(token.Id);
                continue;
            }

            upstream.Tokens.TryGetValue(token.Id, out var existing);
            var stored = new StoredToken
            {
                Policies = token.Spec.Policies ?? [],
                DedicatedTo = token.Spec.DedicatedTo,
                SecretEnvelope = existing?.SecretEnvelope,
                Successor = token.Spec.Successor,

                // The scheduler's assignment holds while the written owner stays as it was made over.
                Assignment = existing?.Assignment,

                // Retirement already under way goes on while the successor stays the same.
                RetiringSince = token.Spec.Successor is not null && token.Spec.Successor == existing?.Successor ? existing.RetiringSince : null,
            };
            if (token.Spec.Policies is null)
            {
                // Not stored, so the checks of the whole below do not report it twice.
                problems.Add(new($"{path}.policies", "are required: the upstream's limits for this token, e.g. [{ \"name\": \"per-minute\", \"algorithm\": \"sliding-window\", \"limit\": 100, \"window\": \"00:01:00\" }]."));
                continue;
            }

            if (token.Spec.Secret is { } secret)
            {
                Seal(stored, secret, TenancyModel.SecretPurpose(token.Upstream, token.Id), $"{path}.secret", problems, secretChanged, path);
            }

            upstream.Tokens[token.Id] = stored;
        }

        foreach (var (id, spec) in change.Tenants)
        {
            if (spec is not null)
            {
                target.Tenants[id] = spec;
                continue;
            }

            if (target.Tenants.Remove(id))
            {
                var dedicated = target.Upstreams.SelectMany(u => u.Value.Tokens.Where(t => t.Value.Owner == id || t.Value.DedicatedTo == id).Select(t => TokenKeys.Key(u.Key, t.Key))).ToList();
                if (dedicated.Count > 0)
                {
                    problems.Add(new($"tenants.{id}", $"tokens {string.Join(", ", dedicated)} are dedicated to this tenant; pool them (dedicatedTo null) or remove them first."));
                }
            }
        }
    }

    /// <summary>Seals a new secret, keeping the stored envelope when it already holds the same secret (an apply repeated).</summary>
    private void Seal(StoredToken stored, string secret, string purpose, string field, List<FieldProblem> problems, HashSet<string> secretChanged, string tokenPath)
    {
        if (secret.Length == 0)
        {
            problems.Add(new(field, "must not be empty; omit it to keep the stored secret."));
            return;
        }

        try
        {
            if (stored.SecretEnvelope is { } envelope && !secrets.NeedsRotation(envelope) && secrets.Unprotect(envelope, purpose) == secret)
            {
                return;
            }
        }
        catch (SecretUnavailableException)
        {
            // The stored envelope does not open (a master key was removed): the new secret replaces it below.
        }

        try
        {
            stored.SecretEnvelope = secrets.Protect(secret, purpose);
            secretChanged.Add(tokenPath);
        }
        catch (SecretUnavailableException e)
        {
            problems.Add(new(field, $"cannot be stored: {e.Message}"));
        }
    }

    /// <summary>Tells every pool, token and tenant grain whose configuration changed; failures are logged, not thrown.</summary>
    private async Task PushAsync(TenancyModel before, TenancyModel after)
    {
        var pushes = new List<(string Grain, Task Push)>();
        foreach (var name in before.State.Upstreams.Keys.Union(after.State.Upstreams.Keys))
        {
            var setup = after.PoolSetup(name);
            if (TenancyDiff.Json(before.PoolSetup(name)) != TenancyDiff.Json(setup))
            {
                pushes.Add(($"pool:{name}", GrainFactory.GetGrain<IPoolClusterGrain>(name).ConfigureAsync(setup)));
            }

            var tokens = TenancyDiff.TokenIds(before.State.Upstreams.GetValueOrDefault(name)).Union(TenancyDiff.TokenIds(after.State.Upstreams.GetValueOrDefault(name)));
            foreach (var id in tokens)
            {
                var token = after.TokenSetup(name, id);
                if (TenancyDiff.Json(before.TokenSetup(name, id)) != TenancyDiff.Json(token))
                {
                    pushes.Add(($"token:{name}/{id}", GrainFactory.GetGrain<ITokenClusterGrain>(TokenKeys.Key(name, id)).ConfigureAsync(token)));
                }
            }
        }

        foreach (var id in before.State.Tenants.Keys.Union(after.State.Tenants.Keys))
        {
            var tenant = after.Tenant(id);
            if (TenancyDiff.Json(before.Tenant(id)) != TenancyDiff.Json(tenant))
            {
                pushes.Add(($"tenant:{id}", GrainFactory.GetGrain<ITenantClusterGrain>(id).ConfigureAsync(tenant)));
            }
        }

        try
        {
            await Task.WhenAll(pushes.Select(p => p.Push));
        }
        catch
        {
            foreach (var (grain, push) in pushes.Where(p => p.Push.IsFaulted))
            {
                LogPushFailed(logger, grain, push.Exception!.InnerException!.GetType().Name, push.Exception.InnerException);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Tenancy change stored but not delivered to {Grain} ({ErrorType}); it takes effect there when the grain next activates.")]
    private static partial void LogPushFailed(ILogger logger, string grain, string errorType, Exception error);
}
