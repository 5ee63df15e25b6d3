using Quota.Abstractions;
using Quota.Algorithms.Limiting;

namespace Quota.Grains.Tenancy;

/// <summary>
/// Reads and checks a <see cref="TenancyState"/>: resolves tier defaults, measures tokens (limit per upstream window,
/// what is usable after the buffer, the policies a token enforces) and pools, answers routes, and lists every
/// problem of a whole configuration.
/// </summary>
public sealed class TenancyModel(TenancyState state, TenancyOptions options)
{
    /// <summary>How many scheduler changes the history keeps.</summary>
    public const int HistoryCapacity = 1_000;

    private static readonly TimeSpan DefaultWindow = TimeSpan.FromMinutes(1);
    private const double DefaultBuffer = 5;

    /// <summary>The state read.</summary>
    public TenancyState State { get; } = state;

    /// <summary>What a token's secret envelope is bound to.</summary>
    public static string SecretPurpose(string upstream, string id) => $"upstream-token:{upstream}/{id}";

    /// <summary>The upstream's buffer in percent.</summary>
    public static double Buffer(UpstreamSpec spec) => spec.BufferPercent ?? DefaultBuffer;

    /// <summary>The upstream's window.</summary>
    public static TimeSpan Window(UpstreamSpec spec) => spec.Window ?? DefaultWindow;

