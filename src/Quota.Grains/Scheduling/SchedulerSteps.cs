using Quota.Abstractions;
using Quota.Grains.Tenancy;

namespace Quota.Grains.Scheduling;

/// <summary>
/// Applies one <see cref="SchedulerAction"/> to a tenancy configuration, but only when the configuration is as the
/// step expects: a step replayed after a crash, or planned on a configuration an operator changed since, finds
/// something else and changes nothing. Each applied step hands back how to undo it, for when the whole would break a
/// rule.
/// </summary>
internal static class SchedulerSteps
{
    /// <summary>Applies <paramref name="action"/> to <paramref name="model"/>'s state; null with <paramref name="why"/> when it does not apply.</summary>
    public static (SchedulerChange Change, Action Undo)? TryApply(SchedulerAction action, TenancyModel model, long run, DateTimeOffset now, out string? why)
    {
        why = null;
        var state = model.State;
        switch (action.Kind)
        {
            case "reserve":
                {
                    if (action.Tenant is not { } id || model.Tenant(id) is not { } tenant)
                    {
                        why = "the tenant no longer exists";
                        return null;
                    }

                    if (tenant.Reserved != action.Old || tenant.Adaptive.Enabled == false || tenant.Strategy == TenantStrategy.Dedicated
                        || (action.Configured is { } configured && configured != tenant.ConfiguredReserved))
                    {
                        why = $"its reserve is {tenant.Reserved} now, not {action.Old}, or it was rewritten or no longer adapts";
                        return null;
                    }

                    // Bounds an operator set since the plan apply: what is recorded is what holds.
                    var next = tenant.Adaptive.Clamp(action.New);
                    if (next == tenant.Reserved)
                    {
                        why = $"its bounds ({tenant.Adaptive.Minimum ?? 0} to {(tenant.Adaptive.Maximum is { } max ? max.ToString(Invariant) : "unbounded")}) leave it at {tenant.Reserved}";
                        return null;
                    }

                    state.Adjusted.TryGetValue(id, out var previous);
                    state.Adjusted[id] = new ReserveAdjustment { Reserved = next, Configured = tenant.ConfiguredReserved, At = now, Upstream = tenant.Upstream };
                    return (Change(action, run, now, $"tenant:{id}", action.Old.ToString(Invariant), next.ToString(Invariant)), () =>
                    {
                        if (previous is null)
                        {
                            state.Adjusted.Remove(id);
                        }
                        else
                        {
                            state.Adjusted[id] = previous;
                        }
                    });
                }

            case "rotate" or "drain":
                {
                    if (Token(state, action.Upstream, action.Token) is not { } from || Token(state, action.Upstream, action.Target) is not { } to)
                    {
                        why = "a token no longer exists";
                        return null;
                    }

                    if (from.Owner != action.Tenant || action.Tenant is null || from.RetiringSince is not null || to.Owner is not null || to.RetiringSince is not null)
                    {
                        why = $"token {action.Token} is no longer dedicated to {action.Tenant}, or {action.Target} is no longer pooled";
                        return null;
                    }

                    var (fromBefore, toBefore) = (from.Assignment, to.Assignment);
                    from.Assign(null);
                    to.Assign(action.Tenant);
                    return (Change(action, run, now, $"token:{action.Upstream}/{action.Token}", $"dedicated to {action.Tenant}", $"pooled; {action.Target} dedicated to {action.Tenant}"), () =>
                    {
                        from.Assignment = fromBefore;
                        to.Assignment = toBefore;
                    });
                }

            case "retire":
                {
                    if (Token(state, action.Upstream, action.Token) is not { } old || Token(state, action.Upstream, action.Target) is not { } successor)
                    {
                        why = "a token no longer exists";
                        return null;
                    }

                    if (LiveEnd(state.Upstreams[action.Upstream!], old.Successor) != action.Target || old.RetiringSince is not null || successor.RetiringSince is not null
                        || (successor.Owner is not null && successor.Owner != old.Owner))
                    {
                        why = $"token {action.Token}'s successors no longer lead to {action.Target}, or it is already retiring";
                        return null;
                    }

                    var successorBefore = successor.Assignment;
                    old.RetiringSince = now;
                    successor.Assign(old.Owner);
                    var role = old.Owner is null ? "pooled" : $"dedicated to {old.Owner}";
                    return (Change(action, run, now, $"token:{action.Upstream}/{action.Token}", $"in use, {role}", $"retiring; {action.Target} took over ({role})"), () =>
                    {
                        old.RetiringSince = null;
                        successor.Assignment = successorBefore;
                    });
                }

            case "remove":
                {
                    if (action.Upstream is null || action.Token is null || !state.Upstreams.TryGetValue(action.Upstream, out var upstream)
                        || !upstream.Tokens.TryGetValue(action.Token, out var retired) || retired.RetiringSince is null)
                    {
                        why = "the token is gone or no longer retiring";
                        return null;
                    }

                    upstream.Tokens.Remove(action.Token);
                    return (Change(action, run, now, $"token:{action.Upstream}/{action.Token}", $"retiring since {retired.RetiringSince:O}", "removed (secret deleted)"), () => upstream.Tokens[action.Token] = retired);
                }

            default:
                why = $"'{action.Kind}' is not a scheduler step";
                return null;
        }
    }

    /// <summary>
    /// Where a chain of successors leads: past successors already retiring (they took over from someone and are being
    /// replaced themselves) to the first one still in use; null when the chain ends or comes back round.
    /// </summary>
    public static string? LiveEnd(StoredUpstream upstream, string? successor)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (successor is not null && seen.Add(successor) && upstream.Tokens.TryGetValue(successor, out var token))
        {
            if (token.RetiringSince is null)
            {
                return successor;
            }

            successor = token.Successor;
        }

        return null;
    }

    private static readonly IFormatProvider Invariant = System.Globalization.CultureInfo.InvariantCulture;

    private static StoredToken? Token(TenancyState state, string? upstream, string? id) =>
        upstream is not null && id is not null && state.Upstreams.TryGetValue(upstream, out var stored) && stored.Tokens.TryGetValue(id, out var token) ? token : null;

    private static SchedulerChange Change(SchedulerAction action, long run, DateTimeOffset now, string subject, string old, string @new) => new()
    {
        Run = run,
        At = now,
        Kind = action.Kind,
        Subject = subject,
        Old = old,
        New = @new,
        Reason = action.Reason,
    };
}
