using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Grains.Subjects;
using Quota.Grains.Tenancy;

namespace Quota.Grains.Scheduling;

/// <summary>The scheduler's persisted state: its run counter and the tenants' use samples.</summary>
[GenerateSerializer, Alias("quota.SchedulerState")]
public sealed class SchedulerState
{
    /// <summary>Runs started so far; a run's number is claimed by writing it before the run does anything.</summary>
    [Id(0)] public long Runs { get; set; }

    /// <summary>When the last run started (quota time).</summary>
    [Id(1)] public DateTimeOffset? LastRunAt { get; set; }

    /// <summary>Each adapting tenant's use samples since its reserve last changed, oldest first, at most the configured number.</summary>
    [Id(2)] public Dictionary<string, List<UsageSample>> Samples { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Why the last run failed; null when it succeeded.</summary>
    [Id(3)] public string? LastError { get; set; }
}

/// <summary>
/// The cluster's scheduler; see <see cref="ISchedulerGrain"/>. A persisted reminder (at least a minute apart, as
/// Orleans allows) brings it back after restarts; while active, a timer on quota time ticks at the configured
/// interval. Each run samples the adapting tenants' use and every token's use and health, plans with
/// <see cref="SchedulerPlanner"/>, and hands the steps to the tenancy grain, which applies those still valid together
/// with their history entries in one write.
/// </summary>
/// <remarks>
/// <para><b>One run at a time.</b> The grain does not interleave, so a tick, a reminder and an explicit run queue
/// behind each other. A run first writes its number: should a second activation ever exist (a partition), its write
/// fails on the stale etag and it does nothing.</para>
/// <para><b>Crash-safe.</b> A run cut short anywhere leaves a consistent state: each step names what it expects
/// (a replayed step finds the change made and does nothing), the changes and their history are one write, and the
/// use sampled before a tenant's reserve last changed never counts towards its next change (the change's time is in
/// the tenancy state, not here), so a run that changed a reserve but died before saving its samples cannot step the
/// same tenant twice on the same evidence.</para>
/// </remarks>
[GrainType("scheduler")]
public sealed partial class SchedulerGrain(
    [PersistentState("scheduler", QuotaStorage.Name)] IPersistentState<SchedulerState> state,
    IOptions<SchedulerOptions> options,
    IOptions<TenancyOptions> tenancyOptions,
    QuotaTime clock,
    QuotaInstruments metrics,
    ILogger<SchedulerGrain> logger) : Grain, ISchedulerGrain, ISchedulerClusterGrain, IRemindable
{
    /// <summary>The reminder's name.</summary>
    public const string ReminderName = "scheduler";

    private readonly SchedulerOptions _options = options.Value;
    private ITimer? _timer;
    private ISchedulerClusterGrain? _self;
    private DateTimeOffset _activatedAt;

    /// <summary>Whether this activation registered the reminder (the status says so without reading the reminder table).</summary>
    private bool _reminderRegistered;

    private TimeProvider Time => clock.Provider;

    /// <summary>Reminders tick at most once a minute; the timer gives the configured interval while active.</summary>
    private TimeSpan ReminderPeriod => _options.Interval < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : _options.Interval;

    private DateTimeOffset NextRun => (state.State.LastRunAt ?? _activatedAt) + _options.Interval;

    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _self = this.AsReference<ISchedulerClusterGrain>();
        _activatedAt = Time.GetUtcNow();
        if (_options.Enabled)
        {
            _timer = Time.CreateTimer(static grain => ((SchedulerGrain)grain!)._self?.TickAsync(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            Arm();
        }

        return base.OnActivateAsync(cancellationToken);
    }

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _timer = null;
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <inheritdoc />
    public async Task StartAsync()
    {
        if (_options.Enabled)
        {
            await this.RegisterOrUpdateReminder(ReminderName, ReminderPeriod, ReminderPeriod);
            _reminderRegistered = true;
            return;
        }

        // Switched off: a reminder stored while it was on (PostgreSQL keeps it) would wake it for nothing. Every host
        // has a reminder service (memory or PostgreSQL); a failure here is the caller's (SchedulerStarter logs it).
        if (await this.GetReminder(ReminderName) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    /// <inheritdoc />
    public Task ReceiveReminder(string reminderName, TickStatus status) => TickAsync();

    /// <inheritdoc />
    public async Task TickAsync()
    {
        if (!_options.Enabled)
        {
            return;
        }

        if (Time.GetUtcNow() >= NextRun)
        {
            try
            {
                await RunCoreAsync();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Recorded in the state and metrics by the run; the next tick tries again.
                LogRunFailed(logger, state.State.Runs, e.GetType().Name, e);
            }
        }

        Arm();
    }

    /// <inheritdoc />
    public Task<SchedulerRun> RunAsync() => RunCoreAsync();

    /// <inheritdoc />
    public async Task<SchedulerStatus> GetStatusAsync()
    {
        if (_options.Enabled && !_reminderRegistered)
        {
            try
            {
                // A silo starts it (SchedulerStarter) without waiting; asked first, the status starts it itself.
                await StartAsync();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The status still answers (the timer runs while active); the reminder is tried again when next asked.
                LogReminderNotRegistered(logger, e.GetType().Name, e);
            }
        }

        return new SchedulerStatus
        {
            Enabled = _options.Enabled,
            IntervalSeconds = _options.Interval.TotalSeconds,
            Samples = _options.Samples,
            Runs = state.State.Runs,
            LastRunAt = state.State.LastRunAt,
            NextRunAt = _options.Enabled ? NextRun : null,
            LastError = state.State.LastError,
            ReminderPeriodSeconds = _reminderRegistered ? ReminderPeriod.TotalSeconds : null,
            LastHeld = _lastHeld,
        };
    }

    // The last run's held steps, in memory only: the console shows what the latest run on this activation held back.
    private string[] _lastHeld = [];

    private async Task<SchedulerRun> RunCoreAsync()
    {
        var now = Time.GetUtcNow();
        var (previousRuns, previousAt) = (state.State.Runs, state.State.LastRunAt);
        var run = previousRuns + 1;
        state.State.Runs = run;
        state.State.LastRunAt = now;
        try
        {
            // Claims the run's number before anything else: a second activation's write fails on the stale etag.
            await state.WriteStateAsync();
        }
        catch (Exception e)
        {
            // Nothing of the run happened: as it was, with the failure shown in the status (kept in memory, since the
            // store refused it).
            metrics.SchedulerRan(ok: false);
            (state.State.Runs, state.State.LastRunAt) = (previousRuns, previousAt);
            state.State.LastError = $"run {run} could not start: its state could not be written ({e.GetType().Name})";
            throw;
        }

        try
        {
            var result = await RunStepsAsync(run, now);
            state.State.LastError = null;
            await state.WriteStateAsync();
            metrics.SchedulerRan(ok: true);
            foreach (var change in result.Changes)
            {
                metrics.SchedulerChanged(change.Kind);
            }

            return result;
        }
        catch (Exception e)
        {
            metrics.SchedulerRan(ok: false);

            // The next run starts from what is stored, exactly as after a crash: what this run holds in memory
            // (samples, a half-finished plan) may be ahead of or behind the store.
            DeactivateOnIdle();
            state.State.LastError = $"run {run} failed: {e.GetType().Name}";
            try
            {
                await state.WriteStateAsync();
            }
            catch (Exception write) when (write is not OperationCanceledException)
            {
                // The run's own failure is the one to report.
                LogStateNotSaved(logger, write.GetType().Name);
            }

            throw;
        }
    }

    private async Task<SchedulerRun> RunStepsAsync(long run, DateTimeOffset now)
    {
        var tenancy = GrainFactory.GetGrain<ITenancyGrain>(0);
        var upstreams = await tenancy.GetUpstreamsAsync();
        var tenants = await tenancy.GetTenantsAsync();

        // Use: a sample from each tenant whose reserve adapts, once per window of its upstream (the use of the window
        // before it), so runs asked for in quick succession do not count the same use again. Use sampled before the
        // tenant's reserve last changed does not count towards its next change.
        var samples = new Dictionary<string, List<UsageSample>>(StringComparer.Ordinal);
        var due = new List<TenantView>();
        foreach (var tenant in tenants.Where(SchedulerPlanner.Adapts))
        {
            var kept = (state.State.Samples.GetValueOrDefault(tenant.Id) ?? [])
                .Where(s => tenant.AdaptedAt is not { } changed || s.At > changed)
                .ToList();
            samples[tenant.Id] = kept;
            if (kept.Count == 0 || now - kept[^1].At >= TimeSpan.FromSeconds(tenant.WindowSeconds))
            {
                due.Add(tenant);
            }
        }

        var leases = await Task.WhenAll(due.Select(t => GrainFactory.GetGrain<ITenantGrain>(t.Id).GetLeaseStateAsync()));
        for (var i = 0; i < due.Count; i++)
        {
            samples[due[i].Id].Add(new UsageSample { At = now, Used = leases[i].Used });
        }

        foreach (var (id, kept) in samples)
        {
            samples[id] = kept.TakeLast(_options.Samples).ToList();
        }

        state.State.Samples = samples;

        // Tokens: use, in-flight requests and health of those a rule can act on (every token of an upstream with
        // dedicated or hybrid tenants, to rotate between; elsewhere tokens with or named as a successor). The others
        // are not read, so idle token grains are not kept active by the scheduler.
        var keys = upstreams.SelectMany(u => RuleTokens(u, tenants).Select(id => TokenKeys.Key(u.Name, id))).ToArray();
        var statuses = await Task.WhenAll(keys.Select(k => GrainFactory.GetGrain<IUpstreamTokenGrain>(k).GetStatusAsync()));
        var tokens = new Dictionary<string, TokenAllocation>(StringComparer.Ordinal);
        for (var i = 0; i < keys.Length; i++)
        {
            if (statuses[i] is { } status)
            {
                tokens[keys[i]] = status;
            }
        }

        var (actions, planHeld) = SchedulerPlanner.Plan(new SchedulerInput(upstreams, tenants, samples, tokens, now, tenancyOptions.Value.LeaseTtl, _options));
        var outcome = actions.Count > 0 ? await tenancy.ScheduleAsync(run, [.. actions]) : new ScheduleOutcome();
        foreach (var change in outcome.Applied)
        {
            LogChange(logger, run, change.Kind, change.Subject, change.Old, change.New, change.Reason);
        }

        _lastHeld = [.. planHeld, .. outcome.Held];
        return new SchedulerRun
        {
            Run = run,
            At = now,
            Changes = outcome.Applied,
            Held = _lastHeld,
            TenantsSampled = due.Count,
            TokensRead = tokens.Count,
        };
    }

    private static IEnumerable<string> RuleTokens(UpstreamView upstream, TenantView[] tenants) =>
        tenants.Any(t => t.Upstream == upstream.Name && t.Strategy is TenantStrategy.Dedicated or TenantStrategy.Hybrid)
            ? upstream.Tokens.Select(t => t.Id)
            : upstream.Tokens.Where(t => t.Successor is not null).Select(t => t.Id)
                .Union(upstream.Tokens.Select(t => t.Successor).OfType<string>(), StringComparer.Ordinal);

    /// <summary>Wakes at the next run.</summary>
    private void Arm()
    {
        if (_timer is null)
        {
            return;
        }

        var wait = NextRun - Time.GetUtcNow();
        _timer.Change(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Scheduler run {Run}: {Kind} {Subject} {Old} -> {New} ({Reason}).")]
    private static partial void LogChange(ILogger logger, long run, string kind, string subject, string? old, string? @new, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Scheduler run {Run} failed ({ErrorType}); the next tick tries again.")]
    private static partial void LogRunFailed(ILogger logger, long run, string errorType, Exception error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Scheduler could not register its reminder ({ErrorType}); the next status request tries again.")]
    private static partial void LogReminderNotRegistered(ILogger logger, string errorType, Exception error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Scheduler could not save its state after a failed run ({ErrorType}).")]
    private static partial void LogStateNotSaved(ILogger logger, string errorType);
}
