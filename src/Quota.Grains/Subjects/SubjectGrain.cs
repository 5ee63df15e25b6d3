using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Configuration;
using Quota.Grains.Storage;

namespace Quota.Grains.Subjects;

/// <summary>
/// A subject with limits: its policies' windows live in this activation's memory, and this grain is the only
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
public abstract partial class SubjectGrain : Grain, ISubjectGrain, ICheckpointStore
{
    private static readonly TimeSpan KeepAliveThreshold = TimeSpan.FromMinutes(10);

    // A head waiter waiting at a ceiling is served when its checkpoint lands; this wake-up is only a fallback.
    private static readonly TimeSpan CeilingRecheck = TimeSpan.FromMilliseconds(100);

    // The stored configuration and counter checkpoint, read and written through the grain storage directly rather than
    // as IPersistentState: Orleans' state holders (with their lifecycle and migration participants) cost about half a
    // kilobyte per activation, present even for the many subjects that store nothing. Each is made only when something
    // is stored or to be written.
    private GrainState<SubjectConfigState>? _configState;
    private GrainState<UsageCheckpointState>? _checkpointState;
    // Every silo service is reached through this one field (not a field each): every field is paid per activation.
    private readonly SubjectServices _services;
    // Made when the subject first has durable counters to write (the PostgreSQL mode).
    private CheckpointWriter? _writerOrNull;
    private readonly ILogger _logger;
    // Most subjects never open a lease nor queue a waiter: these are made when first needed (an idle grain's memory
    // is what a silo's capacity in subjects comes down to).
    private LeaseBook? _leasesOrNull;
    private WaiterQueue? _waitersOrNull;
    // The policies' windows and the all-or-nothing decision over them.
    private readonly SubjectLimits _limits = new();

    private ITimer? _wakeTimer;
    private ISubjectGrain? _self;
    private bool _known;
    private SubjectAdmission _admission;
    private string _label = string.Empty;
    private string _historyName = string.Empty;

    private ITimer? _checkpointTimer;

    // Set while this activation, keeping nothing, waits out LetGoAfter before it goes (see LetGoIfUntouched).
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
    /// A denial that comes before the policies (a token's open circuit): the name it is reported under and when to
    /// retry; null to let the policies decide. Called once per attempt, waiters included.
    /// </summary>
    private protected virtual (string Policy, TimeSpan RetryAfter)? Gate(SubjectAcquire request, DateTimeOffset now) => null;

    /// <summary>Adds to an allowed answer (a token's secret when asked for); the default answers it unchanged.</summary>
    private protected virtual SubjectDecision Granted(SubjectAcquire request, SubjectDecision decision) => decision;

    /// <summary>Notes a request as it arrives, before any decision (a tenant measures its demand).</summary>
    private protected virtual void Arrived(SubjectAcquire request)
    {
    }

    /// <summary>The quota clock.</summary>
    private protected TimeProvider Time => _services.Time;

    /// <summary>Every policy's state now.</summary>
    private protected PolicyReading[] CurrentReadings() => _known ? _limits.Readings(_services.Time.GetUtcNow()) : [];

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
            var restored = Writer.Counters.Restore(checkpoint, _limits.Limiters, now);
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
    /// Lets this activation go when it keeps nothing a fresh one would not: shed, unknown, or (users, keys, resources)
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

    /// <summary>How long an activation that keeps nothing stays for the calls that follow it: half a second.</summary>
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

        if (_leasesOrNull is { Count: > 0 } || _waitersOrNull is { Count: > 0 } || _writerOrNull is { Running: true } || _checkpointState is not null)
        {
            return false;
        }

