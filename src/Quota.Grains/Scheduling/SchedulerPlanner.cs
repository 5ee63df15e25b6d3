using System.Globalization;
using Quota.Abstractions;
using Quota.Algorithms.Allocation;
using Quota.Grains.Tenancy;

namespace Quota.Grains.Scheduling;

/// <summary>One tenant's use in one run: permits taken in the window before <see cref="At"/>.</summary>
[GenerateSerializer, Alias("quota.UsageSample")]
public sealed class UsageSample
{
    /// <summary>When it was taken (quota time).</summary>
    [Id(0)] public DateTimeOffset At { get; set; }

    /// <summary>Permits the tenant took from its allowance in the window before.</summary>
    [Id(1)] public long Used { get; set; }
}

/// <summary>What a run saw: the configuration, each adapting tenant's samples, each token's use and health.</summary>
internal sealed record SchedulerInput(
    UpstreamView[] Upstreams,
    TenantView[] Tenants,
    IReadOnlyDictionary<string, List<UsageSample>> Samples,
    IReadOnlyDictionary<string, TokenAllocation> Tokens,
    DateTimeOffset Now,
    TimeSpan LeaseTtl,
    SchedulerOptions Options);

/// <summary>
/// The scheduler's rules, pure: from what a run saw, the steps to take (in order) and what a rule called for but
/// cannot be done. Retirements first (they change which tokens are in use), then rotations, then reserves.
/// </summary>
internal static class SchedulerPlanner
{
    public static (List<SchedulerAction> Actions, List<string> Held) Plan(SchedulerInput input)
    {
        var actions = new List<SchedulerAction>();
        var held = new List<string>();
        Retire(input, actions, held);
        Rotate(input, actions, held);
        Adapt(input, actions, held);
        return (actions, held);
    }

    /// <summary>Whether <paramref name="tenant"/>'s reserve is the scheduler's to adapt.</summary>
    public static bool Adapts(TenantView tenant) => tenant.Strategy != TenantStrategy.Dedicated && tenant.Adaptive.Enabled != false && tenant.Reserved > 0;

    private static TokenAllocation? Status(SchedulerInput input, string upstream, string token) => input.Tokens.GetValueOrDefault(TokenKeys.Key(upstream, token));

    private static void Retire(SchedulerInput input, List<SchedulerAction> actions, List<string> held)
    {
        foreach (var upstream in input.Upstreams)
        {
            foreach (var token in upstream.Tokens.Where(t => t.Successor is not null))
            {
                var label = $"token:{upstream.Name}/{token.Id}";
                if (token.RetiringSince is { } since)
                {
                    var inFlight = Status(input, upstream.Name, token.Id)?.InFlight ?? 0;
                    var waited = input.Now - since;
                    if (waited >= input.LeaseTtl && inFlight == 0)
                    {
                        actions.Add(new SchedulerAction
                        {
                            Kind = "remove",
                            Upstream = upstream.Name,
                            Token = token.Id,
                            Reason = $"retiring for {Seconds(waited)}: the pool's leases that counted it (lifetime {Seconds(input.LeaseTtl)}) have ended and no request holds it",
                        });
                    }
                    else
                    {
                        held.Add($"remove {label}: waiting, {(inFlight > 0 ? $"{inFlight} requests in flight" : $"leases that counted it end {Seconds(input.LeaseTtl - waited)} from now")}.");
                    }

                    continue;
                }

                // A successor already retiring hands over to its own: follow the chain to the token still in use.
                var successor = LiveEnd(upstream, token.Successor);
                var status = successor is null ? null : Status(input, upstream.Name, successor.Id);
                var notLive = successor is null ? "it is not configured, or every token after it is retiring"
                    : token.HasSecret && !successor.HasSecret ? "it has no secret stored"
                    : status is null ? "its state could not be read"
                    : status.Health.Circuit != "closed" ? $"its circuit is {status.Health.Circuit}"
                    : status.Health.PausedForMs > 0 ? $"it is paused by the upstream for {status.Health.PausedForMs} ms"
                    : null;
                if (notLive is not null)
                {
                    held.Add($"retire {label}: successor {successor?.Id ?? token.Successor} is not live yet ({notLive}).");
                    continue;
                }

                actions.Add(new SchedulerAction
                {
                    Kind = "retire",
                    Upstream = upstream.Name,
                    Token = token.Id,
                    Target = successor!.Id,
                    Reason = $"successor {successor.Id} is live (configured{(successor.HasSecret ? ", secret stored" : string.Empty)}, circuit closed, not paused)",
                });
            }
        }
    }

