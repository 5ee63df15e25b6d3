using Quota.Abstractions;

namespace Quota.Outbound;

/// <summary>
/// Quota did not admit an outbound request, so it was not sent: the upstream saw nothing and nothing was consumed.
/// Thrown by <see cref="QuotaUpstreamHandler"/> with <see cref="QuotaDenialBehavior.Throw"/> (and, whatever the
/// behaviour, for a misconfiguration: an unknown tenant or upstream, an invalid request). The message names the
/// upstream, the tenant, the limiting subject and the wait; never a secret.
/// </summary>
public sealed class QuotaUpstreamRejectedException : Exception
{
    /// <summary>A rejection of a request to <paramref name="upstream"/> for <paramref name="tenant"/>, as Quota answered it.</summary>
    public QuotaUpstreamRejectedException(string upstream, string? tenant, AcquireResult result)
        : base(Describe(upstream, tenant, result))
    {
        ArgumentNullException.ThrowIfNull(result);
        Upstream = upstream;
        Tenant = tenant;
        Outcome = result.Outcome;
        Cause = result.Cause;
        LimitedBy = result.LimitedBy;
        Problem = result.Problem;
        RetryAfter = result.RetryAfterMs >= 0 ? TimeSpan.FromMilliseconds(result.RetryAfterMs) : null;
    }

    /// <summary>The Quota upstream.</summary>
    public string Upstream { get; }

    /// <summary>The tenant, when the client names one.</summary>
    public string? Tenant { get; }

    /// <summary>What the decision came to: <see cref="DecisionOutcome.Denied"/> when waiting would help.</summary>
    public DecisionOutcome Outcome { get; }

    /// <summary>Why: a policy, a queue, the tenant's allowance, a token's open circuit or pause, ...</summary>
    public DenialCause Cause { get; }

    /// <summary>The denying subject and policy or cause, e.g. <c>token:baselinker/bl-1/paused</c>.</summary>
    public string? LimitedBy { get; }

    /// <summary>For an unknown subject or an invalid request: which field and what is wrong.</summary>
    public FieldProblem? Problem { get; }

    /// <summary>
    /// When the same request would be admitted (exact, rounded up to the millisecond); null when never (the cost
    /// exceeds what the policy can ever admit). Zero for a misconfiguration.
    /// </summary>
    public TimeSpan? RetryAfter { get; }

    private static string Describe(string upstream, string? tenant, AcquireResult result)
    {
        var who = tenant is null ? $"upstream '{upstream}'" : $"upstream '{upstream}' for tenant '{tenant}'";
        return result.Outcome switch
        {
            DecisionOutcome.Denied => $"Quota denied a request to {who} (limited by {result.LimitedBy}); retry after {result.RetryAfterMs} ms. It was not sent.",
            DecisionOutcome.Overloaded => $"The Quota cluster shed a request to {who} ({result.Problem}); retry after {result.RetryAfterMs} ms. It was not sent.",
            DecisionOutcome.CostExceedsLimit => $"A request to {who} costs more than {result.LimitedBy} can ever admit at once; lower the client's Cost. It was not sent.",
            DecisionOutcome.UnknownSubject => $"Quota does not know a subject a request to {who} names ({result.Problem}); configure it (see docs/api.md) or fix the client's Quota:Outbound options. It was not sent.",
            _ => $"Quota refused a request to {who} as invalid ({result.Problem}); fix the client's Quota:Outbound options. It was not sent.",
        };
    }
}
