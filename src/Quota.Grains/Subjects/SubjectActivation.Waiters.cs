using Quota.Abstractions;

namespace Quota.Grains.Subjects;

/// <content>
/// Serving the waiter queue: who is granted when capacity frees (strictly by priority, then arrival), who is answered
/// at its deadline, what a caller that will not wait is told while others wait ahead of it, and what those still
/// waiting are told when the subject goes away.
/// </content>
internal sealed partial class SubjectActivation
{
    /// <summary>See <see cref="ISubjectClusterGrain.WakeAsync"/>.</summary>
    public Task WakeAsync()
    {
        ProcessWaiters(_services.Time.GetUtcNow());
        return Task.CompletedTask;
    }

    /// <summary>
    /// The answer for a caller that will not wait while others wait ahead of it: what it would get on its own,
    /// but never admitted, and retrying no earlier than the head of the queue can be served.
    /// </summary>
    private SubjectDecision QueueDenial(SubjectAcquire request, DateTimeOffset now)
    {
        var untilHead = (_waitersOrNull?.HeadReadyAt ?? now) - now;
        if (untilHead <= TimeSpan.Zero)
        {
            untilHead = TimeSpan.FromTicks(1);
        }

        var alone = WouldGet(request, now);
        if (!alone.Allowed)
        {
            return alone.Outcome != DecisionOutcome.Denied || alone.RetryAfter >= untilHead
                ? alone
                : alone with { RetryAfter = untilHead };
        }

        return alone with
        {
            Allowed = false,
            Outcome = DecisionOutcome.Denied,
            Cause = DenialCause.Queue,
            RetryAfter = untilHead,
        };
    }

    /// <summary>
    /// Grants waiters strictly in order while they fit; answers those past their deadline; re-arms the timer for
    /// the head's retry-after or the earliest deadline, whichever comes first.
    /// </summary>
    private void ProcessWaiters(DateTimeOffset now)
    {
        if (_waitersOrNull is not { Count: > 0 } waiters)
        {
            return;
        }

        if (_services.Stopping.IsStopping)
        {
            // The silo is stopping: whoever waits is answered now, while its answer can still get through.
            _services.Instruments.Waiting(-waiters.AnswerAll(GoingAway));
            _wakeTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        TimeSpan? headRetry = null;
        long ceilingDemand = 0;
        foreach (var waiter in waiters.InOrder())
        {
            if (waiter.IsCompleted)
            {
                // Cancelled by its caller.
                waiters.Remove(waiter);
                _services.Instruments.Waiting(-1);
                continue;
            }

            if (headRetry is null && waiter.Request.Cost > 0 && MustWaitForCeiling(waiter.Request.Cost, now))
            {
                // The head would pass a durable counter's written ceiling: it waits for the checkpoint started
                // below (whose claim covers it), and everyone behind it waits too.
                if (now >= waiter.Deadline)
                {
                    waiters.Remove(waiter);
                    Complete(waiter, CeilingDenial(now), now);
                    continue;
                }

                ceilingDemand = waiter.Request.Cost;
                headRetry = CeilingRecheck;
                continue;
            }

            // The head takes; a waiter behind a blocked head is only asked whether it would fit (the capacity is the
            // head's first). The head's grants are kept with the decision whatever the caller asked: a grant to a
            // waiter that cancelled meanwhile must be given back.
            var decision = headRetry is null
                ? TryAcquire(waiter.Request.ReturnGrants ? waiter.Request : waiter.Request with { ReturnGrants = true }, now)
                : WouldGet(waiter.Request, now);
            if (decision.Outcome is DecisionOutcome.CostExceedsLimit or DecisionOutcome.UnknownSubject
                || (headRetry is null && (decision.Allowed || now >= waiter.Deadline)))
            {
                waiters.Remove(waiter);
                Complete(waiter, decision, now);
                continue;
            }

            if (decision.Allowed)
            {
                decision = decision with { Allowed = false, Outcome = DecisionOutcome.Denied, Cause = DenialCause.Queue, RetryAfter = headRetry ?? TimeSpan.Zero };
            }

            if (now >= waiter.Deadline)
            {
                waiters.Remove(waiter);
                Complete(waiter, decision, now);
                continue;
            }

            headRetry ??= decision.RetryAfter;
        }

        if (ceilingDemand > 0 || _writerOrNull is not null)
        {
            Writer.Counters.WaiterDemand = ceilingDemand;
        }

        if (ceilingDemand > 0)
        {
            Writer.Start();
        }

        var due = waiters.Passed(now, headRetry);
        if (due == Timeout.InfiniteTimeSpan)
        {
            _wakeTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        _self ??= _host.Reference();
        _wakeTimer ??= _services.Time.CreateTimer(static state => ((SubjectActivation)state!)._self?.WakeAsync(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _wakeTimer.Change(due, Timeout.InfiniteTimeSpan);
    }

    private void Complete(Waiter waiter, SubjectDecision decision, DateTimeOffset now)
    {
        _services.Instruments.Waiting(-1);
        _services.Instruments.Waited(_kind, decision.Allowed, now - (waiter.Deadline - TimeSpan.FromMilliseconds(waiter.Request.MaxWaitMs)));
        Decided(decision, waiter.Request.Cost, now, TimeSpan.Zero);
        if (!waiter.TryComplete(decision) && decision.Allowed)
        {
            // The caller cancelled while we granted: give the place back so nothing is lost.
            _limits.Refund(decision.Grants, now);
            if (decision.LeaseNonce is { } leaseId)
            {
                _leasesOrNull?.Forget(leaseId);
            }
        }
    }

    /// <summary>The answer to a caller still waiting when the subject goes away: nothing decided or consumed; retry after the configured delay.</summary>
    private SubjectDecision GoingAway(Waiter waiter)
    {
        _services.Instruments.Shed("stopping", waiter.Request.Priority);
        _services.Instruments.Decided(_kind, DecisionOutcome.Overloaded, null, TimeSpan.Zero);
        return new SubjectDecision
        {
            Outcome = DecisionOutcome.Overloaded,
            Cause = DenialCause.Overloaded,
            RetryAfter = _services.Limits.ShedRetryAfter,
            Problem = new FieldProblem(string.Empty, $"{_label} went away while this request waited (its silo is stopping, or it moved); nothing was decided or consumed. Retry after Retry-After."),
        };
    }
}
