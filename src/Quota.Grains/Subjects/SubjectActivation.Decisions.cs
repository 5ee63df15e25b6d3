using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Configuration;
using Quota.Grains.Storage;

namespace Quota.Grains.Subjects;

/// <content>
/// The decision path: acquire (at once, or queued for <c>SubjectActivation.Waiters.cs</c> to serve), refund, settle,
/// release, usage and the subject's own policies.
/// </content>
internal sealed partial class SubjectActivation
{
    /// <summary>See <see cref="ISubjectGrain.AcquireAsync"/>.</summary>
    public Task<SubjectDecision> AcquireAsync(SubjectAcquire request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_admission == SubjectAdmission.Shed)
        {
            // Shed callers are never queued: a wait would keep the activation the ceiling is there to refuse.
            return Task.FromResult(Shed(request.Priority));
        }

        var outer = Activity.Current;
        var activity = QuotaActivities.StartDecision(_kind, request);
        var deciding = DecideAsync(request, cancellationToken);
        if (!deciding.IsCompletedSuccessfully)
        {
            // The decision's continuation keeps its span; the caller's flow gets its own activity back.
            Activity.Current = outer;
            return LetGoAfterAsync(deciding, request.Cost, activity);
        }

        QuotaActivities.Decided(activity, deciding.Result);
        LetGoUnlessGranted(deciding.Result, request.Cost);
        return deciding;
    }

    private async Task<SubjectDecision> LetGoAfterAsync(Task<SubjectDecision> deciding, long cost, Activity? activity)
    {
        SubjectDecision decision;
        try
        {
            decision = await deciding;
        }
        catch (Exception e) when (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, e.GetType().Name);
            activity.Dispose();
            throw;
        }

        QuotaActivities.Decided(activity, decision);
        LetGoUnlessGranted(decision, cost);
        return decision;
    }

    // A permit just taken is counted until its window refills: the hot path skips the check.
    private void LetGoUnlessGranted(SubjectDecision decision, long cost)
    {
        if (!decision.Allowed || cost == 0)
        {
            LetGoIfUntouched();
        }
    }

    private async Task<SubjectDecision> DecideAsync(SubjectAcquire request, CancellationToken cancellationToken)
    {
        if (request.Cost < 0 || request.MaxWaitMs < 0 || request.MaxWaitMs > _services.Decisions.MaxWait.TotalMilliseconds)
        {
            var problem = RequestRules.CheckAmounts(request.Cost, request.MaxWaitMs, _services.Decisions.MaxWait).First();
            return new SubjectDecision { Outcome = DecisionOutcome.Invalid, Problem = problem, RetryAfter = TimeSpan.MaxValue };
        }

        _gate?.Arrived(request);
        var now = _services.Time.GetUtcNow();
        _leasesOrNull?.Sweep(now);

        // A tenant whose allowance cannot admit this borrows from its pool first, one borrow at a time that every
        // request arriving meanwhile waits for: even a caller that will not wait is decided after that answer (one
        // fast grain call, bounded by the gate), rather than denied while its pool holds capacity nobody borrowed.
        for (var borrows = 0; request.Cost > 0 && borrows < MaxGateWaits && _gate?.Before(request, now, _policiesAdmit ??= PoliciesAdmit) is { } before; borrows++)
        {
            await before;
            now = _services.Time.GetUtcNow();
            _leasesOrNull?.Sweep(now);
        }

        // Checked again with every fresh reading of the clock, in the same step as the decision below.
        if (request.Cost > 0 && MustWaitForCeiling(request.Cost, now))
        {
            var waited = await Writer.WaitUnderCeilingAsync(request.Cost, () =>
            {
                now = _services.Time.GetUtcNow();
                _leasesOrNull?.Sweep(now);
                return now;
            });
            if (waited == CeilingWait.UsedUp)
            {
                var refused = CeilingDenial(now);
                Decided(refused, request.Cost, now, TimeSpan.Zero);
                return refused;
            }
        }

        if (_waitersOrNull?.HasWaiterAtOrAbove(request.Priority) != true)
        {
            // Latency is measured on the real clock: it is a metric, not quota time.
            var started = TimeProvider.System.GetTimestamp();
            var decision = TryAcquire(request, now);
            var answerNow = decision.Allowed || request.MaxWaitMs <= 0 || decision.Outcome != DecisionOutcome.Denied

                // Hopeless waits are answered at once: window policies free capacity only with time, so a
                // retry-after beyond the wait cannot be beaten. Concurrency permits can come back early on release.
                || (decision.RetryAfter > TimeSpan.FromMilliseconds(request.MaxWaitMs) && !LimitedByConcurrency(decision));
            if (answerNow)
            {
                Decided(decision, request.Cost, now, TimeProvider.System.GetElapsedTime(started));
                return decision;
            }
        }
        else if (request.MaxWaitMs <= 0)
        {
            // Callers of the same or higher priority are already waiting for this subject's capacity: it is theirs
            // first, so a caller that will not wait is denied, no earlier than the head of the queue is served.
            var queued = QueueDenial(request, now);
            Decided(queued, request.Cost, now, TimeSpan.Zero);
            return queued;
        }

        var waiter = (_waitersOrNull ??= new()).Enqueue(request, now + TimeSpan.FromMilliseconds(request.MaxWaitMs));
        _self ??= _host.Reference();
        if (_onStopping == default)
        {
            // When the silo begins to stop, a wake answers whoever waits then (SiloStopping).
            _onStopping = _services.Stopping.Token.UnsafeRegister(static self => ((ISubjectClusterGrain)self!).WakeAsync(), _self);
        }

        _services.Instruments.Waiting(+1);
        LogWaiting(_logger, _label, request.Priority, request.MaxWaitMs);
        ProcessWaiters(now);
        using var registration = cancellationToken.Register(static state =>
        {
            var (grain, w) = ((SubjectActivation, Waiter))state!;
            if (w.TryCancel())
            {
                grain._self?.WakeAsync();
            }
        }, (this, waiter));
        return await waiter.Task;
    }

    /// <summary>
    /// The most times a request waits for its gate before it is decided: a burst arriving while borrows are out may
    /// need a few rounds (each borrow asks for what waited when it left). The gate stops asking once an answer gains
    /// nothing; this bounds the rest.
    /// </summary>
    private const int MaxGateWaits = 8;

    private bool PoliciesAdmit(long cost, DateTimeOffset now) => _known && _limits.Check(cost, now).Allowed;

    /// <summary>See <see cref="ISubjectGrain.RefundAsync"/>.</summary>
    public Task<PolicyReading[]> RefundAsync(PolicyGrant[] grants, string? leaseId)
    {
        ArgumentNullException.ThrowIfNull(grants);
        var now = _services.Time.GetUtcNow();
        _limits.Refund(grants, now);
        if (leaseId is not null)
        {
            _leasesOrNull?.Forget(leaseId);
        }

        ProcessWaiters(now);
        var readings = _known ? _limits.Readings(now) : [];
        LetGoIfUntouched();
        return Task.FromResult(readings);
    }

    /// <summary>See <see cref="ISubjectGrain.SettleAsync"/>.</summary>
    public async Task<LeaseOutcome> SettleAsync(string leaseId, long actualCost)
    {
        ArgumentNullException.ThrowIfNull(leaseId);
        ArgumentOutOfRangeException.ThrowIfNegative(actualCost);
        var now = _services.Time.GetUtcNow();
        _leasesOrNull?.Sweep(now);
        if (_leasesOrNull?.Settle(leaseId, actualCost, _limits, now) != true)
        {
            LetGoIfUntouched();
            return LeaseOutcome.NotFound;
        }

        CountersChanged(now, 0);
        ProcessWaiters(now);

        // A top-up is taken whatever the limit (the work is done); if it went past the written ceiling, the answer
        // waits for the checkpoint that covers it, so a crash cannot forget it.
        if (MustWaitForCeiling(0, now))
        {
            await Writer.WaitForCeilingAsync(0);
        }

        LetGoIfUntouched();
        return LeaseOutcome.Done;
    }

    /// <summary>See <see cref="ISubjectGrain.ReleaseAsync"/>.</summary>
    public Task<LeaseOutcome> ReleaseAsync(string leaseId)
    {
        ArgumentNullException.ThrowIfNull(leaseId);
        var now = _services.Time.GetUtcNow();
        _leasesOrNull?.Sweep(now);
        if (_leasesOrNull?.Release(leaseId, _limits, now) != true)
        {
            LetGoIfUntouched();
            return Task.FromResult(LeaseOutcome.NotFound);
        }

        ProcessWaiters(now);
        LetGoIfUntouched();
        return Task.FromResult(LeaseOutcome.Done);
    }

    /// <summary>See <see cref="ISubjectGrain.GetUsageAsync"/>.</summary>
    public Task<UsageReport> GetUsageAsync()
    {
        var now = _services.Time.GetUtcNow();
        if (_admission == SubjectAdmission.Shed)
        {
            _services.Instruments.Shed("active_subjects", Priority.Normal);
        }

        var report = _admission == SubjectAdmission.Shed
            ? new UsageReport { Subject = _label, Overloaded = true, RetryAfterMs = DecisionResults.CeilingMilliseconds(_services.Limits.ShedRetryAfter) }
            : new UsageReport
            {
                Subject = _label,
                Known = _known,
                Policies = _known ? [.. _limits.Readings(now).Select(r => r.ToState(_label))] : [],
                Waiting = _waitersOrNull?.Waiting() ?? 0,
            };
        LetGoIfUntouched();
        return Task.FromResult(report);
    }

    /// <summary>See <see cref="ISubjectGrain.GetPoliciesAsync"/>.</summary>
    public async Task<SubjectPolicies> GetPoliciesAsync()
    {
        await LoadIfShedAsync();
        var policies = new SubjectPolicies
        {
            Subject = _label,
            Known = _known,
            Own = StoredConfig?.Policies is not null,
            Policies = [.. _limits.Definitions().Select(PolicySpec.From)],
        };
        LetGoIfUntouched();
        return policies;
    }

    /// <summary>See <see cref="ISubjectGrain.SetPoliciesAsync"/>.</summary>
    public async Task SetPoliciesAsync(PolicySpec[]? policies)
    {
        if (policies is not null)
        {
            PolicySpec.ThrowIfInvalid(policies, "policies");
        }

        await LoadIfShedAsync();

        Config.Policies = policies;
        await SaveAndReloadAsync();
        LogPoliciesChanged(_logger, _label, policies?.Length ?? -1);
    }

    /// <summary>
    /// The answer when checkpoint after checkpoint was used up by others before a request waiting at the ceiling fit under it: a
    /// denial to retry shortly, rather than an admission a crash could forget.
    /// </summary>
    private SubjectDecision CeilingDenial(DateTimeOffset now) => new()
    {
        Outcome = DecisionOutcome.Denied,
        Cause = DenialCause.Checkpoint,
        RetryAfter = TimeSpan.FromMilliseconds(100),
        Policies = _limits.Readings(now),
        Owner = Owner,
    };

    /// <summary>Counts one decision in the metrics and the usage history; a peek (cost 0) only as a peek.</summary>
    private void Decided(SubjectDecision decision, long cost, DateTimeOffset now, TimeSpan latency)
    {
        if (cost == 0 && decision.Outcome is DecisionOutcome.Allowed or DecisionOutcome.Denied)
        {
            _services.Instruments.Peeked(_kind);
            return;
        }

        _services.Instruments.Decided(_kind, decision.Outcome, DenyingAlgorithm(decision), latency);
        if (decision.Outcome is DecisionOutcome.Allowed or DecisionOutcome.Denied or DecisionOutcome.CostExceedsLimit)
        {
            _services.Instruments.DecidedByPolicy(_kind, decision.Allowed, decision.Cause == DenialCause.Policy ? decision.LimitedBy : null, decision.Policies);
            _services.Usage.Record(_historyName, now, decision.Allowed, decision.Allowed ? cost : 0);
            if (!decision.Allowed && decision.Cause == DenialCause.Policy && decision.LimitedBy is { } policy)
            {
                _services.Denials.Add(_kind, Id, policy, now);
            }
        }
    }

    /// <summary>One all-or-nothing attempt on every policy at <paramref name="now"/>; a denial changes nothing.</summary>
    private SubjectDecision TryAcquire(SubjectAcquire request, DateTimeOffset now)
    {
        if (BeforePolicies(request, now) is { } refused)
        {
            return refused;
        }

        var verdict = _limits.TryTake(request.Cost, now);
        if (!verdict.Allowed)
        {
            return Answer(verdict);
        }

        var grants = verdict.Grants;
        string? nonce = null;
        if (grants.Length > 0 && (request.Reserve || LeaseBook.HasConcurrencyPermits(grants)))
        {
            // A lease to settle or release later: the caller's nonce (shared by every subject of the request) or our own.
            nonce = request.LeaseNonce ?? Guid.NewGuid().ToString("N");
            (_leasesOrNull ??= new()).Open(nonce, _limits, grants, LeaseBook.ExpiryOf(_limits, grants, request.Reserve, _services.Decisions.ReservationTtl, now));
        }

        if (grants.Length > 0)
        {
            CountersChanged(now, request.Cost);
        }

        KeepAliveForLongWindows(verdict.Readings);
        var granted = new SubjectDecision
        {
            Allowed = true,
            Outcome = DecisionOutcome.Allowed,
            Policies = verdict.Readings,
            Grants = request.ReturnGrants ? grants : [],
            Leased = nonce is not null,
            LeaseNonce = nonce,
            Owner = Owner,
        };
        return _gate is null ? granted : _gate.Granted(request, granted);
    }

    /// <summary>
    /// What <paramref name="request"/> would get now, taking nothing: the gate's denial, the policies' denial, or an
    /// allowed answer that is not counted (for callers told to queue behind others).
    /// </summary>
    private SubjectDecision WouldGet(SubjectAcquire request, DateTimeOffset now) =>
        BeforePolicies(request, now) ?? Answer(_limits.Check(request.Cost, now));

    /// <summary>The answer before any policy is asked (an unknown subject, the gate's denial); null to ask them.</summary>
    private SubjectDecision? BeforePolicies(SubjectAcquire request, DateTimeOffset now)
    {
        if (!_known)
        {
            return new SubjectDecision { Outcome = DecisionOutcome.UnknownSubject };
        }

        return _gate?.Deny(request, now) is { } gate
            ? new SubjectDecision
            {
                Outcome = DecisionOutcome.Denied,
                Cause = gate.Cause,
                RetryAfter = gate.RetryAfter,
                Policies = _limits.Readings(now),
                Owner = Owner,
            }
            : null;
    }

    /// <summary>The policies' verdict as the subject's answer (an allowed one carries no grant: see <see cref="TryAcquire"/>).</summary>
    private SubjectDecision Answer(in LimitsVerdict verdict) => new()
    {
        Allowed = verdict.Allowed,
        Outcome = verdict.Outcome,
        Cause = verdict.Allowed ? DenialCause.None : DenialCause.Policy,
        LimitedBy = verdict.LimitedBy,
        RetryAfter = verdict.RetryAfter,
        Policies = verdict.Readings,
        Owner = Owner,
    };

    private AlgorithmKind? DenyingAlgorithm(SubjectDecision decision) =>
        _limits.AlgorithmOf(decision.LimitedBy);

    private bool LimitedByConcurrency(SubjectDecision decision) =>
        _limits.IsConcurrency(decision.LimitedBy);
}
