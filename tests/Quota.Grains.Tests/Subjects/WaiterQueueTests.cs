using Quota.Abstractions;
using Quota.Grains.Subjects;

namespace Quota.Grains.Tests.Subjects;

/// <summary>The waiter queue: priority, then arrival; deadlines; when to look again.</summary>
public sealed class WaiterQueueTests
{
    private static readonly DateTimeOffset Noon = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static SubjectAcquire At(Priority priority) => new() { Priority = priority, MaxWaitMs = 1000 };

    [Fact]
    public void Waiters_are_served_by_priority_then_by_arrival()
    {
        var queue = new WaiterQueue();
        var lowFirst = queue.Enqueue(At(Priority.Low), Noon.AddSeconds(1));
        var normalFirst = queue.Enqueue(At(Priority.Normal), Noon.AddSeconds(1));
        var critical = queue.Enqueue(At(Priority.Critical), Noon.AddSeconds(1));
        var normalSecond = queue.Enqueue(At(Priority.Normal), Noon.AddSeconds(1));

        Assert.Equal([critical, normalFirst, normalSecond, lowFirst], queue.InOrder());
    }

    [Fact]
    public void Only_unanswered_waiters_of_the_same_or_a_higher_priority_count_as_ahead()
    {
        var queue = new WaiterQueue();
        Assert.False(queue.HasWaiterAtOrAbove(Priority.Low));
        var normal = queue.Enqueue(At(Priority.Normal), Noon.AddSeconds(1));

        Assert.True(queue.HasWaiterAtOrAbove(Priority.Low));
        Assert.True(queue.HasWaiterAtOrAbove(Priority.Normal));
        Assert.False(queue.HasWaiterAtOrAbove(Priority.High));

        Assert.True(normal.TryCancel());
        Assert.False(queue.HasWaiterAtOrAbove(Priority.Low));
        Assert.Equal(1, queue.Count);
        Assert.Equal(0, queue.Waiting());
    }

    [Fact]
    public void The_next_look_is_the_heads_retry_or_the_earliest_deadline_whichever_is_first()
    {
        var queue = new WaiterQueue();
        queue.Enqueue(At(Priority.Normal), Noon.AddMilliseconds(300));
        queue.Enqueue(At(Priority.Low), Noon.AddMilliseconds(200));

        Assert.Equal(TimeSpan.FromMilliseconds(100), queue.Passed(Noon, TimeSpan.FromMilliseconds(100)));
        Assert.Equal(Noon.AddMilliseconds(100), queue.HeadReadyAt);
        Assert.Equal(TimeSpan.FromMilliseconds(200), queue.Passed(Noon, TimeSpan.FromSeconds(5)));
        Assert.Equal(TimeSpan.FromMilliseconds(200), queue.Passed(Noon, null));
        Assert.Equal(Noon, queue.HeadReadyAt);
    }

    [Fact]
    public void A_deadline_already_past_is_looked_at_at_once_and_an_empty_queue_never()
    {
        var queue = new WaiterQueue();
        Assert.Equal(Timeout.InfiniteTimeSpan, queue.Passed(Noon, null));

        var late = queue.Enqueue(At(Priority.Normal), Noon.AddMilliseconds(-5));
        Assert.Equal(TimeSpan.Zero, queue.Passed(Noon, null));

        queue.Remove(late);
        Assert.Equal(0, queue.Count);
        Assert.Equal(Timeout.InfiniteTimeSpan, queue.Passed(Noon, null));
    }

    [Fact]
    public async Task Going_away_answers_every_waiter_still_waiting()
    {
        var queue = new WaiterQueue();
        var first = queue.Enqueue(At(Priority.Normal), Noon.AddSeconds(1));
        var second = queue.Enqueue(At(Priority.High), Noon.AddSeconds(1));
        var cancelled = queue.Enqueue(At(Priority.Low), Noon.AddSeconds(1));
        Assert.True(cancelled.TryCancel());

        Assert.Equal(3, queue.AnswerAll(w => new SubjectDecision { Outcome = DecisionOutcome.Overloaded, RetryAfter = TimeSpan.FromSeconds(w.Sequence + 1) }));

        Assert.Equal(0, queue.Count);
        Assert.Equal(TimeSpan.FromSeconds(1), (await first.Task).RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(2), (await second.Task).RetryAfter);
        await Assert.ThrowsAsync<TaskCanceledException>(() => cancelled.Task);
    }
}
