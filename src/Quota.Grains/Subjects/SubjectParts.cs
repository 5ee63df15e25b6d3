using Quota.Abstractions;
using Quota.Algorithms.Limiting;

namespace Quota.Grains.Subjects;

/// <summary>What a <see cref="SubjectActivation"/> needs from its grain: identity, timers and lifetime.</summary>
internal interface ISubjectHost
{
    /// <summary>The grain's key (user id, key id, resource name, tenant, <c>{upstream}/{token}</c>).</summary>
    string Id { get; }

    /// <summary>The grain's id, under which its states are stored.</summary>
    GrainId GrainId { get; }

    /// <summary>A reference to the grain, for timers that call it back as a turn of its own.</summary>
    ISubjectClusterGrain Reference();

    /// <summary>Starts a one-shot timer that runs <paramref name="callback"/> as a non-interleaved turn and keeps nothing alive.</summary>
    IGrainTimer StartTimer(Func<Task> callback, TimeSpan due);

    /// <summary>Keeps the activation for at least <paramref name="period"/>.</summary>
    void DelayDeactivation(TimeSpan period);

    /// <summary>Lets the activation go once the current call ends.</summary>
    void DeactivateOnIdle();
}

/// <summary>Where a subject configured through tenancy (a tenant, an upstream's token) takes its policies from: its grain.</summary>
internal interface IPolicySource
{
    /// <summary>Whether the subject is configured now (a removed token keeps its windows but admits nothing).</summary>
    bool IsConfigured { get; }

    /// <summary>The policies in force now; null when there are none.</summary>
    IReadOnlyList<PolicyDefinition>? CurrentPolicies();
}

/// <summary>What a request passes before a subject's policies (a tenant's allowance, a token's circuit and pause).</summary>
internal interface ISubjectGate
{
    /// <summary>Notes a request as it arrives, before any decision (a tenant measures its demand).</summary>
    void Arrived(SubjectAcquire request);

    /// <summary>
    /// A denial that comes before the policies: its cause and when to retry; null to let the policies decide. Asked once
    /// per attempt, waiters included.
    /// </summary>
    (DenialCause Cause, TimeSpan RetryAfter)? Deny(SubjectAcquire request, DateTimeOffset now);

    /// <summary>Adds to an allowed answer (a token's secret when asked for).</summary>
    SubjectDecision Granted(SubjectAcquire request, SubjectDecision decision);

    /// <summary>
    /// Before a request with a cost is decided: a task to wait for first (a tenant borrowing from its pool because its
    /// allowance cannot admit the request), or null to decide at once. The task never faults and ends within a bound
    /// the gate keeps. <paramref name="policiesAdmit"/> tells whether the policies would admit a cost now; the gate
    /// asks it only when it needs to.
    /// </summary>
    Task? Before(SubjectAcquire request, DateTimeOffset now, Func<long, DateTimeOffset, bool> policiesAdmit) => null;
}

/// <summary>When a subject exists (answers other than <see cref="DecisionOutcome.UnknownSubject"/>).</summary>
internal enum SubjectExistence : byte
{
    /// <summary>Always: users.</summary>
    Always,

    /// <summary>When it has policies, its own or configured defaults: resources.</summary>
    WhenConfigured,

    /// <summary>When it is registered with an owner: API keys.</summary>
    WhenRegistered,

    /// <summary>When its <see cref="IPolicySource"/> says it is configured and it has policies: tenants and tokens.</summary>
    FromSource,
}