    private static TokenView? LiveEnd(UpstreamView upstream, string? successor)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (successor is not null && seen.Add(successor) && upstream.Tokens.FirstOrDefault(t => t.Id == successor) is { } token)
        {
            if (token.RetiringSince is null)
            {
                return token;
            }

            successor = token.Successor;
        }

        return null;
    }

    private static void Rotate(SchedulerInput input, List<SchedulerAction> actions, List<string> held)
    {
        var taken = new HashSet<string>(StringComparer.Ordinal);
        var upstreams = input.Upstreams.ToDictionary(u => u.Name, StringComparer.Ordinal);
        foreach (var tenant in input.Tenants.Where(t => t.Strategy is TenantStrategy.Dedicated or TenantStrategy.Hybrid))
        {
            if (!upstreams.TryGetValue(tenant.Upstream, out var upstream))
            {
                continue;
            }

            foreach (var id in tenant.DedicatedTokens)
            {
                var token = upstream.Tokens.FirstOrDefault(t => t.Id == id);
                if (token is null || token.Successor is not null || Status(input, upstream.Name, id) is not { } status)
                {
                    continue;
                }

                var open = status.Health.Circuit == "open";
                if (!open && status.Utilisation <= input.Options.RotateAbove)
                {
                    continue;
                }

                var why = open
                    ? $"circuit open, next probe in {status.Health.RetryAfterMs} ms"
                    : $"used {status.Used} of its limit of {status.Limit} ({Percent(status.Utilisation)}, above {Percent(input.Options.RotateAbove)})";
                // Not a token another (in use, serving someone else) names as its successor: it could not be dedicated here.
                var promised = upstream.Tokens.Where(t => t.Successor is not null && t.RetiringSince is null && t.DedicatedTo != tenant.Id).Select(t => t.Successor).ToHashSet(StringComparer.Ordinal);
                var target = upstream.Tokens
                    .Where(t => t.DedicatedTo is null && t.RetiringSince is null && t.Successor is null && !promised.Contains(t.Id) && !taken.Contains(TokenKeys.Key(upstream.Name, t.Id)))
                    .Where(t => t.HasSecret || !token.HasSecret)
                    .Select(t => (Token: t, Status: Status(input, upstream.Name, t.Id)))
                    .Where(c => c.Status is { Health.Circuit: "closed", Health.PausedForMs: 0 } && c.Status.Utilisation < input.Options.RotateBelow)
                    .OrderBy(c => c.Status!.Utilisation).ThenBy(c => c.Token.Id, StringComparer.Ordinal)
                    .FirstOrDefault();
                if (target.Token is null)
                {
                    held.Add($"{(open ? "drain" : "rotate")} token:{upstream.Name}/{id} (dedicated to {tenant.Id}, {why}): no healthy pooled token used below {Percent(input.Options.RotateBelow)} to move to.");
                    continue;
                }

                taken.Add(TokenKeys.Key(upstream.Name, target.Token.Id));
                actions.Add(new SchedulerAction
                {
                    Kind = open ? "drain" : "rotate",
                    Tenant = tenant.Id,
                    Upstream = upstream.Name,
                    Token = id,
                    Target = target.Token.Id,
                    Reason = $"{tenant.Id}'s dedicated token {id}: {why}; pooled token {target.Token.Id} used {Percent(target.Status!.Utilisation)} takes its place",
                });
            }
        }
    }

    private static void Adapt(SchedulerInput input, List<SchedulerAction> actions, List<string> held)
    {
        var rule = new AdaptiveQuotaOptions();
        foreach (var upstream in input.Upstreams)
        {
            // What the reservation rule leaves: 80% of the pool less the reserves now. Cuts are planned first, so
            // what they free can go to raises in the same run (the tenancy grain checks the whole after each step).
            var headroom = (long)Math.Floor(upstream.Capacity * TenancyOptions.MaxReservedShare) - upstream.Reserved;
            var observed = new List<(TenantView Tenant, double Average, long Peak, int Count)>();
            foreach (var tenant in input.Tenants.Where(t => t.Upstream == upstream.Name && Adapts(t)))
            {
                var samples = input.Samples.GetValueOrDefault(tenant.Id) ?? [];
                if (samples.Count >= input.Options.Samples)
                {
                    var last = samples.TakeLast(input.Options.Samples).ToList();
                    observed.Add((tenant, last.Average(s => (double)s.Used), last.Max(s => s.Used), last.Count));
                }
            }

            var steps = observed.Select(o => (o.Tenant, o.Average, o.Peak, o.Count, Step: AdaptiveQuota.Evaluate(Input(o.Tenant, o.Average, o.Peak, 0), rule))).ToList();
            foreach (var (tenant, average, peak, count, step) in steps.Where(s => s.Step.Reason == AdaptiveReason.LowUse))
            {
                headroom += step.OldQuota - step.NewQuota;
                actions.Add(Reserve(tenant, step, $"average use {Number(average)} of its reserve of {tenant.Reserved} per window over {count} samples ({Percent(average / tenant.Reserved)}), below {Percent(rule.LowerBelow)}"));
            }

            foreach (var (tenant, average, peak, count, _) in steps.Where(s => s.Step.Reason is AdaptiveReason.HighUse or AdaptiveReason.HighUseCapped))
            {
                var step = AdaptiveQuota.Evaluate(Input(tenant, average, peak, headroom), rule);
                var seen = $"average use {Number(average)} of its reserve of {tenant.Reserved} per window over {count} samples ({Percent(average / tenant.Reserved)}), peak {peak}";
                if (!step.Changed)
                {
                    held.Add($"reserve tenant:{tenant.Id}: {seen}, but {(tenant.Adaptive.Maximum is { } max && max <= tenant.Reserved ? $"it is at its maximum of {max}" : $"the 80% reservation rule leaves no room on upstream {upstream.Name} (capacity {upstream.Capacity})")}.");
                    continue;
                }

                headroom -= step.NewQuota - step.OldQuota;
                actions.Add(Reserve(tenant, step, $"{seen}: above {Percent(rule.RaiseAbove)} with a peak at the reserve"));
            }
        }
    }

    private static AdaptiveInput Input(TenantView tenant, double average, long peak, long headroom) =>
        new(tenant.Reserved, average, peak, headroom, tenant.Adaptive.Minimum ?? 0, tenant.Adaptive.Maximum ?? long.MaxValue);

    private static SchedulerAction Reserve(TenantView tenant, AdaptiveChange step, string reason) => new()
    {
        Kind = "reserve",
        Tenant = tenant.Id,
        Upstream = tenant.Upstream,
        Old = step.OldQuota,
        New = step.NewQuota,
        Configured = tenant.ConfiguredReserved,
        Reason = reason,
    };

    private static string Percent(double share) => share.ToString("P0", CultureInfo.InvariantCulture).Replace(" ", string.Empty, StringComparison.Ordinal);

    private static string Number(double value) => value.ToString("0.#", CultureInfo.InvariantCulture);

    private static string Seconds(TimeSpan span) => $"{Math.Max(0, span.TotalSeconds).ToString("0.#", CultureInfo.InvariantCulture)} s";
}