    /// <summary>One upstream with its numbers, or null.</summary>
    public UpstreamView? Upstream(string name)
    {
        if (!State.Upstreams.TryGetValue(name, out var upstream))
        {
            return null;
        }

        var tokens = upstream.Tokens.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => Token(name, upstream, t.Key, t.Value)).ToArray();
        var tenants = TenantsOf(name).ToArray();
        return new UpstreamView
        {
            Name = name,
            BufferPercent = Buffer(upstream.Spec),
            WindowSeconds = (long)Window(upstream.Spec).TotalSeconds,
            Capacity = SaturatingSum(tokens.Where(t => t.DedicatedTo is null && t.RetiringSince is null).Select(t => t.Usable)),
            Reserved = SaturatingSum(tenants.Where(UsesPool).Select(t => t.Reserved)),
            Tokens = tokens,
            Tenants = [.. tenants.Select(t => t.Id)],
        };
    }

    /// <summary>Every upstream, by name.</summary>
    public UpstreamView[] Upstreams() => [.. State.Upstreams.Keys.Order(StringComparer.Ordinal).Select(n => Upstream(n)!)];

    /// <summary>One tenant with its defaults resolved, or null.</summary>
    public TenantView? Tenant(string id)
    {
        if (!State.Tenants.TryGetValue(id, out var spec))
        {
            return null;
        }

        var tier = (spec.Tier ?? "standard").ToLowerInvariant();
        var defaults = options.For(tier);
        var strategy = TenantStrategies.OfWritten(spec.Strategy);
        var upstream = spec.Upstream ?? string.Empty;
        var window = State.Upstreams.TryGetValue(upstream, out var stored) ? Window(stored.Spec) : DefaultWindow;
        var configured = strategy == TenantStrategy.Dedicated ? 0 : spec.Reserved ?? defaults.Reserved ?? 0;
        var adaptive = new AdaptiveSpec { Enabled = spec.Adaptive?.Enabled ?? true, Minimum = spec.Adaptive?.Minimum, Maximum = spec.Adaptive?.Maximum };
        var adjusted = Adjustment(id, configured, adaptive);
        return new TenantView
        {
            Id = id,
            Tier = tier,
            Upstream = upstream,
            Reserved = adjusted is null ? configured : adaptive.Clamp(adjusted.Reserved),
            ConfiguredReserved = configured,
            Adaptive = adaptive,
            AdaptedAt = adjusted?.At,
            Burst = spec.Burst ?? defaults.Burst,
            Weight = spec.Weight ?? defaults.Weight ?? 1,
            Strategy = strategy,
            Priority = spec.Priority ?? defaults.Priority ?? 0,
            WindowSeconds = (long)window.TotalSeconds,
            DedicatedTokens = stored is null ? [] : [.. stored.Tokens.Where(t => t.Value.Owner == id && t.Value.RetiringSince is null).Select(t => t.Key).Order(StringComparer.Ordinal)],
        };
    }

    /// <summary>The scheduler's adjustment of a tenant's reserve, while it applies: adaptation on, adapted from the reserve written now.</summary>
    private ReserveAdjustment? Adjustment(string id, long configured, AdaptiveSpec adaptive) =>
        adaptive.Enabled != false && configured > 0 && State.Adjusted.TryGetValue(id, out var adjusted) && adjusted.Configured == configured
            && (adjusted.Upstream is null || adjusted.Upstream == State.Tenants[id].Upstream)
            ? adjusted
            : null;

    /// <summary>Drops adjustments that no longer apply (tenant removed, opted out, its reserve rewritten), so a later write of the old value does not revive them.</summary>
    public void PruneAdjustments()
    {
        foreach (var id in State.Adjusted.Keys.ToList())
        {
            if (Tenant(id) is not { } tenant || tenant.AdaptedAt is null)
            {
                State.Adjusted.Remove(id);
            }
        }

        foreach (var token in State.Upstreams.Values.SelectMany(u => u.Tokens.Values))
        {
            if (token.Assignment is { } assigned && assigned.Over != token.DedicatedTo)
            {
                token.Assignment = null;
            }
        }
    }

    /// <summary>Every tenant, by id.</summary>
    public TenantView[] Tenants() => [.. State.Tenants.Keys.Order(StringComparer.Ordinal).Select(id => Tenant(id)!)];

    /// <summary>What a token grain needs, or null.</summary>
    public TokenSetup? TokenSetup(string upstream, string id)
    {
        if (!State.Upstreams.TryGetValue(upstream, out var stored) || !stored.Tokens.TryGetValue(id, out var token))
        {
            return null;
        }

        var buffer = Buffer(stored.Spec);
        return new TokenSetup
        {
            Token = Token(upstream, stored, id, token),
            Enforced = [.. token.Policies.Select(p => Enforced(p, buffer))],
            SecretEnvelope = token.SecretEnvelope,
        };
    }

    /// <summary>What a pool grain needs, or null.</summary>
    public PoolSetup? PoolSetup(string upstream) => Upstream(upstream) is { } view
        ? new PoolSetup { Upstream = view, Tenants = [.. TenantsOf(upstream).Where(UsesPool)] }
        : null;

    /// <summary>The tokens an acquisition may use, or the problem with its names.</summary>
    public RouteAnswer Route(string? tenant, string? upstream)
    {
        if (tenant is not null)
        {
            if (Tenant(tenant) is not { } t)
            {
                return new RouteAnswer { Unknown = true, Problem = new("tenant", $"no tenant '{tenant}' is configured; create it with PUT /v1/admin/tenants/{tenant}.") };
            }

            if (upstream is not null && upstream != t.Upstream)
            {
                return new RouteAnswer { Problem = new("upstream", $"tenant '{tenant}' uses upstream '{t.Upstream}', not '{upstream}'; omit upstream or name '{t.Upstream}'.") };
            }

            var pooled = t.Strategy == TenantStrategy.Dedicated ? [] : PooledTokens(t.Upstream);
            return new RouteAnswer
            {
                Route = new TokenRoute { Upstream = t.Upstream, Dedicated = t.Strategy == TenantStrategy.Shared ? [] : t.DedicatedTokens, Pooled = pooled },
            };
        }

        return upstream is null || !State.Upstreams.ContainsKey(upstream)
            ? new RouteAnswer { Unknown = true, Problem = new("upstream", $"no upstream '{upstream}' is configured; create it with PUT /v1/admin/upstreams/{upstream}.") }
            : new RouteAnswer { Route = new TokenRoute { Upstream = upstream, Pooled = PooledTokens(upstream) } };
    }

    /// <summary>Every problem of the whole configuration, each naming its path.</summary>
    public List<FieldProblem> Validate()
    {
        var problems = new List<FieldProblem>();
        foreach (var (name, upstream) in State.Upstreams.OrderBy(u => u.Key, StringComparer.Ordinal))
        {
            ValidateUpstream(problems, name, upstream);
        }

        foreach (var (id, spec) in State.Tenants.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            ValidateTenant(problems, id, spec);
        }

        // The reservation rule, per upstream: reserves of the tenants that use its pool together within 80% of it.
        foreach (var name in State.Upstreams.Keys.Order(StringComparer.Ordinal))
        {
            var view = Upstream(name)!;
            var limit = (long)Math.Floor(view.Capacity * TenancyOptions.MaxReservedShare);
            if (view.Reserved > limit)
            {
                var holders = TenantsOf(name).Where(t => UsesPool(t) && t.Reserved > 0).OrderByDescending(t => t.Reserved).ThenBy(t => t.Id, StringComparer.Ordinal);
                problems.Add(new($"upstreams.{name}.reserved",
                    $"the tenants' reserves on upstream '{name}' add up to {view.Reserved} per window "
                    + $"({string.Join(", ", holders.Select(t => $"{t.Id} {t.Reserved}"))}), more than 80% of its pool capacity of {view.Capacity} ({limit}); "
                    + "lower the reserves or add pooled tokens."));
            }
        }

        return problems;
    }

    /// <summary>A token's numbers: the tightest rate policy per upstream window, before and after the buffer.</summary>
    internal static TokenView Token(string upstream, StoredUpstream stored, string id, StoredToken token)
    {
        var window = Window(stored.Spec);
        var buffer = Buffer(stored.Spec);

        // Views are built while a change is validated too, before its missing policies are reported (as policies[i]).
        PolicySpec[] present = [.. token.Policies.Where(p => p is not null)];
        return new TokenView
        {
            Id = id,
            Upstream = upstream,
            Policies = token.Policies,
            DedicatedTo = token.Owner,
            ConfiguredDedicatedTo = token.DedicatedTo,
            HasSecret = token.SecretEnvelope is not null,
            Successor = token.Successor,
            RetiringSince = token.RetiringSince,
            Limit = PerWindow(present, window),
            Usable = PerWindow([.. present.Select(p => Enforced(p, buffer))], window),
        };
    }

    /// <summary>A policy as a token enforces it: rate limits less the buffer (rounded down); concurrency as configured.</summary>
    public static PolicySpec Enforced(PolicySpec policy, double bufferPercent)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (PolicySpec.Algorithms.TryGetValue(policy.Algorithm ?? string.Empty, out var kind) && kind == AlgorithmKind.Concurrency)
        {
            return policy;
        }

        // In decimal, not double: a double has 53 bits, so long.MaxValue * 1.0 rounds up past long.MaxValue and the
        // cast saturated back to the whole limit (a limit of int64.Max kept no buffer), and 10^12 * 0.95 floors to
        // one permit short. Decimal holds every long times a percent exactly.
        // An invalid buffer (reported on its own field) is read as none rather than thrown on here.
        var keep = (100m - (decimal)(double.IsFinite(bufferPercent) ? Math.Clamp(bufferPercent, 0, 100) : 0)) / 100m;
        return policy with
        {
            Limit = Kept(policy.Limit, keep),
            Burst = policy.Burst is { } burst ? Kept(burst, keep) : null,
        };
    }

    private static long Kept(long permits, decimal keep) => permits <= 0 ? permits : (long)decimal.Floor(permits * keep);

    /// <summary>The tightest rate policy's permits per <paramref name="window"/>, rounded down; 0 when none is valid.</summary>
    private static long PerWindow(IEnumerable<PolicySpec> policies, TimeSpan window)
    {
        long? tightest = null;
        foreach (var policy in policies)
        {
            if (policy.ToDefinition("p", out _) is not { } definition || definition.Algorithm == AlgorithmKind.Concurrency)
            {
                continue;
            }

            // A calendar period counts at its longest (a month as 31 days), so the pool never counts on more.
            var span = definition.Algorithm == AlgorithmKind.Calendar
                ? definition.Period switch { CalendarPeriod.Day => TimeSpan.FromDays(1), CalendarPeriod.Week => TimeSpan.FromDays(7), _ => TimeSpan.FromDays(31) }
                : definition.Window;
            var exact = (Int128)definition.Limit * window.Ticks / span.Ticks;
            var perWindow = exact > long.MaxValue ? long.MaxValue : (long)exact;
            tightest = Math.Min(tightest ?? long.MaxValue, perWindow);
        }

        return tightest ?? 0;
    }

    /// <summary>A sum that stops at <see cref="long.MaxValue"/> instead of overflowing (limits and reserves may be huge).</summary>
    private static long SaturatingSum(IEnumerable<long> values)
    {
        Int128 sum = 0;
        foreach (var value in values)
        {
            sum += value;
        }

        return sum > long.MaxValue ? long.MaxValue : (long)sum;
    }

    private static bool UsesPool(TenantView tenant) => tenant.Strategy != TenantStrategy.Dedicated;

    private IEnumerable<TenantView> TenantsOf(string upstream) =>
        State.Tenants.Where(t => t.Value.Upstream == upstream).Select(t => t.Key).Order(StringComparer.Ordinal).Select(id => Tenant(id)!);

    private string[] PooledTokens(string upstream) => State.Upstreams.TryGetValue(upstream, out var stored)
        ? [.. stored.Tokens.Where(t => t.Value.Owner is null && t.Value.RetiringSince is null).Select(t => t.Key).Order(StringComparer.Ordinal)]
        : [];

    private void ValidateUpstream(List<FieldProblem> problems, string name, StoredUpstream upstream)
    {
        var path = $"upstreams.{name}";
        CheckId(problems, path, name);
        if (upstream.Spec.BufferPercent is { } buffer && (!double.IsFinite(buffer) || buffer is < 0 or > 50))
        {
            problems.Add(new($"{path}.bufferPercent", $"must be from 0 to 50 (got {buffer}); the default is {DefaultBuffer}."));
        }

        if (upstream.Spec.Window is { } window && (window < TimeSpan.FromSeconds(1) || window > TimeSpan.FromDays(1) || window.Ticks % TimeSpan.TicksPerSecond != 0))
        {
            problems.Add(new($"{path}.window", $"must be whole seconds from 00:00:01 to 1.00:00:00 (got {window}); the default is 00:01:00."));
        }

        foreach (var (id, token) in upstream.Tokens.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            var tokenPath = $"{path}.tokens.{id}";
            CheckId(problems, tokenPath, id);
            var definitions = PolicySpec.ToDefinitions(token.Policies, $"{tokenPath}.policies", out var errors);
            problems.AddRange(errors);
            if (definitions is not null)
            {
                // Each policy as the token enforces it, less the buffer, must still be a policy.
                var kept = Buffer(upstream.Spec);
                for (var i = 0; i < token.Policies.Length; i++)
                {
                    var enforced = Enforced(token.Policies[i], kept);
                    foreach (var (field, configured, left) in new[] { ("limit", token.Policies[i].Limit, enforced.Limit), ("burst", token.Policies[i].Burst ?? 1, enforced.Burst ?? 1) })
                    {
                        if (left < 1)
                        {
                            problems.Add(new($"{tokenPath}.policies[{i}].{field}", $"is {configured}; less the upstream's {kept}% buffer that leaves {left}, and at least 1 is needed; raise it or lower the upstream's bufferPercent."));
                        }
                    }
                }

                if (definitions.All(d => d.Algorithm == AlgorithmKind.Concurrency))
                {
                    problems.Add(new($"{tokenPath}.policies", "needs at least one rate policy (token-bucket, sliding-window, sliding-log, fixed-window or calendar): the upstream's limit per window."));
                }
                else if (Token(name, upstream, id, token).Usable < 1)
                {
                    problems.Add(new($"{tokenPath}.policies", $"allow less than one request per upstream window ({Window(upstream.Spec)}) once the {Buffer(upstream.Spec)}% buffer is kept; raise the limit or lengthen the upstream's window."));
                }
            }

            if (token.Successor is { } successor && token.RetiringSince is null)
            {
                ValidateSuccessor(problems, upstream, tokenPath, id, token, successor);
            }

            if (token.Owner is { } owner)
            {
                if (!State.Tenants.TryGetValue(owner, out var tenant))
                {
                    problems.Add(new($"{tokenPath}.dedicatedTo", $"no tenant '{owner}' is configured; create the tenant first, or omit dedicatedTo to pool the token."));
                }
                else if (tenant.Upstream != name)
                {
                    problems.Add(new($"{tokenPath}.dedicatedTo", $"tenant '{owner}' uses upstream '{tenant.Upstream}', not '{name}'."));
                }
                else if (TenantStrategies.OfWritten(tenant.Strategy) == TenantStrategy.Shared)
                {
                    problems.Add(new($"{tokenPath}.dedicatedTo", $"tenant '{owner}' has the shared strategy and would never use it; give the tenant the dedicated or hybrid strategy."));
                }
            }
        }
    }

    private void ValidateTenant(List<FieldProblem> problems, string id, TenantSpec spec)
    {
        var path = $"tenants.{id}";
        CheckId(problems, path, id);
        if (spec.Upstream is null)
        {
            problems.Add(new($"{path}.upstream", "is required: the upstream whose tokens the tenant uses."));
        }
        else if (!State.Upstreams.ContainsKey(spec.Upstream))
        {
            problems.Add(new($"{path}.upstream", $"no upstream '{spec.Upstream}' is configured; create it first."));
        }

        if (spec.Tier is { } tier && !TenancyOptions.TierNames.Contains(tier, StringComparer.OrdinalIgnoreCase))
        {
            problems.Add(new($"{path}.tier", $"'{tier}' is not a tier; use premium, standard or basic."));
        }

        if (spec.Strategy is { } written && !TenantStrategies.TryParse(written, out _))
        {
            problems.Add(new($"{path}.strategy", $"'{written}' is not a strategy; use shared, dedicated or hybrid."));
        }
        else if (TenantStrategies.OfWritten(spec.Strategy) == TenantStrategy.Dedicated && spec.Reserved is > 0)
        {
            problems.Add(new($"{path}.reserved", "does not apply to a dedicated tenant, which uses only its own tokens; omit it or choose hybrid."));
        }

        if (spec.Reserved is < 0)
        {
            problems.Add(new($"{path}.reserved", $"must be at least 0 (got {spec.Reserved})."));
        }

        if (spec.Burst is < 0)
        {
            problems.Add(new($"{path}.burst", $"must be at least 0 (got {spec.Burst}); omit it for the tier's default."));
        }

        if (spec.Weight is { } weight && (!double.IsFinite(weight) || weight <= 0 || weight > 1000))
        {
            problems.Add(new($"{path}.weight", $"must be more than 0 and at most 1000 (got {weight})."));
        }

        if (spec.Priority is < 0 or > 9)
        {
            problems.Add(new($"{path}.priority", $"must be from 0 to 9 (got {spec.Priority})."));
        }

        if (spec.Adaptive is { } adaptive)
        {
            if (adaptive.Minimum is < 0)
            {
                problems.Add(new($"{path}.adaptive.minimum", $"must be at least 0 (got {adaptive.Minimum})."));
            }

            if (adaptive.Maximum is < 1)
            {
                problems.Add(new($"{path}.adaptive.maximum", $"must be at least 1 (got {adaptive.Maximum}); set enabled false to keep the reserve as written."));
            }
            else if (adaptive.Minimum is { } min && adaptive.Maximum is { } max && min > max)
            {
                problems.Add(new($"{path}.adaptive.minimum", $"is {min}, above the maximum of {max}."));
            }

            // The scheduler moves the reserve within the bounds, starting from the written one: they must include it.
            if (Tenant(id) is { Strategy: not TenantStrategy.Dedicated } view && adaptive.Enabled != false)
            {
                if (adaptive.Minimum is { } low && low > view.ConfiguredReserved)
                {
                    problems.Add(new($"{path}.adaptive.minimum", $"is {low}, above the reserve of {view.ConfiguredReserved}; the scheduler adapts the reserve from there within the bounds, so they must include it: lower the minimum or raise the reserve."));
                }

                if (adaptive.Maximum is { } high and >= 1 && high < view.ConfiguredReserved)
                {
                    problems.Add(new($"{path}.adaptive.maximum", $"is {high}, below the reserve of {view.ConfiguredReserved}; the scheduler adapts the reserve from there within the bounds, so they must include it: raise the maximum or lower the reserve."));
                }
            }
        }
    }

    private static void ValidateSuccessor(List<FieldProblem> problems, StoredUpstream upstream, string tokenPath, string id, StoredToken token, string successor)
    {
        var path = $"{tokenPath}.successor";
        if (successor == id)
        {
            problems.Add(new(path, "names the token itself; name another token of the same upstream."));
        }
        else if (!upstream.Tokens.TryGetValue(successor, out var next))
        {
            problems.Add(new(path, $"no token '{successor}' is configured on this upstream; add it first (with its secret), then name it."));
        }
        else if (next.Owner is { } nextOwner && nextOwner != token.Owner)
        {
            problems.Add(new(path, $"token '{successor}' is dedicated to tenant '{nextOwner}' and cannot take over from this one; pool it or name another."));
        }
        else
        {
            // Successors may chain (a → b → c), but not come back round.
            var seen = new HashSet<string>(StringComparer.Ordinal) { id };
            for (var at = successor; at is not null && upstream.Tokens.TryGetValue(at, out var step); at = step.Successor)
            {
                if (!seen.Add(at))
                {
                    problems.Add(new(path, $"successors come back round to '{at}'; a token cannot succeed itself."));
                    break;
                }
            }
        }
    }

    private static void CheckId(List<FieldProblem> problems, string path, string id)
    {
        var named = new List<FieldProblem>();
        RequestRules.CheckName(named, path, id);
        problems.AddRange(named);
        if (id.Contains('/', StringComparison.Ordinal))
        {
            problems.Add(new(path, $"'{id}' contains '/'; names of upstreams, tokens and tenants may not."));
        }
    }
}
