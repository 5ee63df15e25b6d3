using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Configuration;
using Quota.Grains.Storage;

namespace Quota.Grains.Subjects;

/// <summary>
/// A subject holding limits: its policies' windows live in this activation's memory, and this grain is the only
/// clock for them (one <see cref="QuotaTime"/> reading per decision).
/// </summary>
/// <remarks>
/// <para><b>All or nothing within the subject.</b> A request takes its cost on every policy or on none: grants made
/// before a denial are refunded at the same instant, which restores the state exactly.</para>
/// <para><b>Waiting.</b> The grain is reentrant: a waiting caller awaits a completion source while other callers
/// proceed. Waiters are served strictly by priority, then arrival; a timer from the <see cref="QuotaTime"/> provider
/// wakes the grain exactly when the head waiter's retry-after or the earliest deadline comes, and refunds,
/// settlements and releases wake it at once. Nothing polls.</para>
/// <para><b>What idle collection forgets.</b> An idle activation is collected after the silo's collection age
/// (Orleans default: 15 minutes without a call) and its windows are forgotten. For every window no longer than
/// that age the windows are already back to full capacity by then, so nothing a user could observe is lost.
/// Longer windows (daily and monthly quotas, hour-long windows) keep the activation alive with
/// <c>DelayDeactivation</c> until they are back to full.</para>
/// <para><b>What survives a restart.</b> With checkpoints on (the PostgreSQL mode), calendar quotas and fixed windows
/// of an hour or more are checkpointed write-behind with claims (see <see cref="DurableCounters"/>: a write when a
/// counter nears its written ceiling, not on a timer) and restored on activation; a clean deactivation writes the
/// exact counts. Sliding windows, token buckets, concurrency leases and
/// waiters live in memory only: a crash forgets them (they refill within their window).</para>
/// </remarks>
[Reentrant]
public abstract partial class SubjectGrain : Grain, ISubjectGrain, ISubjectClusterGrain
{
    private static readonly TimeSpan KeepAliveThreshold = TimeSpan.FromMinutes(10);

    // A request held at a durable counter's ceiling waits for at most this many checkpoints, each at most this long.
    private const int MaxHolds = 10;
    private static readonly TimeSpan HoldTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    // A head waiter held at a ceiling is served when its checkpoint lands; this wake-up is only a fallback.
    private static readonly TimeSpan CeilingRecheck = TimeSpan.FromMilliseconds(100);

    // The stored configuration and counter checkpoint, read and written through the grain storage directly rather than
    // as IPersistentState: Orleans' state holders (with their lifecycle and migration participants) cost about half a
    // kilobyte per activation, present even for the many subjects that store nothing. Each is made only when something
    // is stored or to be written.
    private GrainState<SubjectConfigState>? _configState;
    private GrainState<UsageCheckpointState>? _checkpointState;
    // Every silo service is reached through this one field (not a field each): every field is paid per activation.
    private readonly SubjectServices _services;
    private DurableCounters? _durableOrNull;
    private readonly ILogger _logger;
    // Most subjects never hold a lease nor queue a waiter: these are made when first needed (an idle grain's memory
    // is what a silo's capacity in subjects comes down to).
    private Dictionary<string, Held>? _heldOrNull;
    private SortedSet<Waiter>? _waitersOrNull;
    private List<Limiter> _limiters = [];
    private DateTimeOffset _nextHeldSweep = DateTimeOffset.MaxValue;
    private long _nextWaiterSequence;

    // When the head waiter can be served, as of the last pass over the queue.
    private DateTimeOffset _headReadyAt;
    private ITimer? _wakeTimer;
    private ISubjectClusterGrain? _self;
    private bool _known;
    private SubjectAdmission _admission;
    private string _label = string.Empty;
    private string _historyName = string.Empty;

    // Checkpoints: at most one write in flight; another requested meanwhile follows it.
    private bool _checkpointDirty;
    private bool _checkpointAgain;
    private long _permitsWhileWriting;
    private bool _checkpointFailing;
    private bool _deactivating;

    // Whether any policy's counter is checkpointed; set with the limiters, read on every grant.
    private bool _hasDurable;

    // Completed and cleared each time a checkpoint write finishes (successfully or not); made by whoever waits for one.
    private TaskCompletionSource? _writeFinished;
    private TimeSpan _retryDelay;
    private Task? _checkpointing;

    // Set from the start of a checkpoint run to its end, also while the run is still in its first synchronous part
    // (a storage that completes at once runs it whole there, waiters served and counters changed included).
    private bool _checkpointRunning;
    private ITimer? _checkpointTimer;

    // Set while this activation, holding nothing, waits out LetGoAfter before it goes (see LetGoIfUntouched).
    private IGrainTimer? _letGoTimer;

    /// <summary>Creates the subject; state and services come from the derived grain's constructor.</summary>
    private protected SubjectGrain(SubjectServices services, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(services);
        _services = services;
        _logger = logger;
    }

    /// <summary>Which kind of subject this is.</summary>
    private protected abstract SubjectKind Kind { get; }

    /// <summary>The stored state names: the rows' identities in the grain storage, never to be renamed.</summary>
    private const string ConfigStateName = "config";
    private const string CheckpointStateName = "usage";

    /// <summary>The persisted configuration, to change and then write with <see cref="SaveAndReloadAsync"/> (made empty when nothing is stored).</summary>
    private protected SubjectConfigState Config => ConfigHolder.State ??= new();

