using Quota.Abstractions;

namespace Quota.Grains.Subjects;

/// <summary>
/// The callers waiting for a subject's capacity: served strictly by priority (critical before low), then by arrival,
/// each until granted, its deadline, or its cancellation. Plain code without Orleans: time is an argument; which
/// waiter is granted is the subject's decision, this type keeps the order, the deadlines and when the head can next
/// be served.
/// </summary>
/// <remarks>Made when a subject first queues a caller: most subjects never do.</remarks>
internal sealed class WaiterQueue
{
    private readonly SortedSet<Waiter> _waiters = new(Waiter.Order);
    private long _nextSequence;

    /// <summary>Waiters in the queue, cancelled ones not yet swept out included.</summary>
    public int Count => _waiters.Count;

    /// <summary>When the head waiter can be served, as of the last pass over the queue (<see cref="Passed"/>).</summary>
    public DateTimeOffset HeadReadyAt { get; private set; }

    /// <summary>Queues <paramref name="request"/> until <paramref name="deadline"/>, behind every waiter of its priority or higher.</summary>
    public Waiter Enqueue(SubjectAcquire request, DateTimeOffset deadline)
    {
        var waiter = new Waiter(request, deadline, _nextSequence++);
        _waiters.Add(waiter);
        return waiter;
    }

    /// <summary>Takes <paramref name="waiter"/> out of the queue (answered, or found cancelled).</summary>
    public void Remove(Waiter waiter) => _waiters.Remove(waiter);

    /// <summary>Whether a caller of <paramref name="priority"/> or higher, not yet answered, is waiting.</summary>
    public bool HasWaiterAtOrAbove(Priority priority)
    {
        // Enumerating even an empty SortedSet allocates; most calls find no waiters.
        if (_waiters.Count == 0)
        {
            return false;
        }

        foreach (var waiter in _waiters)
        {
            if (!waiter.IsCompleted && waiter.Request.Priority >= priority)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Waiters not yet answered nor cancelled.</summary>
    public int Waiting()
    {
        var waiting = 0;
        foreach (var waiter in _waiters)
        {
            waiting += waiter.IsCompleted ? 0 : 1;
        }

        return waiting;
    }

    /// <summary>The waiters in serving order, copied, so a pass may remove them as it goes.</summary>
    public Waiter[] InOrder() => _waiters.ToArray();

    /// <summary>
    /// Notes the end of a pass at <paramref name="now"/>: the head can be served after <paramref name="headRetry"/>
    /// (null when nobody is left blocked). Answers when the subject must look again: at the head's retry-after or the
    /// earliest deadline, whichever is first, never in the past; <see cref="Timeout.InfiniteTimeSpan"/> for never.
    /// </summary>
    public TimeSpan Passed(DateTimeOffset now, TimeSpan? headRetry)
    {
        HeadReadyAt = now + (headRetry ?? TimeSpan.Zero);
        var due = headRetry ?? Timeout.InfiniteTimeSpan;
        foreach (var waiter in _waiters)
        {
            var untilDeadline = waiter.Deadline - now;
            if (due == Timeout.InfiniteTimeSpan || untilDeadline < due)
            {
                due = untilDeadline;
            }
        }

        return due != Timeout.InfiniteTimeSpan && due < TimeSpan.Zero ? TimeSpan.Zero : due;
    }

    /// <summary>
    /// Answers every waiter not yet answered with <paramref name="answer"/> (the subject is going away: nothing was
    /// taken for them) and empties the queue; answers how many waiters it held, cancelled ones not yet swept out
    /// included (as <see cref="Count"/>).
    /// </summary>
    public int AnswerAll(Func<Waiter, SubjectDecision> answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        var count = _waiters.Count;
        foreach (var waiter in _waiters)
        {
            if (!waiter.IsCompleted)
            {
                waiter.TryComplete(answer(waiter));
            }
        }

        _waiters.Clear();
        return count;
    }
}
