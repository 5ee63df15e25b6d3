using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Grains.Configuration;

namespace Quota.Grains.Subjects;

/// <summary>
/// This silo's count of active subject grains that anyone can name (users, API keys, resources) against
/// <see cref="LimitsOptions.MaxActiveSubjects"/>. An activation takes a place when it starts and gives it back when it
/// is deactivated; one that finds no place is shed (see <see cref="SubjectAdmission.Shed"/>).
/// </summary>
/// <remarks>
/// Tenants and upstream tokens are not counted: they exist only when configured, so their number is the operator's.
/// The count is of activations, not of memory: an activation's size is what the ceiling is sized by
/// (docs/operations.md, "What a request can cost").
/// </remarks>
public sealed class ActiveSubjects(IOptions<LimitsOptions> limits)
{
    private readonly Lock _gate = new();
    private List<(int AtMost, TaskCompletionSource Reached)>? _watchers;
    private int _count;

    /// <summary>The most this silo admits (<see cref="LimitsOptions.MaxActiveSubjects"/>).</summary>
    public int Ceiling { get; } = limits.Value.MaxActiveSubjects;

    /// <summary>Counted activations now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Whether subjects of <paramref name="kind"/> are counted (users, keys and resources).</summary>
    public static bool Counts(SubjectKind kind) => kind is SubjectKind.User or SubjectKind.ApiKey or SubjectKind.Resource;

    /// <summary>Takes a place if one is free; false at the ceiling (nothing is taken).</summary>
    public bool TryEnter()
    {
        var count = Volatile.Read(ref _count);
        while (count < Ceiling)
        {
            var seen = Interlocked.CompareExchange(ref _count, count + 1, count);
            if (seen == count)
            {
                return true;
            }

            count = seen;
        }

        return false;
    }

    /// <summary>
    /// Takes a place even at the ceiling: an administrator's call (registering a key, setting policies) is never shed,
    /// and the place is given back like any other.
    /// </summary>
    public void EnterOverCeiling() => Interlocked.Increment(ref _count);

    /// <summary>Gives a place back.</summary>
    public void Leave()
    {
        Interlocked.Decrement(ref _count);
        if (Volatile.Read(ref _watchers) is null)
        {
            return;
        }

        lock (_gate)
        {
            var count = Count;
            _watchers?.RemoveAll(w => count <= w.AtMost && w.Reached.TrySetResult());
        }
    }

    /// <summary>
    /// Completes once the count is at most <paramref name="atMost"/>: a deactivation has finished its
    /// <c>OnDeactivateAsync</c> when it gives its place back, which a test awaits instead of sleeping.
    /// </summary>
    internal Task WhenAtMostAsync(int atMost)
    {
        lock (_gate)
        {
            if (Count <= atMost)
            {
                return Task.CompletedTask;
            }

            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            (_watchers ??= []).Add((atMost, reached));

            // Checked again under the lock: a Leave between the first check and the Add has already looked.
            if (Count <= atMost)
            {
                reached.TrySetResult();
            }

            return reached.Task;
        }
    }
}

/// <summary>Whether an activation takes a place among <see cref="ActiveSubjects"/>.</summary>
internal enum SubjectAdmission : byte
{
    /// <summary>Its kind is not counted (tenants, tokens).</summary>
    Uncounted = 0,

    /// <summary>It took a place, given back at deactivation.</summary>
    Admitted = 1,

    /// <summary>
    /// The silo was at its ceiling: nothing was loaded, every decision and usage read is answered
    /// <see cref="DecisionOutcome.Overloaded"/>, and the activation deactivates after each call.
    /// </summary>
    Shed = 2,
}
