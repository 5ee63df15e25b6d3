using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Quota.Abstractions;
using Quota.Algorithms.Planning;
using Quota.Grains.Subjects;

namespace Quota.Grains.Queues;

/// <summary>
/// One queue: its definition persisted, its items in memory (<see cref="QueueBook"/>). Hands an item out only when its
/// dispatch decision, asked through the decision grain like any other caller's, admits it: the permit is taken at
/// hand-out, never before.
/// </summary>
/// <remarks>
/// Reentrant so a lease that waits does not hold up enqueues, acks and other leases. Every turn brings the book up to
/// the quota clock first; an item is taken out of the ready set before its decision is awaited, so two interleaved
/// leases never hand out the same item. Items live in memory and, in the PostgreSQL mode, as one row each
/// (<see cref="IQueueItemStore"/>): an enqueue answers after its rows are written, every change of an item is written
/// as it happens, and an activation loads the rows, so a silo that dies loses no acknowledged enqueue and its
/// unacknowledged leases return when their visibility timeout passes.
/// </remarks>
[Reentrant]
[GrainType("queue")]
// Never collected for being idle: in the embedded default the items live only in this activation. An unknown name
// still goes at once (DeactivateOnIdle).
[CollectionAgeLimit(AlwaysActive = true)]
public sealed partial class QueueGrain(
    [PersistentState("queue", QuotaStorage.Name)] IPersistentState<QueueGrainState> state,
    IGrainFactory grains,
    QuotaTime clock,
    IQueueItemStore store,
    QuotaInstruments instruments,
    ILogger<QueueGrain> logger) : Grain, IQueueGrain
{
    // Decisions asked per lease beyond the items wanted: items whose key was denied are skipped without asking, so
    // this bounds only how many distinct keys one lease tries.
    private const int ExtraDecisions = 32;

    // Ready items one lease looks at: bounds the work of a lease over a queue whose head is all denied.
    private const int ScanLimit = 5_000;

    private readonly TimeProvider _time = clock.Provider;
    private readonly QueueBook _book = new();
    private GroupedDeletes? _acks;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private QueueDefinition? Definition => state.RecordExists ? state.State.Definition : null;

    private string Name => this.GetPrimaryKeyString();

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Definition is { } definition)
        {
            // A queue defined before the registry listed queues is listed from its first activation on; not awaited, so a
            // registry that cannot answer does not hold the activation up.
            _ = RegisterAsync();
            foreach (var (id, problems) in store.Durable ? _book.RestoreAll(await store.LoadAsync(Name, cancellationToken), definition, _time.GetUtcNow()) : [])
            {
                LogUnrestorable(logger, Name, id, problems);
            }
        }

        // The gauges (quota.queue.*) show what the queue last reported (a metrics reader must not touch the book off the
        // grain's scheduler); the first refresh is at once, so a queue QueueKeeper activates is on /metrics unasked.
        this.RegisterGrainTimer(static (grain, _) => grain.PublishGaugesAsync(), this, new GrainTimerCreationOptions(TimeSpan.Zero, GaugeInterval) { KeepAlive = false });
    }

    private async Task RegisterAsync()
    {
        try
        {
            await Registry.MarkQueueAsync(Name, defined: true);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogRegisterFailed(logger, e, Name);
        }
    }

    private IRegistryGrain Registry => grains.GetGrain<IRegistryGrain>(0);

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        instruments.QueueGone(Name);
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <summary>How often an active queue refreshes its gauges (and whenever its statistics are asked for).</summary>
    internal static readonly TimeSpan GaugeInterval = TimeSpan.FromSeconds(5);

    /// <inheritdoc />
    async Task<QueueDefinition> IQueueGrain.DefineAsync(QueueDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        state.State.Definition = definition;
        await state.WriteStateAsync();
        await Registry.MarkQueueAsync(Name, defined: true);
        Notify();
        return definition;
    }

    /// <inheritdoc />
    Task<QueueDefinition?> IQueueGrain.GetDefinitionAsync() => Task.FromResult(Known());

    /// <inheritdoc />
    async Task<bool> IQueueGrain.RemoveAsync()
    {
        if (Known() is null)
        {
            return false;
        }

        _book.Clear();
        await store.DeleteQueueAsync(Name);
        await state.ClearStateAsync();
        await Registry.MarkQueueAsync(Name, defined: false);
        instruments.QueueGone(Name);
        Notify();
        DeactivateOnIdle();
        return true;
    }

    /// <inheritdoc />
    async Task<EnqueueAnswer> IQueueGrain.EnqueueAsync(QueueItemInput[] items)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (Known() is not { } definition)
        {
            return new EnqueueAnswer { Outcome = QueueOutcome.UnknownQueue };
        }

        var now = _time.GetUtcNow();
        var problems = new List<FieldProblem>();
        var requests = new ValidatedAcquire[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            var path = items.Length == 1 ? string.Empty : $"items[{i}].";
            var before = problems.Count;
            QueueRules.ValidateItem(problems, path, items[i], definition);
            if (problems.Count == before)
            {
                var request = QueueRules.Render(definition.Dispatch, items[i].Attributes, items[i].Priority, out _)!;
                RequestRules.TryValidate(request, null, out requests[i], out _);
            }
        }

        if (problems.Count > 0)
        {
            return new EnqueueAnswer { Outcome = QueueOutcome.Invalid, Problems = [.. problems] };
        }

        var ids = new string[items.Length];
        var fresh = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < items.Length; i++)
        {
            ids[i] = items[i].Id ?? Guid.NewGuid().ToString("N");
            if (_book.Find(ids[i]) is null)
            {
                fresh.Add(ids[i]);
            }
        }

        if (_book.Count + fresh.Count > definition.MaxItems)
        {
            return new EnqueueAnswer
            {
                Outcome = QueueOutcome.Full,
                Problems = [new("items", $"the queue holds {_book.Count} of its {definition.MaxItems} items (maxItems); {fresh.Count} more do not fit. Drain or purge it, or raise maxItems.")],
            };
        }

        var added = new List<QueueItem>();
        for (var i = 0; i < items.Length; i++)
        {
            // A repeated id (in this call or before) keeps the first item: enqueueing is idempotent by id.
            if (_book.Find(ids[i]) is null)
            {
                added.Add(_book.Add(ids[i], items[i], requests[i], now));
            }
        }

        try
        {
            // Answered only once stored: an acknowledged enqueue survives the silo.
            await store.InsertAsync(Name, [.. added.Select(QueueBook.ToStored)]);
        }
        catch
        {
            foreach (var item in added)
            {
                _book.Forget(item);
            }

            throw;
        }

        if (added.Count > 0)
        {
            Notify();
        }

        return new EnqueueAnswer { Outcome = QueueOutcome.Done, Ids = ids, Created = added.Count };
    }

    /// <inheritdoc />
    async Task<LeaseAnswer> IQueueGrain.LeaseAsync(string worker, int max, long waitMs)
    {
        if (Known() is null)
        {
            return new LeaseAnswer { Outcome = QueueOutcome.UnknownQueue };
        }

        var until = _time.GetUtcNow() + TimeSpan.FromMilliseconds(Math.Clamp(waitMs, 0, QueueRules.MaxLeaseWaitMs));
        while (true)
        {
            var changed = _changed.Task;
            var (items, retryAfter) = await HandOutAsync(Math.Clamp(max, 1, QueueRules.MaxLease));
            var now = _time.GetUtcNow();
            if (items.Count > 0 || now >= until || Definition is null)
            {
                if (items.Count > 0)
                {
                    LogHandedOut(logger, this.GetPrimaryKeyString(), worker, items.Count);
                }

                var wake = Earliest(_book.NextChange(), retryAfter is { } r ? now + r : null);
                return new LeaseAnswer
                {
                    Outcome = Definition is null ? QueueOutcome.UnknownQueue : QueueOutcome.Done,
                    Items = [.. items],
                    RetryAfterMs = items.Count == 0 && wake is { } w ? Math.Max(0, (long)Math.Ceiling((w - now).TotalMilliseconds)) : 0,
                };
            }

            // Wait for something to change: an enqueue or a returned item (signalled), a delayed item or an expiry coming
            // due, or the denying limit's retry-after, whichever is first, and never past the lease's own wait.
            var next = Earliest(Earliest(_book.NextChange(), retryAfter is { } after ? now + after : null), until)!.Value;
            using var stop = new CancellationTokenSource();
            var delay = Task.Delay(next > now ? next - now : TimeSpan.Zero, _time, stop.Token);
            await Task.WhenAny(changed, delay);
            await stop.CancelAsync();
        }
    }

    /// <inheritdoc />
    async Task<QueueOutcome> IQueueGrain.AckAsync(string leaseId)
    {
        if (Known() is null)
        {
            return QueueOutcome.UnknownQueue;
        }

        if (_book.Leased(leaseId) is not { } item || !_book.Ack(leaseId, _time.GetUtcNow()))
        {
            return QueueOutcome.UnknownLease;
        }

        await (_acks ??= new GroupedDeletes(store, Name)).DeleteAsync(item.Id);
        return QueueOutcome.Done;
    }

    /// <inheritdoc />
    async Task<NackAnswer> IQueueGrain.NackAsync(NackRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (Known() is not { } definition)
        {
            return new NackAnswer { Outcome = QueueOutcome.UnknownQueue };
        }

        var now = _time.GetUtcNow();
        if (_book.Leased(request.LeaseId) is not { } item)
        {
            return new NackAnswer { Outcome = QueueOutcome.UnknownLease };
        }

        var dead = item.Attempts >= definition.MaxAttempts;
        var floor = TimeSpan.FromMilliseconds(Math.Clamp(request.RetryAfterMs ?? 0, 0, UpstreamFeedback.MaxRetryAfterMs));
        var delay = dead ? TimeSpan.Zero : Backoff.Delay(item.Attempts, definition.BackoffBase, definition.BackoffMax, Random.Shared.NextDouble(), floor);
        var error = request.Error is { Length: > QueueRules.MaxErrorLength } text ? text[..QueueRules.MaxErrorLength] : request.Error;
        var token = item.Token;
        _book.Fail(item, now, error, request.UpstreamStatus, dead, delay);
        await store.SaveAsync(Name, [QueueBook.ToStored(item)]);
        if (dead)
        {
            LogDeadLettered(logger, this.GetPrimaryKeyString(), item.Id, item.Attempts);
        }
        else
        {
            Notify();
        }

        if (token is not null && request.UpstreamStatus is { } status)
        {
            // The upstream's answer goes to the token's feedback as an outbound handler's would: a 429 or Retry-After
            // pauses the token for every caller, not only this queue.
            try
            {
                await grains.GetGrain<IUpstreamTokenGrain>(TokenKeys.Key(token.Upstream, token.Id))
                    .ReportAsync(new UpstreamFeedback { Status = status, RetryAfterMs = request.RetryAfterMs });
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFeedbackFailed(logger, e, this.GetPrimaryKeyString(), token.Upstream, token.Id);
            }
        }

        return new NackAnswer { Outcome = QueueOutcome.Done, Dead = dead, RetryAfterMs = (long)Math.Ceiling(delay.TotalMilliseconds) };
    }

    /// <inheritdoc />
    async Task<QueueStats?> IQueueGrain.GetStatsAsync()
    {
        if (Known() is not { } definition)
        {
            return null;
        }

        var stats = QueueStatistics.Of(_book, definition, await AllowedPerMinuteAsync(definition), _time.GetUtcNow());
        if (Definition is not null)
        {
            instruments.QueueObserved(Name, stats);
        }

        return stats;
    }

    private async Task PublishGaugesAsync()
    {
        if (Definition is not null)
        {
            try
            {
                await ((IQueueGrain)this).GetStatsAsync();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogGaugesFailed(logger, e, Name);
            }
        }
    }

    /// <inheritdoc />
    Task<DeadItem[]?> IQueueGrain.ListDeadAsync(int limit) =>
        Task.FromResult<DeadItem[]?>(Known() is null ? null : [.. _book.Dead.Take(Math.Max(0, limit)).Select(i => i.ToDead())]);

    /// <inheritdoc />
    async Task<int> IQueueGrain.RequeueAsync(string[]? ids)
    {
        if (Known() is null)
        {
            return -1;
        }

        var now = _time.GetUtcNow();
        var requeued = (ids ?? [.. _book.Dead.Select(i => i.Id)]).Where(id => _book.Requeue(id, now)).ToList();
        await store.SaveAsync(Name, [.. requeued.Select(id => QueueBook.ToStored(_book.Find(id)!))]);
        if (requeued.Count > 0)
        {
            Notify();
        }

        return requeued.Count;
    }

    /// <inheritdoc />
    async Task<int> IQueueGrain.PurgeAsync(string[]? ids)
    {
        if (Known() is null)
        {
            return -1;
        }

        var purged = (ids ?? [.. _book.Dead.Select(i => i.Id)]).Where(_book.Purge).ToList();
        await store.DeleteAsync(Name, purged);
        return purged.Count;
    }

    /// <summary>
    /// Hands out up to <paramref name="max"/> ready items, each after its decision admits it. Answers them and, when a
    /// decision denied, the shortest retry-after among the denials.
    /// </summary>
    private async Task<(List<LeasedItem> Items, TimeSpan? RetryAfter)> HandOutAsync(int max)
    {
        var definition = Definition!;
        var changed = _book.Advance(_time.GetUtcNow(), definition.MaxAttempts);
        var handed = new List<LeasedItem>();
        var denied = new HashSet<string>(StringComparer.Ordinal);
        TimeSpan? retryAfter = null;
        var decisions = 0;
        foreach (var item in _book.ReadyInOrder(ScanLimit))
        {
            if (handed.Count >= max || decisions >= max + ExtraDecisions)
            {
                break;
            }

            // A denied key denies every item with it in this round: they are not asked, so a lower priority never
            // overtakes a higher one on the same limits.
            if (denied.Contains(item.DispatchKey) || !_book.BeginDispatch(item))
            {
                continue;
            }

            decisions++;
            AcquireResult result;
            try
            {
                result = await grains.GetGrain<IDecisionGrain>(Random.Shared.Next(IDecisionGrain.Keys)).AcquireAsync(item.Request);
            }
            catch
            {
                _book.Return(item);
                throw;
            }

            var now = _time.GetUtcNow();
            if (Definition is null)
            {
                // Removed while the decision was asked: nothing to hand out.
                break;
            }

            switch (result.Outcome)
            {
                case DecisionOutcome.Allowed:
                    _book.Lease(item, now, result.Token is { } t ? t with { Secret = null } : null, definition.VisibilityTimeout);
                    handed.Add(item.ToLeased(now));
                    changed.Add(item);
                    break;
                case DecisionOutcome.Denied or DecisionOutcome.Overloaded:
                    _book.Return(item);
                    denied.Add(item.DispatchKey);
                    if (result.RetryAfterMs > 0)
                    {
                        var after = TimeSpan.FromMilliseconds(result.RetryAfterMs);
                        retryAfter = retryAfter is { } shortest && shortest < after ? shortest : after;
                    }

                    break;
                default:
                    // Unknown subject, invalid, or a cost above any limit: waiting never admits it.
                    _book.KillDispatching(item, now, $"its dispatch can never be admitted ({result.Outcome}: {result.Problem})");
                    changed.Add(item);
                    LogDeadLettered(logger, this.GetPrimaryKeyString(), item.Id, item.Attempts);
                    break;
            }
        }

        try
        {
            // The handed-out items go to their workers whatever happens here: a lease not written is re-delivered after a
            // crash with its attempt uncounted, which at-least-once delivery allows.
            await store.SaveAsync(Name, [.. changed.Select(QueueBook.ToStored)]);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogSaveFailed(logger, e, Name, changed.Count);
        }

        return (handed, retryAfter);
    }

    /// <summary>
    /// The dispatch's steady rate in items per minute (<see cref="QueueRules.SlowestRatePerMinute"/>) from a peek (cost 0,
    /// nothing taken) of the head item's decision. Null when no windowed policy applies or the queue is empty and the
    /// dispatch names attributes.
    /// </summary>
    private async Task<double?> AllowedPerMinuteAsync(QueueDefinition definition)
    {
        var head = _book.Ready.FirstOrDefault()?.Request.Request
            ?? QueueRules.Render(definition.Dispatch, null, Priority.Normal, out _);
        if (head is null || !RequestRules.TryValidate(head with { Cost = 0 }, null, out var peek, out _))
        {
            return null;
        }

        var result = await grains.GetGrain<IDecisionGrain>(Random.Shared.Next(IDecisionGrain.Keys)).AcquireAsync(peek);
        return QueueRules.SlowestRatePerMinute(result.Policies, head.Cost);
    }

    private static DateTimeOffset? Earliest(DateTimeOffset? a, DateTimeOffset? b) =>
        a is null ? b : b is null || a < b ? a : b;

    /// <summary>The definition, or null, in which case the activation goes away when idle: an unknown name keeps nothing alive.</summary>
    private QueueDefinition? Known()
    {
        if (Definition is not { } definition)
        {
            DeactivateOnIdle();
            return null;
        }

        return definition;
    }

    private void Notify()
    {
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }
}