        return !_known || (_admission == SubjectAdmission.Admitted
            && StoredConfig is not ({ Policies: not null } or { Owner: not null })
            && _limits.AllFull(_services.Time.GetUtcNow()));
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
        _checkpointTimer?.Dispose();
        _checkpointTimer = null;
        if (_writerOrNull is not null || (_services.Durability.Checkpoints && _limits.HasDurable))
        {
            // A clean stop: the exact counts are written, so the next activation resumes without the unused claims.
            if (!await Writer.CloseAsync())
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
            _services.Instruments.Waiting(-waiters.CancelAll());
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
            // Shed callers are never queued: a wait would keep the activation the ceiling is there to refuse.
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

        Arrived(request);
        var now = _services.Time.GetUtcNow();
        _leasesOrNull?.Sweep(now);

        // Checked again with every fresh reading of the clock, in the same step as the decision below.
        var ceilingWaits = 0;
        while (request.Cost > 0 && MustWaitForCeiling(request.Cost, now))
        {
            if (++ceilingWaits > CheckpointWriter.MaxCeilingWaits)
            {
                var refused = CeilingDenial(now);
                Decided(refused, request.Cost, now, TimeSpan.Zero);
                return refused;
            }

            if (!await Writer.WaitForCeilingAsync(request.Cost))
            {
                break;
            }

            now = _services.Time.GetUtcNow();
            _leasesOrNull?.Sweep(now);
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
        _self ??= this.AsReference<ISubjectGrain>();
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

    /// <inheritdoc />
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

    /// <inheritdoc />
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
                Policies = _known ? [.. _limits.Readings(now).Select(r => r.ToState(_label))] : [],
                Waiting = _waitersOrNull?.Waiting() ?? 0,
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
            Policies = [.. _limits.Definitions().Select(PolicySpec.From)],
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
    public Task CheckpointAsync() => _writerOrNull?.CheckpointAsync() ?? Task.CompletedTask;

    /// <summary>Whether a request for <paramref name="cost"/> must wait for a checkpoint (see <see cref="CheckpointWriter.MustWaitForCeiling"/>).</summary>
    private bool MustWaitForCeiling(long cost, DateTimeOffset now) =>
        _known && _services.Durability.Checkpoints && _limits.HasDurable && Writer.MustWaitForCeiling(cost, now);

    /// <summary>
    /// The answer when checkpoint after checkpoint was used up by others before a request waiting at the ceiling fit under it: a
    /// denial to retry shortly, rather than an admission a crash could forget.
    /// </summary>
    private SubjectDecision CeilingDenial(DateTimeOffset now) => new()
    {
        Outcome = DecisionOutcome.Denied,
        LimitedBy = "checkpoint",
        RetryAfter = TimeSpan.FromMilliseconds(100),
        Policies = _limits.Readings(now),
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

    /// <summary>A durable counter may have moved by <paramref name="permits"/>: the writer decides whether to write now.</summary>
    private void CountersChanged(DateTimeOffset now, long permits)
    {
        if (_services.Durability.Checkpoints && _limits.HasDurable)
        {
            Writer.CountersChanged(now, permits);
        }
    }

    /// <inheritdoc />
    async Task<UsageCheckpointState> ICheckpointStore.WriteAsync(UsageCheckpointState next)
    {
        var stored = _checkpointState ??= new();
        stored.State = next;
        try
        {
            await _services.Storage.WriteStateAsync(CheckpointStateName, this.GetGrainId(), stored);
        }
        catch (Orleans.Storage.InconsistentStateException)
        {
            // An earlier write went through but its answer was lost (or another activation wrote): take the stored
            // version and write what covers both, counter by counter.
            await _services.Storage.ReadStateAsync(CheckpointStateName, this.GetGrainId(), stored);
            next = DurableCounters.Merge(stored.State ?? new(), next);
            stored.State = next;
            await _services.Storage.WriteStateAsync(CheckpointStateName, this.GetGrainId(), stored);
        }

        return next;
    }

    /// <inheritdoc />
    void ICheckpointStore.ArmRetry(TimeSpan due)
    {
        _self ??= this.AsReference<ISubjectGrain>();
        _checkpointTimer ??= _services.Time.CreateTimer(static state => ((SubjectGrain)state!)._self?.CheckpointAsync(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _checkpointTimer.Change(due, Timeout.InfiniteTimeSpan);
    }

    /// <inheritdoc />
    void ICheckpointStore.KeepActive(TimeSpan period) => DelayDeactivation(period);

    /// <inheritdoc />
    void ICheckpointStore.CeilingRaised() => ProcessWaiters(_services.Time.GetUtcNow());

    /// <inheritdoc />
    void ICheckpointStore.Reported(Exception? failure, DateTimeOffset now)
    {
        if (failure is null)
        {
            _services.Health.CheckpointWritten(this);
            _services.Instruments.CheckpointWritten(ok: true);
            return;
        }

        _services.Health.CheckpointFailed(this, failure, now);
        _services.Instruments.CheckpointWritten(ok: false);
        LogCheckpointFailed(_logger, _label, failure.GetType().Name, failure.Message);
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
        _limits.Apply(definitions, carryAcrossRenames: OwnsDefinitions, now);
        ProcessWaiters(now);
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
                LimitedBy = gate.Policy,
                RetryAfter = gate.RetryAfter,
                Policies = _limits.Readings(now),
                Owner = Owner,
            };
        }

        var verdict = _limits.TryTake(request.Cost, now);
        if (!verdict.Allowed)
        {
            return new SubjectDecision
            {
                Outcome = verdict.Outcome,
                LimitedBy = verdict.LimitedBy,
                RetryAfter = verdict.RetryAfter,
                Policies = verdict.Readings,
                Owner = Owner,
            };
        }

        var grants = verdict.Grants;
        string? nonce = null;
        if (grants.Length > 0 && (request.Reserve || LeaseBook.HasConcurrencyPermits(grants)))
        {
            // A lease to settle or release later: the caller's nonce (shared by every subject of the request) or our own.
            nonce = request.LeaseId ?? Guid.NewGuid().ToString("N");
            (_leasesOrNull ??= new()).Open(nonce, _limits, grants, LeaseBook.ExpiryOf(_limits, grants, request.Reserve, _services.Decisions.ReservationTtl, now));
        }

        if (grants.Length > 0)
        {
            CountersChanged(now, request.Cost);
        }

        KeepAliveForLongWindows(verdict.Readings);
        return Granted(request, new SubjectDecision
        {
            Allowed = true,
            Outcome = DecisionOutcome.Allowed,
            Policies = verdict.Readings,
            Grants = request.ReturnGrants ? grants : [],
            Held = nonce is not null,
            LeaseNonce = nonce,
            Owner = Owner,
        });
    }

    /// <summary>
    /// What <paramref name="request"/> would get now, taking nothing: the gate's denial, the policies' denial, or an
    /// allowed answer that is not counted (for callers told to queue behind others).
    /// </summary>
    private SubjectDecision WouldGet(SubjectAcquire request, DateTimeOffset now)
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
                LimitedBy = gate.Policy,
                RetryAfter = gate.RetryAfter,
                Policies = _limits.Readings(now),
                Owner = Owner,
            };
        }

        var verdict = _limits.Check(request.Cost, now);
        return new SubjectDecision
        {
            Allowed = verdict.Allowed,
            Outcome = verdict.Outcome,
            LimitedBy = verdict.LimitedBy,
            RetryAfter = verdict.RetryAfter,
            Policies = verdict.Readings,
            Owner = Owner,
        };
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
            LimitedBy = "queue",
            RetryAfter = untilHead,
        };
    }

    private AlgorithmKind? DenyingAlgorithm(SubjectDecision decision) =>
        _limits.AlgorithmOf(decision.LimitedBy);

    private bool LimitedByConcurrency(SubjectDecision decision) =>
        _limits.IsConcurrency(decision.LimitedBy);

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
                decision = decision with { Allowed = false, Outcome = DecisionOutcome.Denied, LimitedBy = "queue", RetryAfter = headRetry ?? TimeSpan.Zero };
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

        _self ??= this.AsReference<ISubjectGrain>();
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
            _limits.Refund(decision.Grants, now);
            if (decision.LeaseNonce is { } leaseId)
            {
                _leasesOrNull?.Forget(leaseId);
            }
        }
    }

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
    private CheckpointWriter Writer => _writerOrNull ??= new(this, _limits, _services.Time, _services.Durability.CheckpointInterval, Random.Shared);

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