    /// <summary>The persisted configuration for reading: null when nothing is stored (nothing is made for it).</summary>
    private protected SubjectConfigState? StoredConfig => _configState?.State;

    private GrainState<SubjectConfigState> ConfigHolder => _configState ??= new(new SubjectConfigState());

    /// <summary>The grain's id (user id, key id, resource name).</summary>
    private protected string Id => this.GetPrimaryKeyString();

    /// <summary>Whether this subject exists: users always; keys when registered; resources when configured.</summary>
    private protected virtual bool IsKnown(bool hasPolicies) => true;

    /// <summary>The user an answer names as owner (API keys only).</summary>
    private protected virtual string? Owner => null;

    /// <summary>
    /// Whether the subject's policies come from <see cref="CurrentDefinitions"/> (tenants and tokens, configured through
    /// tenancy) rather than its own stored policies or the configured defaults.
    /// </summary>
    private protected virtual bool OwnsDefinitions => false;

    /// <summary>The policies in force when <see cref="OwnsDefinitions"/>; null when the subject is not configured.</summary>
    private protected virtual IReadOnlyList<PolicyDefinition>? CurrentDefinitions() => null;

    /// <summary>
    /// A denial that comes before the policies (a token's open circuit): its cause and when to retry; null to let the
    /// policies decide. Called once per attempt, waiters included.
    /// </summary>
    private protected virtual (DenialCause Cause, TimeSpan RetryAfter)? Gate(SubjectAcquire request, DateTimeOffset now) => null;

    /// <summary>Adds to an allowed answer (a token's secret when asked for); the default answers it unchanged.</summary>
    private protected virtual SubjectDecision Granted(SubjectAcquire request, SubjectDecision decision) => decision;

    /// <summary>Notes a request as it arrives, before any decision (a tenant measures its demand).</summary>
    private protected virtual void Arrived(SubjectAcquire request)
    {
    }

    /// <summary>The quota clock.</summary>
    private protected TimeProvider Time => _services.Time;

    /// <summary>Every policy's state now.</summary>
    private protected PolicyReading[] CurrentReadings() => _known ? Readings(_services.Time.GetUtcNow()) : [];

    /// <summary>Rebuilds the limiters from the configuration now, keeping usage by policy name, and serves waiters.</summary>
    private protected void Reconfigure() => Reload(_services.Time.GetUtcNow());

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _label = SubjectNames.Label(Kind, Id);
        _historyName = Kind == SubjectKind.ApiKey ? $"{SubjectNames.Prefix(Kind)}:{Id}" : _label;
        if (ActiveSubjects.Counts(Kind))
        {
            // Past the silo's ceiling nothing is read or kept: every call is answered Overloaded and the activation goes.
            _admission = _services.Active.TryEnter() ? SubjectAdmission.Admitted : SubjectAdmission.Shed;
            if (_admission == SubjectAdmission.Shed)
            {
                return;
            }
        }

