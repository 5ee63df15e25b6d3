using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Quota.Abstractions;

namespace Quota.Grains.Subjects;

/// <summary>
/// The grain side every subject kind shares: forwards <see cref="ISubjectGrain"/> and the activation's lifecycle to the
/// subject's <see cref="SubjectActivation"/>, and lends it the grain's identity, timers and lifetime
/// (<see cref="ISubjectHost"/>).
/// </summary>
/// <remarks>
/// A base class only because Orleans' grain API (the lifecycle overrides, timers, <c>DelayDeactivation</c>,
/// <c>DeactivateOnIdle</c>) is reachable only from inside the grain class, and every kind answers the same
/// <see cref="ISubjectGrain"/>. It has no decision logic, no state but the activation, and no virtual hooks: what
/// differs by kind (when it exists, its policy source, its gate) is passed in by the sealed grain of each kind
/// (<see cref="SubjectActivation.Supply"/>).
/// </remarks>
[Reentrant]
public abstract class SubjectGrain : Grain, ISubjectGrain, ISubjectClusterGrain, ISubjectHost
{
    /// <summary>Creates the grain and its subject.</summary>
    private protected SubjectGrain(SubjectServices services, ILogger logger, SubjectKind kind, SubjectExistence existence)
    {
        Subject = new SubjectActivation(this, services, logger, kind, existence);
    }

    /// <summary>The subject this grain carries.</summary>
    private protected SubjectActivation Subject { get; }

    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken) => Subject.ActivateAsync();

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => Subject.DeactivateAsync();

    /// <inheritdoc />
    public Task<SubjectDecision> AcquireAsync(SubjectAcquire request, CancellationToken cancellationToken = default) =>
        Subject.AcquireAsync(request, cancellationToken);

    /// <inheritdoc />
    public Task<PolicyReading[]> RefundAsync(PolicyGrant[] grants, string? leaseId) => Subject.RefundAsync(grants, leaseId);

    /// <inheritdoc />
    public Task<LeaseOutcome> SettleAsync(string leaseId, long actualCost) => Subject.SettleAsync(leaseId, actualCost);

    /// <inheritdoc />
    public Task<LeaseOutcome> ReleaseAsync(string leaseId) => Subject.ReleaseAsync(leaseId);

    /// <inheritdoc />
    public Task<UsageReport> GetUsageAsync() => Subject.GetUsageAsync();

    /// <inheritdoc />
    public Task<SubjectPolicies> GetPoliciesAsync() => Subject.GetPoliciesAsync();

    /// <inheritdoc />
    public Task SetPoliciesAsync(PolicySpec[]? policies) => Subject.SetPoliciesAsync(policies);

    /// <inheritdoc />
    public Task WakeAsync() => Subject.WakeAsync();

    /// <inheritdoc />
    public Task CheckpointAsync() => Subject.CheckpointAsync();

    /// <inheritdoc />
    string ISubjectHost.Id => this.GetPrimaryKeyString();

    /// <inheritdoc />
    GrainId ISubjectHost.GrainId => this.GetGrainId();

    /// <inheritdoc />
    ISubjectClusterGrain ISubjectHost.Reference() => this.AsReference<ISubjectClusterGrain>();

    /// <inheritdoc />
    IGrainTimer ISubjectHost.StartTimer(Func<Task> callback, TimeSpan due) =>
        this.RegisterGrainTimer(callback, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { Interleave = false, KeepAlive = false });

    /// <inheritdoc />
    void ISubjectHost.DelayDeactivation(TimeSpan period) => DelayDeactivation(period);

    /// <inheritdoc />
    void ISubjectHost.DeactivateOnIdle() => DeactivateOnIdle();
}
