using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Configuration;
using Quota.Grains.Storage;

namespace Quota.Grains.Subjects;

/// <summary>
/// One live subject (a user, key, resource, tenant or token) in its grain's activation: wires its parts (the decision
/// over its policies <see cref="SubjectLimits"/>, its <see cref="WaiterQueue"/>, its <see cref="LeaseBook"/> and its
/// <see cref="CheckpointWriter"/>) with what its kind supplies (a policy source and a gate), and is the only clock for
/// its windows (one <see cref="QuotaTime"/> reading per decision). Its grain forwards every call here.
/// </summary>
/// <remarks>
/// <para><b>All or nothing within the subject.</b> A request takes its cost on every policy or on none
/// (<see cref="SubjectLimits.TryTake"/>).</para>
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
/// of an hour or more are checkpointed write-behind with claims (see <see cref="DurableCounters"/> and
/// <see cref="CheckpointWriter"/>) and restored on activation; a clean deactivation writes the exact counts. Sliding
/// windows, token buckets, concurrency leases and waiters live in memory only: a crash forgets them (they refill
/// within their window).</para>
/// <para><b>Memory.</b> Every field here is paid by every activation (an idle subject's memory is what a silo's
/// capacity in subjects comes down to), so the parts most subjects never use (queue, lease book, checkpoint writer,
/// stored states) are made when first needed.</para>
/// </remarks>
internal sealed partial class SubjectActivation : ICheckpointStore
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
    private readonly ISubjectHost _host;
    private readonly SubjectKind _kind;
    private readonly SubjectExistence _existence;
    private IPolicySource? _policies;
    private ISubjectGate? _gate;
    private Func<long, DateTimeOffset, bool>? _policiesAdmit;
    // Most subjects never open a lease nor queue a waiter: these are made when first needed (an idle grain's memory
    // is what a silo's capacity in subjects comes down to).
    private LeaseBook? _leasesOrNull;
    private WaiterQueue? _waitersOrNull;
    // The policies' windows and the all-or-nothing decision over them.
    private readonly SubjectLimits _limits = new();

    private ITimer? _wakeTimer;
    private ISubjectClusterGrain? _self;
    private CancellationTokenRegistration _onStopping;
    private bool _known;
    private SubjectAdmission _admission;
    private string _label = string.Empty;
    private string _historyName = string.Empty;

    private ITimer? _checkpointTimer;

    // Set while this activation, keeping nothing, waits out LetGoAfter before it goes (see LetGoIfUntouched).
    private IGrainTimer? _letGoTimer;

    /// <summary>Creates the subject for its grain, <paramref name="host"/>.</summary>
    /// <param name="host">The grain: its identity, timers and lifetime.</param>
    /// <param name="services">The silo services.</param>
    /// <param name="logger">The grain's logger.</param>
    /// <param name="kind">Which kind of subject this is.</param>
    /// <param name="existence">When the subject exists.</param>
    public SubjectActivation(ISubjectHost host, SubjectServices services, ILogger logger, SubjectKind kind, SubjectExistence existence)
    {
        ArgumentNullException.ThrowIfNull(services);
        _host = host;
        _services = services;
        _logger = logger;
        _kind = kind;
        _existence = existence;
    }

    /// <summary>
    /// Where a subject configured through tenancy (a tenant, a token) takes its policies from and the gate its requests
    /// pass before them: its grain supplies both once, when made. Users, keys and resources supply neither: their
    /// policies are their stored own or the configured defaults, and nothing comes before them.
    /// </summary>
    public void Supply(IPolicySource policies, ISubjectGate gate)
    {
        _policies = policies;
        _gate = gate;
    }

    /// <summary>The stored state names: the rows' identities in the grain storage, never to be renamed.</summary>
    private const string ConfigStateName = "config";
    private const string CheckpointStateName = "usage";

    /// <summary>The persisted configuration, to change and then write with <see cref="SaveAndReloadAsync"/> (made empty when nothing is stored).</summary>
    public SubjectConfigState Config => ConfigRow.State ??= new();

    /// <summary>The persisted configuration for reading: null when nothing is stored (nothing is made for it).</summary>
    public SubjectConfigState? StoredConfig => _configState?.State;

    private GrainState<SubjectConfigState> ConfigRow => _configState ??= new(new SubjectConfigState());

    /// <summary>The grain's id (user id, key id, resource name, tenant, <c>{upstream}/{token}</c>).</summary>
    public string Id => _host.Id;

    /// <summary>The user an answer names as owner (API keys only: nothing else stores an owner).</summary>
    private string? Owner => _configState?.State?.Owner;

    /// <summary>The quota clock.</summary>
    public TimeProvider Time => _services.Time;

    /// <summary>Every policy's state now.</summary>
    public PolicyReading[] CurrentReadings() => _known ? _limits.Readings(_services.Time.GetUtcNow()) : [];

    /// <summary>Rebuilds the limiters from the configuration now, keeping usage by policy name, and serves waiters.</summary>
    public void Reconfigure() => Reload(_services.Time.GetUtcNow());

    /// <summary>The grain's activation: takes a place among the silo's active subjects (or is shed) and loads.</summary>
    public async Task ActivateAsync()
    {
        _label = SubjectNames.Label(_kind, Id);
        _historyName = _kind == SubjectKind.ApiKey ? $"{SubjectNames.Prefix(_kind)}:{Id}" : _label;
        if (ActiveSubjects.Counts(_kind))
        {
            // Past the silo's ceiling nothing is read or kept: every call is answered Overloaded and the activation goes.
            _admission = _services.Active.TryEnter() ? SubjectAdmission.Admitted : SubjectAdmission.Shed;
            if (_admission == SubjectAdmission.Shed)
            {
                return;
            }
        }

        await LoadAsync();
        _services.Instruments.SubjectActive(_kind, +1);
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
    public async Task LoadIfShedAsync()
    {
        if (_admission != SubjectAdmission.Shed)
        {
            return;
        }

        await LoadAsync();
        if (_admission == SubjectAdmission.Shed)
        {
            _services.Active.EnterOverCeiling();
            _services.Instruments.SubjectActive(_kind, +1);
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
    public void LetGoIfUntouched()
    {
        if (_letGoTimer is null && IsUntouched())
        {
            _letGoTimer = _host.StartTimer(LetGoNow, LetGoAfter);
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
            _host.DeactivateOnIdle();
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
        _services.Instruments.Decided(_kind, DecisionOutcome.Overloaded, null, TimeSpan.Zero);
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
        await _services.Storage.ReadStateAsync(name, _host.GrainId, stored);
        return stored.RecordExists || stored.ETag is not null ? stored : null;
    }

    /// <summary>The grain's deactivation: the last checkpoint, waiters cancelled, the place given back.</summary>
    public async Task DeactivateAsync()
    {
        if (_admission == SubjectAdmission.Shed)
        {
            return;
        }

        _services.Instruments.SubjectActive(_kind, -1);
        _checkpointTimer?.Dispose();
        _checkpointTimer = null;
        if (_writerOrNull is not null || (_services.Durability.Checkpoints && _limits.HasDurable))
        {
            // A clean stop: the exact counts are written, so the next activation resumes without the unused claims.
            if (!await Writer.CloseAsync())
            {
                LogCountsAtRisk(_logger, Writer.LastFailure, _label);
            }
        }

        // Gone from this silo: its writes are no longer pending here.
        _services.Health.CheckpointWritten(this);
        _wakeTimer?.Dispose();
        _wakeTimer = null;
        _onStopping.Dispose();
        if (_waitersOrNull is { } waiters)
        {
            // Waiters left when the subject goes away for another reason than its silo's stop (which answers them
            // earlier, see SiloStopping): nothing was taken for them, so each is answered the same retryable denial.
            _services.Instruments.Waiting(-waiters.AnswerAll(GoingAway));
        }

        if (_admission == SubjectAdmission.Admitted)
        {
            _services.Active.Leave();
        }
    }

    /// <summary>Persists the configuration and applies it to the live windows, keeping usage.</summary>
    public async Task SaveAndReloadAsync()
    {
        await _services.Storage.WriteStateAsync(ConfigStateName, _host.GrainId, ConfigRow);
        Reload(_services.Time.GetUtcNow());
    }

    /// <summary>Forgets the persisted configuration and reloads.</summary>
    public async Task ClearAndReloadAsync()
    {
        await _services.Storage.ClearStateAsync(ConfigStateName, _host.GrainId, ConfigRow);
        ConfigRow.State = new();
        Reload(_services.Time.GetUtcNow());
    }

    /// <summary>
    /// Rebuilds the limiters from the policy source (tenants, tokens) or else the subject's own stored policies or the
    /// defaults, keeping usage by policy name, and serves waiters.
    /// </summary>
    private void Reload(DateTimeOffset now)
    {
        IReadOnlyList<PolicyDefinition>? definitions = null;
        if (_policies is { } source)
        {
            definitions = source.CurrentPolicies();
        }
        else
        {
            if (StoredConfig?.Policies is { } own)
            {
                definitions = PolicySpec.ToDefinitions(own, "policies", out var errors);
                if (definitions is null)
                {
                    LogStoredPoliciesInvalid(_logger, _label, string.Join(" ", errors));
                }
            }

            definitions ??= _services.Catalog.DefaultsFor(_kind, Id);
        }

        var hasPolicies = definitions is not null;
        _known = _existence switch
        {
            SubjectExistence.Always => true,
            SubjectExistence.WhenConfigured => hasPolicies,
            SubjectExistence.WhenRegistered => StoredConfig?.Owner is not null,
            _ => _policies?.IsConfigured == true && hasPolicies,
        };

        // A subject configured through tenancy also keeps usage across a rename, so a hard ceiling is never reset by
        // renaming or replacing a policy.
        _limits.Apply(definitions, carryAcrossRenames: _policies is not null, now);
        ProcessWaiters(now);
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
            _host.DelayDeactivation(TimeSpan.FromMilliseconds(longest));
        }
    }
}
