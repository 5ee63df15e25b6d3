using Quota.Abstractions;

namespace Quota.Client;

/// <summary>
/// Sends a client's single-subject decisions that do not wait: each on its own while few are in flight, and once more
/// than <see cref="Threshold"/> are, together, one message per batch to a coordinator grain, which asks each subject
/// as a direct call would (<see cref="IDecisionGrain.AcquireEachAsync"/>).
/// </summary>
/// <remarks>
/// <para>
/// Why: on the wire every Orleans call costs the client and the gateway silo a message each way (serializing,
/// a callback, socket writes and reads, scheduling), several times what a subject takes to decide. Under load a batch
/// pays that once for many decisions; inside the silo the coordinator's calls to the subjects are local messages. With
/// few decisions in flight a batch would only add the coordinator's hop, so those go straight to their subjects.
/// </para>
/// <para>
/// Batches form by themselves, with no timer and no added delay: the first decision queued schedules a send on the
/// thread pool, and every decision queued before that send runs goes with it. Decisions are exactly what they would be
/// one by one: each subject decides its own calls, in the order they reach it.
/// </para>
/// <para>
/// Differences from a call on its own: a batched decision is answered whatever its cancellation token says once it is
/// queued (a token cancelled before is refused at once); it does not carry the caller's execution context (Orleans
/// <c>RequestContext</c> values, the current <c>Activity</c>); and its answer comes with the whole batch's, so a
/// subject slow to activate delays the others of its batch.
/// </para>
/// </remarks>
internal sealed class DecisionBatcher
{
    /// <summary>The most calls one batch carries.</summary>
    internal const int MaxBatch = 256;

    private readonly IGrainFactory _grains;
    private readonly Func<IDecisionGrain> _coordinator;
    private readonly Lock _lock = new();
    private List<Queued> _queue = [];
    private bool _sendScheduled;
    private int _inFlight;
    private long _batches;
    private long _batched;

    private readonly Action<DecisionBatcher> _scheduleSend;

    /// <summary>Creates a batcher that sends through <paramref name="coordinator"/> (a coordinator per batch).</summary>
    /// <param name="grains">Where the subjects are asked directly.</param>
    /// <param name="coordinator">A coordinator for each batch.</param>
    /// <param name="threshold">Decisions in flight up to which each is sent on its own.</param>
    /// <param name="scheduleSend">
    /// Runs <see cref="SendQueued"/> later; the thread pool by default (tests take it over to decide when).
    /// </param>
    public DecisionBatcher(IGrainFactory grains, Func<IDecisionGrain> coordinator, int threshold, Action<DecisionBatcher>? scheduleSend = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threshold);
        _grains = grains;
        _coordinator = coordinator;
        Threshold = threshold;
        _scheduleSend = scheduleSend ?? (static batcher => ThreadPool.UnsafeQueueUserWorkItem(static b => b.SendQueued(), batcher, preferLocal: false));
    }

    /// <summary>Decisions in flight up to which each is sent on its own.</summary>
    public int Threshold { get; }

    /// <summary>Batches sent so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Decisions sent in batches so far.</summary>
    public long Batched => Interlocked.Read(ref _batched);

    /// <summary>Decisions sent and not yet answered.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Asks the subject, in a batch when more than <see cref="Threshold"/> decisions are in flight.</summary>
    public Task<SubjectDecision> AcquireAsync(SubjectKind kind, string id, SubjectAcquire request, CancellationToken cancellationToken)
    {
        if (request.MaxWaitMs == 0 && cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<SubjectDecision>(cancellationToken);
        }

        if (request.MaxWaitMs > 0 || Interlocked.Increment(ref _inFlight) <= Threshold)
        {
            return request.MaxWaitMs > 0
                ? DecisionResults.Grain(_grains, kind, id).AcquireAsync(request, cancellationToken)
                : AloneAsync(kind, id, request, cancellationToken);
        }

        var queued = new Queued(new SubjectCall(kind, id, request));
        bool schedule;
        lock (_lock)
        {
            _queue.Add(queued);
            schedule = !_sendScheduled;
            _sendScheduled = true;
        }

        if (schedule)
        {
            _scheduleSend(this);
        }

        // Once queued the decision is made whatever the token says (it does not wait, so it is answered at once): the
        // caller hears it, so a grant it would otherwise not know of (a reservation, a concurrency lease) is not lost.
        return queued.Answer.Task;
    }

    private async Task<SubjectDecision> AloneAsync(SubjectKind kind, string id, SubjectAcquire request, CancellationToken cancellationToken)
    {
        try
        {
            return await DecisionResults.Grain(_grains, kind, id).AcquireAsync(request, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>Sends everything queued, in batches of at most <see cref="MaxBatch"/>.</summary>
    internal void SendQueued()
    {
        List<Queued> queued;
        lock (_lock)
        {
            queued = _queue;
            _queue = [];
            _sendScheduled = false;
        }

        for (var start = 0; start < queued.Count; start += MaxBatch)
        {
            _ = SendAsync(queued, start, Math.Min(MaxBatch, queued.Count - start));
        }
    }

    private async Task SendAsync(List<Queued> queued, int start, int count)
    {
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _batched, count);
        var calls = new SubjectCall[count];
        for (var i = 0; i < count; i++)
        {
            calls[i] = queued[start + i].Call;
        }

        SubjectCallAnswer[]? answers = null;
        Exception? lost = null;
        try
        {
            answers = await _coordinator().AcquireEachAsync(calls);
            if (answers.Length != count)
            {
                lost = new InvalidOperationException($"The coordinator answered {answers.Length} of a batch of {count} decisions.");
            }
        }
        catch (Exception e)
        {
            lost = e;
        }

        Interlocked.Add(ref _inFlight, -count);
        for (var i = 0; i < count; i++)
        {
            var answer = lost is null ? answers![i] : null;
            if (answer?.Decision is { } decision)
            {
                queued[start + i].Answer.TrySetResult(decision);
            }
            else
            {
                queued[start + i].Answer.TrySetException(lost ?? answer?.Failure ?? new InvalidOperationException("The coordinator answered neither a decision nor a failure."));
            }
        }
    }

    // Continuations run on the thread pool, not inside the loop that hands out a batch's answers: one caller's slow
    // continuation must not hold up the others'.
    private sealed class Queued(SubjectCall call)
    {
        public SubjectCall Call { get; } = call;

        public TaskCompletionSource<SubjectDecision> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