        await LoadAsync();
        _services.Instruments.SubjectActive(Kind, +1);
    }

    /// <summary>Reads the stored configuration and checkpoint and builds the windows.</summary>
    private async Task LoadAsync()
    {
        _configState = await ReadStoredAsync<SubjectConfigState>(ConfigStateName);

        // Checkpoints are read only where they are kept (the PostgreSQL mode): elsewhere there are none.
        if (_services.Durability.Checkpoints)
        {
            _checkpointState = await ReadStoredAsync<UsageCheckpointState>(CheckpointStateName);
        }

        var now = _services.Time.GetUtcNow();
        Reload(now);
        if (_checkpointState is { RecordExists: true, State: { } checkpoint })
        {
            var restored = Durable.Restore(checkpoint, _limiters, now);
            if (restored > 0)
            {
                LogRestored(_logger, _label, restored);
            }
        }
    }

    /// <summary>
    /// For an administrator's call (policies, key registration): a shed activation loads after all, taking a place
    /// over the ceiling, so configuration is never refused for capacity. Decisions meanwhile are still shed.
    /// </summary>
    private protected async Task LoadIfShedAsync()
    {
        if (_admission != SubjectAdmission.Shed)
        {
            return;
        }

        await LoadAsync();
        if (_admission == SubjectAdmission.Shed)
        {
            _services.Active.EnterOverCeiling();
            _services.Instruments.SubjectActive(Kind, +1);
            _admission = SubjectAdmission.Admitted;
        }
    }

    /// <summary>
    /// Lets this activation go when it holds nothing a fresh one would not: shed, unknown, or (users, keys, resources)
    /// every window full with no lease, reservation, waiter, stored configuration or checkpoint. A peek, a usage read or a
    /// refused request then leaves no activation behind; a later call activates the subject afresh and answers exactly as
    /// this one would have. Not at once but after <see cref="LetGoAfter"/> without a call that changed that: deactivating
    /// after each call sent the calls queued behind it on to the next activation, and Orleans refuses a message it has
    /// forwarded twice, so 200 concurrent peeks of one new user answered 500 to almost half of them.
    /// </summary>
    private protected void LetGoIfUntouched()
    {
        if (_letGoTimer is null && IsUntouched())
        {
            _letGoTimer = this.RegisterGrainTimer(LetGoNow, new GrainTimerCreationOptions(LetGoAfter, Timeout.InfiniteTimeSpan) { Interleave = false, KeepAlive = false });
        }
    }

    /// <summary>How long an activation that holds nothing stays for the calls that follow it: half a second.</summary>
    internal static readonly TimeSpan LetGoAfter = TimeSpan.FromMilliseconds(500);

    private Task LetGoNow()
    {
        _letGoTimer?.Dispose();
        _letGoTimer = null;

        // Asked again: a call since the timer was set may have taken a permit or stored configuration.
        if (IsUntouched())
        {
            DeactivateOnIdle();
        }

        return Task.CompletedTask;
    }

    private bool IsUntouched()
    {
        if (_admission == SubjectAdmission.Shed)
        {
            return true;
        }

        if (_heldOrNull is { Count: > 0 } || _waitersOrNull is { Count: > 0 } || _checkpointRunning || _checkpointState is not null)
        {
            return false;
        }

        return !_known || (_admission == SubjectAdmission.Admitted
            && StoredConfig is not ({ Policies: not null } or { Owner: not null })
            && SubjectFootprint.AllFull(_limiters, _services.Time.GetUtcNow()));
    }

    /// <summary>The answer of a shed activation: nothing decided or consumed; retry after the configured delay.</summary>
    private SubjectDecision Shed(Priority priority)
    {
        _services.Instruments.Shed("active_subjects", priority);
        _services.Instruments.Decided(Kind, DecisionOutcome.Overloaded, null, TimeSpan.Zero);
        LetGoIfUntouched();
        return new SubjectDecision { Outcome = DecisionOutcome.Overloaded, RetryAfter = _services.Limits.ShedRetryAfter };
    }

    /// <summary>
    /// Reads one of the subject's stored states; null when nothing is stored and there is no version to write over
    /// (then a first write creates the row, as it would through <c>IPersistentState</c>).
    /// </summary>
    private async Task<GrainState<T>?> ReadStoredAsync<T>(string name)
        where T : class, new()
    {
        var stored = new GrainState<T>(new T());
        await _services.Storage.ReadStateAsync(name, this.GetGrainId(), stored);
        return stored.RecordExists || stored.ETag is not null ? stored : null;
    }

    /// <inheritdoc />
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_admission == SubjectAdmission.Shed)
        {
            return;
        }

        _services.Instruments.SubjectActive(Kind, -1);
        _deactivating = true;
        _checkpointTimer?.Dispose();
        _checkpointTimer = null;
        if (_checkpointing is { } inFlight)
        {
            await inFlight;
        }

        if (_services.Durability.Checkpoints && (_hasDurable || _durableOrNull is not null)
            && (_checkpointDirty || Durable.DiffersFromWritten(Durable.Next(_limiters, _services.Time.GetUtcNow(), exact: true))))
        {
            // A clean stop: write the exact counts, so the next activation resumes without the unused claims.
            if (!await WriteCheckpointAsync(exact: true))
            {
                LogCountsAtRisk(_logger, _label);
            }
        }

        // Gone from this silo: its writes are no longer pending here.
        _services.Health.CheckpointWritten(this);
        _wakeTimer?.Dispose();
        _wakeTimer = null;
        if (_waitersOrNull is { } waiters)
        {
            foreach (var waiter in waiters)
            {
                waiter.TryCancel();
            }

            _services.Instruments.Waiting(-waiters.Count);
            waiters.Clear();
        }

        if (_admission == SubjectAdmission.Admitted)
        {
            _services.Active.Leave();
        }
    }

    /// <inheritdoc />
    public Task<SubjectDecision> AcquireAsync(SubjectAcquire request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_admission == SubjectAdmission.Shed)
        {
            // Shed callers are never queued: a wait would hold the activation the ceiling is there to refuse.
            return Task.FromResult(Shed(request.Priority));
        }

        var deciding = DecideAsync(request, cancellationToken);
        if (!deciding.IsCompletedSuccessfully)
        {
            return LetGoAfterAsync(deciding, request.Cost);
        }

        LetGoUnlessGranted(deciding.Result, request.Cost);
        return deciding;
    }

    private async Task<SubjectDecision> LetGoAfterAsync(Task<SubjectDecision> deciding, long cost)
    {
        var decision = await deciding;
        LetGoUnlessGranted(decision, cost);
        return decision;
    }

    // A permit just taken is held until its window refills: the hot path skips the check.
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

        Arrived(request);
        var now = _services.Time.GetUtcNow();
        SweepHeld(now);

        // Checked again with every fresh reading of the clock, in the same step as the decision below.
        var holds = 0;
        while (request.Cost > 0 && MustHoldForCeiling(request.Cost, now))
        {
            if (++holds > MaxHolds)
            {
                var refused = CeilingDenial(now);
                Decided(refused, request.Cost, now, TimeSpan.Zero);
                return refused;
            }

            if (!await HoldForCeilingAsync(request.Cost))
            {
                break;
            }

            now = _services.Time.GetUtcNow();
            SweepHeld(now);
        }

        if (!HasWaiterAtOrAbove(request.Priority))
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

        var waiter = new Waiter(request, now + TimeSpan.FromMilliseconds(request.MaxWaitMs), _nextWaiterSequence++);
        (_waitersOrNull ??= new(Waiter.Order)).Add(waiter);
        _self ??= this.AsReference<ISubjectClusterGrain>();
        _services.Instruments.Waiting(+1);
        LogWaiting(_logger, _label, request.Priority, request.MaxWaitMs);
        ProcessWaiters(now);
        using var registration = cancellationToken.Register(static state =>
        {
            var (grain, w) = ((SubjectGrain, Waiter))state!;
            if (w.TryCancel())
            {
                grain._self?.WakeAsync();
            }
        }, (this, waiter));
        return await waiter.Task;
    }

    /// <inheritdoc />
    public Task<PolicyReading[]> RefundAsync(PolicyGrant[] grants, string? leaseId)
    {
        ArgumentNullException.ThrowIfNull(grants);
        var now = _services.Time.GetUtcNow();
        ReturnGrants(grants, now);
        if (leaseId is not null)
        {
            _heldOrNull?.Remove(leaseId);
        }

        ProcessWaiters(now);
        var readings = _known ? Readings(now) : [];
        LetGoIfUntouched();
        return Task.FromResult(readings);
    }

    /// <inheritdoc />
    public async Task<LeaseOutcome> SettleAsync(string leaseId, long actualCost)
    {
        ArgumentNullException.ThrowIfNull(leaseId);
        ArgumentOutOfRangeException.ThrowIfNegative(actualCost);
        var now = _services.Time.GetUtcNow();
        SweepHeld(now);
        if (_heldOrNull is null || !_heldOrNull.Remove(leaseId, out var held))
        {
            LetGoIfUntouched();
            return LeaseOutcome.NotFound;
        }

        for (var i = 0; i < held.Grants.Length; i++)
        {
            var grant = held.Grants[i];
            switch (Find(grant.Policy) is { } current && ReferenceEquals(current, held.Owners[i]) ? current : null)
            {
                case ConcurrencyLimiter concurrency:
                    concurrency.Release(grant.LeaseNumber, now);
                    break;
                case { } limiter:
                    limiter.Settle(new Grant(grant.Cost, grant.AtTicks, 0), actualCost, now);
                    break;
            }
        }

        CountersChanged(now, 0);
        ProcessWaiters(now);

        // A top-up is taken whatever the limit (the work is done); if it went past the written ceiling, the answer
        // waits for the checkpoint that covers it, so a crash cannot forget it.
        if (MustHoldForCeiling(0, now))
        {
            await HoldForCeilingAsync(0);
        }

        LetGoIfUntouched();
        return LeaseOutcome.Done;
    }

    /// <inheritdoc />
    public Task<LeaseOutcome> ReleaseAsync(string leaseId)
    {
        ArgumentNullException.ThrowIfNull(leaseId);
        var now = _services.Time.GetUtcNow();
        SweepHeld(now);
        if (_heldOrNull is null || !_heldOrNull.Remove(leaseId, out var held))
        {
            LetGoIfUntouched();
            return Task.FromResult(LeaseOutcome.NotFound);
        }

        for (var i = 0; i < held.Grants.Length; i++)
        {
            if (Find(held.Grants[i].Policy) is ConcurrencyLimiter concurrency && ReferenceEquals(concurrency, held.Owners[i]))
            {
                concurrency.Release(held.Grants[i].LeaseNumber, now);
            }
        }

        ProcessWaiters(now);
        LetGoIfUntouched();
        return Task.FromResult(LeaseOutcome.Done);
    }

    /// <inheritdoc />
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
                Policies = _known ? [.. Readings(now).Select(r => r.ToState(_label))] : [],
                Waiting = _waitersOrNull?.Count(w => !w.IsCompleted) ?? 0,
            };
        LetGoIfUntouched();
        return Task.FromResult(report);
    }

    /// <inheritdoc />
    public async Task<SubjectPolicies> GetPoliciesAsync()
    {
        await LoadIfShedAsync();
        var policies = new SubjectPolicies
        {
            Subject = _label,
            Known = _known,
            Own = StoredConfig?.Policies is not null,
            Policies = [.. _limiters.Select(l => PolicySpec.From(l.Policy))],
        };
        LetGoIfUntouched();
        return policies;
    }

    /// <inheritdoc />
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

    /// <inheritdoc />
    public Task WakeAsync()
    {
        ProcessWaiters(_services.Time.GetUtcNow());
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task CheckpointAsync()
    {
        if (_checkpointDirty)
        {
            StartCheckpoint();
        }

        return _checkpointing ?? Task.CompletedTask;
    }

    /// <summary>
    /// Whether a request for <paramref name="cost"/> must wait for a checkpoint: every policy would admit it now
    /// (a request another policy denies is answered at once, and holds nothing), and it would take a durable
    /// counter past its written ceiling while the database takes writes.
    /// </summary>
    private bool MustHoldForCeiling(long cost, DateTimeOffset now) =>
        _known && _services.Durability.Checkpoints && !_checkpointFailing
        && _hasDurable && Durable.WouldPassCeiling(_limiters, cost, now) && _limiters.TrueForAll(l => l.GetUsage(now).Remaining >= cost);

    /// <summary>
    /// Waits for the checkpoint writes in flight, with <paramref name="cost"/> reserved in every claim they write.
    /// False when the database fails or does not answer within <see cref="HoldTimeout"/>: the decision then goes
    /// ahead from memory, as during an outage.
    /// </summary>
    private async Task<bool> HoldForCeilingAsync(long cost)
    {
        Durable.Demand += cost;
        try
        {
            await WaitForCeilingAsync(cost).WaitAsync(HoldTimeout);
            return !_checkpointFailing;
        }
        catch (TimeoutException)
        {
            return false;
        }
        finally
        {
            Durable.Demand -= cost;
        }
    }

    /// <summary>
    /// Waits write by write until the written ceiling covers <paramref name="cost"/> or a write fails. A write
    /// already in flight may have been computed without this cost; the one after it claims it.
    /// </summary>
    private async Task WaitForCeilingAsync(long cost)
    {
        do
        {
            // Taken before the write starts: a write that completes at once completes this one.
            var finished = _writeFinished ??= new(TaskCreationOptions.RunContinuationsAsynchronously);
            StartCheckpoint();
            await finished.Task;
        }
        while (!_checkpointFailing && Durable.WouldPassCeiling(_limiters, cost, _services.Time.GetUtcNow()));
    }

    /// <summary>
    /// The answer when checkpoint after checkpoint was used up by others before a held request fit under it: a
    /// denial to retry shortly, rather than an admission a crash could forget.
    /// </summary>
    private SubjectDecision CeilingDenial(DateTimeOffset now) => new()
    {
        Outcome = DecisionOutcome.Denied,
        Cause = DenialCause.Checkpoint,
        RetryAfter = TimeSpan.FromMilliseconds(100),
        Policies = Readings(now),
        Owner = Owner,
    };

    /// <summary>Counts one decision in the metrics and the usage history.</summary>
    private void Decided(SubjectDecision decision, long cost, DateTimeOffset now, TimeSpan latency)
    {
        _services.Instruments.Decided(Kind, decision.Outcome, DenyingAlgorithm(decision), latency);
        if (decision.Outcome is DecisionOutcome.Allowed or DecisionOutcome.Denied or DecisionOutcome.CostExceedsLimit)
        {
            _services.Usage.Record(_historyName, now, decision.Allowed, decision.Allowed ? cost : 0);
        }
    }

    /// <summary>
    /// A durable counter may have moved: start a checkpoint if a counter nears its written ceiling. Never waits:
    /// the write runs beside the decisions. While writes fail, only the retry timer tries again.
    /// </summary>
    private void CountersChanged(DateTimeOffset now, long permits)
    {
        if (!_services.Durability.Checkpoints || !_hasDurable)
        {
            return;
        }

        _checkpointDirty = true;
        if (_checkpointRunning)
        {
            _permitsWhileWriting += permits;
        }

        if (!_checkpointFailing && Durable.NeedsWriteNow(_limiters, now))
        {
            StartCheckpoint();
        }
    }

    private void ArmCheckpointTimer(TimeSpan due)
    {
        if (_deactivating)
        {
            return;
        }

        _self ??= this.AsReference<ISubjectClusterGrain>();
        _checkpointTimer ??= _services.Time.CreateTimer(static state => ((SubjectGrain)state!)._self?.CheckpointAsync(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _checkpointTimer.Change(due, Timeout.InfiniteTimeSpan);
    }

    private void StartCheckpoint()
    {
        if (_checkpointRunning)
        {
            _checkpointAgain = true;
            return;
        }

        // A storage may complete a write at once (a pooled connection with the answer already read): the run has then
        // finished before it returns, and its completed task is not kept as a write in flight.
        _checkpointRunning = true;
        var run = RunCheckpointsAsync();
        _checkpointing = run.IsCompleted ? null : run;
    }

    private async Task RunCheckpointsAsync()
    {
        try
        {
            do
            {
                _checkpointAgain = false;
                if (!await WriteCheckpointAsync(exact: false))
                {
                    // The database is failing: try again later, backing off; decisions continue meanwhile, and the
                    // subject stays active so its counts are not forgotten by idle collection.
                    _retryDelay = _retryDelay == TimeSpan.Zero ? _services.Durability.CheckpointInterval : TimeSpan.FromTicks(Math.Min(_retryDelay.Ticks * 2, MaxRetryDelay.Ticks));
                    ArmCheckpointTimer(_retryDelay * (0.8 + (0.4 * Random.Shared.NextDouble())));
                    if (!_deactivating)
                    {
                        DelayDeactivation(MaxRetryDelay * 2);
                    }

                    return;
                }

                if (Durable.WaiterDemand > 0 && !_deactivating)
                {
                    // A head waiter held at the ceiling may fit under the new one.
                    ProcessWaiters(_services.Time.GetUtcNow());
                }
            }
            while (_checkpointAgain || (_checkpointDirty && Durable.NeedsWriteNow(_limiters, _services.Time.GetUtcNow())));
        }
        finally
        {
            _checkpointRunning = false;
            _checkpointing = null;
        }
    }

    /// <summary>Writes the durable counters (with claims, or exact); false when the write failed.</summary>
    private async Task<bool> WriteCheckpointAsync(bool exact)
    {
        var now = _services.Time.GetUtcNow();
        var next = Durable.Next(_limiters, now, exact);
        _checkpointDirty = false;
        _permitsWhileWriting = 0;
        var stored = _checkpointState ??= new();
        stored.State = next;
        try
        {
            try
            {
                await _services.Storage.WriteStateAsync(CheckpointStateName, this.GetGrainId(), stored);
            }
            catch (Orleans.Storage.InconsistentStateException)
            {
                // An earlier write went through but its answer was lost (or another activation wrote): take the
                // stored version and write what covers both, counter by counter.
                await _services.Storage.ReadStateAsync(CheckpointStateName, this.GetGrainId(), stored);
                next = DurableCounters.Merge(stored.State ?? new(), next);
                stored.State = next;
                await _services.Storage.WriteStateAsync(CheckpointStateName, this.GetGrainId(), stored);
            }

            Durable.Written(next);
            _retryDelay = TimeSpan.Zero;
            Durable.PermitsDuringLastWrite = _permitsWhileWriting;
            _checkpointFailing = false;
            _services.Health.CheckpointWritten(this);
            _services.Instruments.CheckpointWritten(ok: true);
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _checkpointDirty = true;
            _checkpointFailing = true;
            _services.Health.CheckpointFailed(this, e, now);
            _services.Instruments.CheckpointWritten(ok: false);
            LogCheckpointFailed(_logger, _label, e.GetType().Name, e.Message);
            return false;
        }
        finally
        {
            var finished = _writeFinished;
            _writeFinished = null;
            finished?.SetResult();
        }
    }

    /// <summary>Persists the configuration and applies it to the live windows, keeping usage.</summary>
    private protected async Task SaveAndReloadAsync()
    {
        await _services.Storage.WriteStateAsync(ConfigStateName, this.GetGrainId(), ConfigHolder);
        Reload(_services.Time.GetUtcNow());
    }

    /// <summary>Forgets the persisted configuration and reloads.</summary>
    private protected async Task ClearAndReloadAsync()
    {
        await _services.Storage.ClearStateAsync(ConfigStateName, this.GetGrainId(), ConfigHolder);
        ConfigHolder.State = new();
        Reload(_services.Time.GetUtcNow());
    }

    /// <summary>Rebuilds the limiters from the subject's own policies or the defaults, keeping usage by policy name.</summary>
    private void Reload(DateTimeOffset now)
    {
        IReadOnlyList<PolicyDefinition>? definitions = null;
        if (OwnsDefinitions)
        {
            definitions = CurrentDefinitions();
        }
        else if (StoredConfig?.Policies is { } own)
        {
            definitions = PolicySpec.ToDefinitions(own, "policies", out var errors);
            if (definitions is null)
            {
                LogStoredPoliciesInvalid(_logger, _label, string.Join(" ", errors));
            }
        }

        if (!OwnsDefinitions)
        {
            definitions ??= _services.Catalog.DefaultsFor(Kind, Id);
        }

        _known = IsKnown(definitions is not null);
        var next = new List<Limiter>(definitions?.Count ?? 0);
        var unmatched = OwnsDefinitions ? _limiters.Where(l => definitions?.Any(d => d.Name == l.Policy.Name) != true).ToList() : [];
        foreach (var definition in definitions ?? [])
        {
            // Usage is kept by policy name. A subject configured through tenancy (an upstream's limits for a token)
            // also keeps it across a rename: a policy of the same algorithm and window (else any policy it replaces)
            // carries the count, so a hard ceiling is never reset by renaming or replacing it.
            var current = Find(definition.Name)
                ?? unmatched.Find(l => l.Policy.Algorithm == definition.Algorithm && l.Policy.Window == definition.Window && l.Policy.Period == definition.Period)
                ?? unmatched.FirstOrDefault();
            if (current is not null)
            {
                unmatched.Remove(current);
            }

            next.Add(current is not null ? current.Reconfigure(definition, now) : definition.CreateLimiter());
        }

        _limiters = next;
        _hasDurable = next.Exists(DurableCounters.IsDurable);
        ProcessWaiters(now);
    }

    private Limiter? Find(string policy)
    {
        foreach (var limiter in _limiters)
        {
            if (limiter.Policy.Name == policy)
            {
                return limiter;
            }
        }

        return null;
    }

    /// <summary>One all-or-nothing attempt on every policy at <paramref name="now"/>; a denial changes nothing.</summary>
    private SubjectDecision TryAcquire(SubjectAcquire request, DateTimeOffset now)
    {
        if (!_known)
        {
            return new SubjectDecision { Outcome = DecisionOutcome.UnknownSubject };
        }

        if (Gate(request, now) is { } gate)
        {
            return new SubjectDecision
            {
                Outcome = DecisionOutcome.Denied,
                Cause = gate.Cause,
                RetryAfter = gate.RetryAfter,
                Policies = Readings(now),
                Owner = Owner,
            };
        }

        var grants = new List<PolicyGrant>(_limiters.Count);
        var outcome = DecisionOutcome.Allowed;
        string? limitedBy = null;
        var retry = TimeSpan.Zero;
        foreach (var limiter in _limiters)
        {
            // Every policy is asked even after a denial, so the retry-after covers all of them.
            var decision = limiter.Acquire(request.Cost, now);
            if (decision.Allowed)
            {
                if (request.Cost > 0)
                {
                    grants.Add(new PolicyGrant(limiter.Policy.Name, decision.Grant.Cost, decision.Grant.AcquiredAtTicks, decision.Grant.LeaseNumber));
                }

                continue;
            }

            if (decision.Reason == DenialReason.CostExceedsLimit)
            {
                outcome = DecisionOutcome.CostExceedsLimit;
                limitedBy = limiter.Policy.Name;
                retry = Decision.Never;
            }
            else if (outcome != DecisionOutcome.CostExceedsLimit && (outcome == DecisionOutcome.Allowed || decision.RetryAfter > retry))
            {
                outcome = DecisionOutcome.Denied;
                limitedBy = limiter.Policy.Name;
                retry = decision.RetryAfter;
            }
        }

        if (outcome != DecisionOutcome.Allowed)
        {
            ReturnGrants(grants, now);
            return new SubjectDecision
            {
                Outcome = outcome,
                Cause = DenialCause.Policy,
                LimitedBy = limitedBy,
                RetryAfter = retry,
                Policies = Readings(now),
                Owner = Owner,
            };
        }

        string? heldAs = null;
        if (grants.Count > 0 && (request.Reserve || grants.Exists(g => g.LeaseNumber != 0)))
        {
            // A lease to settle or release later: the caller's (shared by every subject of the request) or our own.
            var leaseId = request.LeaseNonce ?? Guid.NewGuid().ToString("N");
            var expires = now + (request.Reserve ? _services.Decisions.ReservationTtl : TimeSpan.Zero);
            foreach (var limiter in _limiters)
            {
                if (limiter is ConcurrencyLimiter)
                {
                    var ttlEnd = now + limiter.Policy.LeaseTtl;
                    expires = ttlEnd > expires ? ttlEnd : expires;
                }
            }

            Holds[leaseId] = new Held([.. grants], [.. grants.Select(g => Find(g.Policy)!)], expires);
            _nextHeldSweep = expires < _nextHeldSweep ? expires : _nextHeldSweep;
            heldAs = leaseId;
        }

        if (grants.Count > 0)
        {
            CountersChanged(now, request.Cost);
        }

        var readings = Readings(now);
        KeepAliveForLongWindows(readings);
        return Granted(request, new SubjectDecision
        {
            Allowed = true,
            Outcome = DecisionOutcome.Allowed,
            Policies = readings,
            Grants = request.ReturnGrants ? [.. grants] : [],
            Held = heldAs is not null,
            LeaseNonce = heldAs,
            Owner = Owner,
        });
    }

    private void ReturnGrants(IEnumerable<PolicyGrant> grants, DateTimeOffset now)
    {
        foreach (var grant in grants)
        {
            Find(grant.Policy)?.Refund(new Grant(grant.Cost, grant.AtTicks, grant.LeaseNumber), now);
        }
    }

    /// <summary>
    /// The answer for a caller that will not wait while others wait ahead of it: what it would get on its own,
    /// but never admitted, and retrying no earlier than the head of the queue can be served.
    /// </summary>
    private SubjectDecision QueueDenial(SubjectAcquire request, DateTimeOffset now)
    {
        var untilHead = _headReadyAt - now;
        if (untilHead <= TimeSpan.Zero)
        {
            untilHead = TimeSpan.FromTicks(1);
        }

        var alone = TryAcquire(request.ReturnGrants ? request : request with { ReturnGrants = true }, now);
        if (!alone.Allowed)
        {
            return alone.Outcome != DecisionOutcome.Denied || alone.RetryAfter >= untilHead
                ? alone with { Grants = [] }
                : alone with { RetryAfter = untilHead, Grants = [] };
        }

        ReturnGrants(alone.Grants, now);
        if (alone.LeaseNonce is { } leaseId)
        {
            _heldOrNull?.Remove(leaseId);
        }

        return new SubjectDecision
        {
            Outcome = DecisionOutcome.Denied,
            Cause = DenialCause.Queue,
            RetryAfter = untilHead,
            Policies = Readings(now),
            Owner = Owner,
        };
    }

    private AlgorithmKind? DenyingAlgorithm(SubjectDecision decision) =>
        decision.LimitedBy is { } name && Find(name) is { } limiter ? limiter.Policy.Algorithm : null;

    private bool LimitedByConcurrency(SubjectDecision decision) =>
        decision.LimitedBy is { } name && Find(name) is ConcurrencyLimiter;

    private bool HasWaiterAtOrAbove(Priority priority)
    {
        // Enumerating even an empty SortedSet allocates; most calls find no waiters.
        if (_waitersOrNull is not { Count: > 0 } waiters)
        {
            return false;
        }

        foreach (var waiter in waiters)
        {
            if (!waiter.IsCompleted && waiter.Request.Priority >= priority)
            {
                return true;
            }
        }

        return false;
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

        TimeSpan? headRetry = null;
        long ceilingDemand = 0;
        foreach (var waiter in waiters.ToArray())
        {
            if (waiter.IsCompleted)
            {
                // Cancelled by its caller.
                waiters.Remove(waiter);
                _services.Instruments.Waiting(-1);
                continue;
            }

            if (headRetry is null && waiter.Request.Cost > 0 && MustHoldForCeiling(waiter.Request.Cost, now))
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

            // Grants are kept with the decision here whatever the caller asked: a grant to a waiter behind the head,
            // or to one that cancelled meanwhile, must be given back.
            var decision = TryAcquire(waiter.Request.ReturnGrants ? waiter.Request : waiter.Request with { ReturnGrants = true }, now);
            if (decision.Outcome is DecisionOutcome.CostExceedsLimit or DecisionOutcome.UnknownSubject
                || (headRetry is null && (decision.Allowed || now >= waiter.Deadline)))
            {
                waiters.Remove(waiter);
                Complete(waiter, decision, now);
                continue;
            }

            if (decision.Allowed)
            {
                // Behind a blocked head: the capacity is the head's first. Give it back.
                ReturnGrants(decision.Grants, now);
                if (decision.LeaseNonce is { } leaseId)
                {
                    _heldOrNull?.Remove(leaseId);
                }

                decision = decision with { Allowed = false, Outcome = DecisionOutcome.Denied, Cause = DenialCause.Queue, RetryAfter = headRetry ?? TimeSpan.Zero, Grants = [], Held = false };
            }

            if (now >= waiter.Deadline)
            {
                waiters.Remove(waiter);
                Complete(waiter, decision, now);
                continue;
            }

            headRetry ??= decision.RetryAfter;
        }

        if (ceilingDemand > 0 || _durableOrNull is not null)
        {
            Durable.WaiterDemand = ceilingDemand;
        }

        if (ceilingDemand > 0)
        {
            StartCheckpoint();
        }

        _headReadyAt = now + (headRetry ?? TimeSpan.Zero);
        var due = headRetry ?? Timeout.InfiniteTimeSpan;
        foreach (var waiter in waiters)
        {
            var untilDeadline = waiter.Deadline - now;
            if (due == Timeout.InfiniteTimeSpan || untilDeadline < due)
            {
                due = untilDeadline;
            }
        }

        if (due != Timeout.InfiniteTimeSpan && due < TimeSpan.Zero)
        {
            due = TimeSpan.Zero;
        }

        if (due == Timeout.InfiniteTimeSpan)
        {
            _wakeTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        _self ??= this.AsReference<ISubjectClusterGrain>();
        _wakeTimer ??= _services.Time.CreateTimer(static state => ((SubjectGrain)state!)._self?.WakeAsync(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _wakeTimer.Change(due, Timeout.InfiniteTimeSpan);
    }

    private void Complete(Waiter waiter, SubjectDecision decision, DateTimeOffset now)
    {
        _services.Instruments.Waiting(-1);
        Decided(decision, waiter.Request.Cost, now, TimeSpan.Zero);
        if (!waiter.TryComplete(decision) && decision.Allowed)
        {
            // The caller cancelled while we granted: give the place back so nothing is lost.
            ReturnGrants(decision.Grants, now);
            if (decision.LeaseNonce is { } leaseId)
            {
                _heldOrNull?.Remove(leaseId);
            }
        }
    }

    private void SweepHeld(DateTimeOffset now)
    {
        if (now < _nextHeldSweep)
        {
            return;
        }

        var next = DateTimeOffset.MaxValue;
        foreach (var (leaseId, held) in Holds.ToArray())
        {
            if (held.ExpiresAt <= now)
            {
                // An unsettled reservation keeps its estimate; concurrency permits expire in their limiter.
                _heldOrNull?.Remove(leaseId);
            }
            else if (held.ExpiresAt < next)
            {
                next = held.ExpiresAt;
            }
        }

        _nextHeldSweep = next;
    }

    private PolicyReading[] Readings(DateTimeOffset now)
    {
        var readings = new PolicyReading[_limiters.Count];
        for (var i = 0; i < readings.Length; i++)
        {
            var limiter = _limiters[i];
            var usage = limiter.GetUsage(now);
            readings[i] = new PolicyReading(
                limiter.Policy.Name,
                (byte)limiter.Policy.Algorithm,
                usage.Limit,
                usage.Remaining,
                WindowSeconds(limiter),
                DecisionResults.CeilingMilliseconds(usage.ResetAfter));
        }

        return readings;
    }

    private static long? WindowSeconds(Limiter limiter) => limiter switch
    {
        ConcurrencyLimiter => null,
        PeriodLimiter period when limiter.Policy.Algorithm == AlgorithmKind.Calendar =>
            (period.PeriodEndTicks - period.PeriodStartTicks) / TimeSpan.TicksPerSecond,
        _ => (long)Math.Ceiling(limiter.Policy.Window.TotalSeconds),
    };


    private void KeepAliveForLongWindows(PolicyReading[] states)
    {
        var longest = 0L;
        foreach (var state in states)
        {
            longest = Math.Max(longest, state.ResetAfterMs);
        }

        if (longest > KeepAliveThreshold.TotalMilliseconds)
        {
            DelayDeactivation(TimeSpan.FromMilliseconds(longest));
        }
    }

    /// <summary>The checkpoint bookkeeping, made when a subject first has durable counters to write (PostgreSQL mode).</summary>
    private DurableCounters Durable => _durableOrNull ??= new();

    private Dictionary<string, Held> Holds => _heldOrNull ??= new(StringComparer.Ordinal);

    /// <summary>A grant filed under a lease, with the limiter instances that made it: a limiter rebuilt since (its
    /// policy removed and re-added) numbers its leases afresh, so an old lease must not release a new one.</summary>
    private sealed record Held(PolicyGrant[] Grants, Limiter[] Owners, DateTimeOffset ExpiresAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Subject}: {Count} durable counters restored from their checkpoint")]
    private static partial void LogRestored(ILogger logger, string subject, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Subject}: deactivated while its checkpoint could not be written; what it admitted since its last checkpoint may be admitted again after it is reactivated")]
    private static partial void LogCountsAtRisk(ILogger logger, string subject);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Subject}: checkpoint write failed ({ErrorType}: {Error}); decisions continue from memory and the write is retried")]
    private static partial void LogCheckpointFailed(ILogger logger, string subject, string errorType, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Subject}: a {Priority} caller waits up to {MaxWaitMs} ms")]
    private static partial void LogWaiting(ILogger logger, string subject, Priority priority, long maxWaitMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Subject}: policies changed ({Count} own policies; -1 means back to defaults); usage kept")]
    private static partial void LogPoliciesChanged(ILogger logger, string subject, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Subject}: stored policies are invalid and were ignored in favour of the defaults: {Errors}")]
    private static partial void LogStoredPoliciesInvalid(ILogger logger, string subject, string errors);
}
