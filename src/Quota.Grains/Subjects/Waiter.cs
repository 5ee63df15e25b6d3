using Quota.Abstractions;

namespace Quota.Grains.Subjects;

/// <summary>A caller waiting in a subject's queue for capacity, until granted, its deadline, or cancellation.</summary>
internal sealed class Waiter(SubjectAcquire request, DateTimeOffset deadline, long sequence)
{
    private readonly TaskCompletionSource<SubjectDecision> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Priority first (critical before low), then arrival.</summary>
    public static IComparer<Waiter> Order { get; } = Comparer<Waiter>.Create(static (a, b) =>
    {
        var byPriority = b.Request.Priority.CompareTo(a.Request.Priority);
        return byPriority != 0 ? byPriority : a.Sequence.CompareTo(b.Sequence);
    });

    public SubjectAcquire Request { get; } = request;

    public DateTimeOffset Deadline { get; } = deadline;

    public long Sequence { get; } = sequence;

    public Task<SubjectDecision> Task => _completion.Task;

    public bool IsCompleted => _completion.Task.IsCompleted;

    public bool TryComplete(SubjectDecision decision) => _completion.TrySetResult(decision);

    public bool TryCancel() => _completion.TrySetCanceled();
}
