using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Storage;
using Quota.Grains.Subjects;

namespace Quota.Grains.Tenancy;

/// <summary>
/// A tenant: a subject with one policy, <c>allowance</c>, its reserve plus its lease per upstream window (an exact
/// sliding log up to 10,000 permits, a sliding window above), so requests are served here without calling the pool. Its own timer renews the lease with the demand it
/// measured; see <see cref="ITenantGrain"/>.
/// </summary>
/// <remarks>
/// <para><b>Demand</b> is what arrived here (granted or not) per upstream window since the last refresh, less the
/// reserve, capped at the burst. Callers that retry a denial count again; that only makes a tenant look hungrier,
/// and max-min fairness gives nobody more than an equal share for it.</para>
/// <para><b>Safety.</b> The lease's expiry is counted from before the refresh was sent, so the tenant stops using it
/// no later than the pool counts it as returned. When the lease lapses (the pool did not answer) the allowance falls
/// back to the reserve at the expiry instant, by timer.</para>
/// <para><b>Borrowing.</b> When the allowance cannot admit a request and the pool's last answer left capacity unlent,
/// the tenant borrows at once: it asks the pool with its demand raised to what it needs in this window now (what it
/// used, what waits, this request; capped at its burst), by the same rule as a refresh. One borrow (or refresh) is out
/// at a time, and every request that arrives meanwhile waits for its answer, at most
/// <see cref="TenancyOptions.BorrowWait"/>, before it is decided; a caller with no wait included, since the borrow is
/// one grain call. A borrow does not move the refresh: what the burst did not use goes back at the next refresh, as
/// measured demand falls. While the pool answers that nothing is unlent (or relearns), or after a borrow that gained
/// nothing, the tenant does not borrow again until its next refresh.</para>
/// <para>A tenant with nothing to serve (no reserve, no lease) that cannot borrow denies with <c>allowance</c> until its
/// lease arrives; such a denial asks for a lease at once, at most once per second, instead of waiting for the next
/// refresh.</para>
/// </remarks>
[GrainType("tenant")]
public sealed partial class TenantGrain : SubjectGrain, ITenantGrain, ITenantClusterGrain, IPolicySource, ISubjectGate
{
    /// <summary>The tenant's one policy.</summary>
    public const string AllowancePolicy = "allowance";

    private static readonly TimeSpan EarlyRefreshSpacing = TimeSpan.FromSeconds(1);
    private readonly TenancyOptions _options;
    private readonly ILogger _logger;
    private TenantView? _tenant;
    private long _lease;
    private long _epoch;
    private long _sequence;
    private DateTimeOffset _leaseExpires;
    private long _arrived;
    private DateTimeOffset _measuredSince;
    private long _demand;
    private DateTimeOffset _nextRefresh;
    private DateTimeOffset _lastRefreshStarted = DateTimeOffset.MinValue;
    private Task<TenantLeaseState>? _refreshing;
    private Task _answered = Task.CompletedTask;
    private long _unlent = long.MaxValue;
    private long _waitingForAnswer;
    private bool _borrowGainedNothing;
    private ITimer? _timer;
    private ITenantClusterGrain? _self;

    /// <summary>Creates the tenant: its policy is its allowance, and the allowance is its gate.</summary>
    public TenantGrain(SubjectServices services, IOptions<TenancyOptions> options, ILogger<TenantGrain> logger)
        : base(services, logger, SubjectKind.Tenant, SubjectExistence.FromSource)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _logger = logger;
        Subject.Supply(policies: this, gate: this);
    }

    private string Id => this.GetPrimaryKeyString();

    private TimeProvider Time => Subject.Time;

    private bool BorrowsFromPool => _tenant is { Strategy: not TenantStrategy.Dedicated };

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _self = this.AsReference<ITenantClusterGrain>();
        _tenant = await GrainFactory.GetGrain<ITenancyGrain>(0).GetTenantAsync(Id);
        _measuredSince = Time.GetUtcNow();
        await base.OnActivateAsync(cancellationToken);
        _timer = Time.CreateTimer(static state => ((TenantGrain)state!)._self?.TickAsync(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        // The first lease is asked for at once.
        _nextRefresh = Time.GetUtcNow();
        Arm();
    }

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _timer = null;
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <inheritdoc />
    public Task ConfigureAsync(TenantView? tenant)
    {
        var before = _tenant;
        _tenant = tenant;
        var samePool = before is not null && tenant is not null && before.Upstream == tenant.Upstream
            && before.WindowSeconds == tenant.WindowSeconds && before.Strategy == tenant.Strategy;
        if (!samePool)
        {
            // A lease belongs to the pool and window it was granted for: a tenant moved to another upstream, given
            // another window or strategy, or created afresh starts from its reserve and asks at once (the old pool
            // keeps counting the old lease until it would have expired).
            _lease = 0;
            _leaseExpires = DateTimeOffset.MinValue;
            _nextRefresh = Time.GetUtcNow();
            _unlent = long.MaxValue;
        }

        Subject.Reconfigure();
        Arm();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<TenantLeaseState> RefreshLeaseAsync()
    {
        // One refresh at a time: the timer, an early refresh, a borrow and a caller may ask together.
        if (_refreshing is { IsCompleted: false } running)
        {
            return running;
        }

        return Ask(RefreshCoreAsync());
    }

    /// <summary>Notes the refresh or borrow now out, and what requests wait on: its answer, bounded, never faulting.</summary>
    private Task<TenantLeaseState> Ask(Task<TenantLeaseState> asking)
    {
        _refreshing = asking;
        _answered = asking.IsCompleted ? Task.CompletedTask : AnsweredAsync(asking);
        return asking;
    }

    private async Task AnsweredAsync(Task asking) =>
        await asking.WaitAsync(_options.BorrowWait, Time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);

    /// <inheritdoc />
    public Task ReviseLeaseAsync(LeaseGrant revision)
    {
        ArgumentNullException.ThrowIfNull(revision);
        var now = Time.GetUtcNow();
        if (Newer(revision))
        {
            // Never later than the expiry it already counts with.
            var expires = now + TimeSpan.FromMilliseconds(revision.TtlMs);
            Take(revision, _leaseExpires > now && _leaseExpires < expires ? _leaseExpires : expires);

            // A pool that lowers leases has given out what it had.
            _unlent = 0;
            Subject.Reconfigure();
            Arm();
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<bool> IsActiveAsync() => Task.FromResult(_arrived > 0 || _waitingForAnswer > 0);

    /// <inheritdoc />
    public async Task TickAsync()
    {
        var now = Time.GetUtcNow();
        DropLapsedLease(now);
        if (now >= _nextRefresh)
        {
            try
            {
                await RefreshLeaseAsync();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The pool did not answer: keep the lease it has until that expires, and try again at the next refresh.
                LogRefreshFailed(_logger, Id, e.GetType().Name);
                _nextRefresh = Time.GetUtcNow() + _options.LeaseRefresh;
            }
        }

        Arm();
    }

    /// <inheritdoc />
    public Task<TenantLeaseState> GetLeaseStateAsync() => Task.FromResult(State(Time.GetUtcNow()));

    /// <inheritdoc />
    bool IPolicySource.IsConfigured => _tenant is not null;

    /// <inheritdoc />
    IReadOnlyList<PolicyDefinition>? IPolicySource.CurrentPolicies() => _tenant is null
        ? null
        : [new PolicyDefinition
        {
            Name = AllowancePolicy,

            // Exact (at most the allowance in any window) where a log is affordable; the weighted two-bucket
            // estimate under-admits bursty demand by several percent, which would leave the pool's capacity unused.
            Algorithm = Allowance <= PolicyDefinition.MaxSlidingLogLimit ? AlgorithmKind.SlidingLog : AlgorithmKind.SlidingWindow,

            // A policy needs a limit of at least 1; an allowance of 0 is denied by the gate instead.
            Limit = Math.Max(1, Allowance),
            Window = TimeSpan.FromSeconds(_tenant.WindowSeconds),
        }];

    /// <inheritdoc />
    (DenialCause Cause, TimeSpan RetryAfter)? ISubjectGate.Deny(SubjectAcquire request, DateTimeOffset now)
    {
        if (Allowance > 0 || request.Cost == 0)
        {
            return null;
        }

        // Nothing to serve from until a lease arrives: ask for one now rather than at the next refresh.
        if (BorrowsFromPool && now - _lastRefreshStarted >= EarlyRefreshSpacing)
        {
            _nextRefresh = now;
            _self?.TickAsync();
        }

        return (DenialCause.Allowance, _nextRefresh > now ? _nextRefresh - now : EarlyRefreshSpacing);
    }

    /// <inheritdoc />
    SubjectDecision ISubjectGate.Granted(SubjectAcquire request, SubjectDecision decision) => decision;

    /// <inheritdoc />
    Task? ISubjectGate.Before(SubjectAcquire request, DateTimeOffset now, Func<long, DateTimeOffset, bool> policiesAdmit)
    {
        if (!BorrowsFromPool || request.Cost <= 0)
        {
            return null;
        }

        var asking = _refreshing is { IsCompleted: false };
        if ((!asking && (_unlent <= 0 || _borrowGainedNothing)) || (Allowance > 0 && policiesAdmit(request.Cost, now)))
        {
            return null;
        }

        if (!asking)
        {
            // Nothing to gain from a demand the lease already covers (its burst reached).
            var demand = Math.Max(_demand, Need(request.Cost));
            if (demand <= _lease && now < _leaseExpires)
            {
                return null;
            }

            Ask(BorrowAsync(demand));
        }

        return WaitForAnswerAsync(request.Cost);
    }

    /// <summary>Waits, counted in what the tenant needs, for the refresh or borrow out now.</summary>
    private async Task WaitForAnswerAsync(long cost)
    {
        _waitingForAnswer += cost;
        try
        {
            await _answered;
        }
        finally
        {
            _waitingForAnswer -= cost;
        }
    }

    /// <summary>Beyond the reserve in this window: what was used, what waits for an answer, and <paramref name="cost"/>; capped at the burst.</summary>
    private long Need(long cost)
    {
        var need = Math.Max(0, Used() + _waitingForAnswer + cost - _tenant!.Reserved);
        return _tenant.Burst is { } burst ? Math.Min(burst, need) : need;
    }

    /// <inheritdoc />
    void ISubjectGate.Arrived(SubjectAcquire request)
    {
        _arrived += Math.Max(0, request.Cost);

        // The expiry timer drops a lapsed lease; should it run late, the next request does.
        DropLapsedLease(Time.GetUtcNow());
    }

    private void DropLapsedLease(DateTimeOffset now)
    {
        if (_lease > 0 && now >= _leaseExpires)
        {
            _lease = 0;
            Subject.Reconfigure();
        }
    }

    private long Allowance => _tenant is null ? 0 : _tenant.Reserved + _lease;

    private async Task<TenantLeaseState> RefreshCoreAsync()
    {
        var now = Time.GetUtcNow();
        _lastRefreshStarted = now;
        _nextRefresh = now + _options.LeaseRefresh;
        if (_tenant is null || !BorrowsFromPool)
        {
            return State(now);
        }

        MeasureDemand(now);
        var tenant = _tenant;
        var grant = await GrainFactory.GetGrain<IPoolGrain>(tenant.Upstream).RefreshAsync(new LeaseRequest
        {
            Tenant = Id,
            Demand = _demand,
            Used = Used(),
            LeaseInForce = now < _leaseExpires ? _lease : 0,
            LeaseInForceTtlMs = now < _leaseExpires ? DecisionResults.CeilingMilliseconds(_leaseExpires - now) : 0,
        });
        if (!ReferenceEquals(tenant, _tenant))
        {
            // Reconfigured while the refresh was out (moved to another upstream, removed): the answer is stale.
            return State(Time.GetUtcNow());
        }

        // A revision sent after this grant may have arrived first: then this grant is stale.
        if (Newer(grant))
        {
            Take(grant, now + TimeSpan.FromMilliseconds(grant.TtlMs));
        }

        _unlent = grant.Unlent;
        _borrowGainedNothing = false;
        _nextRefresh = now + TimeSpan.FromMilliseconds(Math.Max(1, grant.RefreshMs));
        Subject.Reconfigure();
        Arm();
        return State(Time.GetUtcNow());
    }

    /// <summary>Asks the pool at once for <paramref name="demand"/>; the refresh schedule and the demand measurement are left as they were.</summary>
    private async Task<TenantLeaseState> BorrowAsync(long demand)
    {
        var now = Time.GetUtcNow();
        _lastRefreshStarted = now;
        var tenant = _tenant!;
        LeaseGrant grant;
        try
        {
            grant = await GrainFactory.GetGrain<IPoolGrain>(tenant.Upstream).RefreshAsync(new LeaseRequest
            {
                Tenant = Id,
                Demand = demand,
                Used = Used(),
                LeaseInForce = now < _leaseExpires ? _lease : 0,
                LeaseInForceTtlMs = now < _leaseExpires ? DecisionResults.CeilingMilliseconds(_leaseExpires - now) : 0,
                Borrowing = true,
            });
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Requests go on with what the tenant holds; the next refresh asks again.
            LogBorrowFailed(_logger, Id, e.GetType().Name);
            _unlent = 0;
            return State(Time.GetUtcNow());
        }

        if (!ReferenceEquals(tenant, _tenant))
        {
            return State(Time.GetUtcNow());
        }

        var before = _lease;
        if (Newer(grant))
        {
            Take(grant, now + TimeSpan.FromMilliseconds(grant.TtlMs));
        }

        // An answer that gained nothing (others hold their shares, or what is unlent is held for quiet tenants) stops
        // borrowing until the next refresh, so a burst does not ask again for every request.
        _borrowGainedNothing = _lease <= before;
        _unlent = grant.Unlent;
        Subject.Reconfigure();
        Arm();
        return State(Time.GetUtcNow());
    }

    private bool Newer(LeaseGrant grant) => grant.Epoch != _epoch || grant.Sequence > _sequence;

    private void Take(LeaseGrant grant, DateTimeOffset expires)
    {
        _epoch = grant.Epoch;
        _sequence = grant.Sequence;
        _lease = Math.Max(0, grant.Amount);
        _leaseExpires = expires;
    }

    /// <summary>Demand per upstream window from what arrived since the last measurement; kept when too little time has passed to tell.</summary>
    private void MeasureDemand(DateTimeOffset now)
    {
        var elapsed = now - _measuredSince;
        if (elapsed < EarlyRefreshSpacing && _demand > 0)
        {
            return;
        }

        var window = TimeSpan.FromSeconds(_tenant!.WindowSeconds);
        var rate = elapsed <= TimeSpan.Zero ? _arrived : (long)Math.Ceiling(_arrived * (window.Ticks / (double)elapsed.Ticks));
        var beyond = Math.Max(0, rate - _tenant.Reserved);
        _demand = _tenant.Burst is { } burst ? Math.Min(burst, beyond) : beyond;
        _arrived = 0;
        _measuredSince = now;
    }

    private long Used()
    {
        foreach (var reading in Subject.CurrentReadings())
        {
            if (reading.Policy == AllowancePolicy)
            {
                return Math.Max(0, reading.Limit - reading.Remaining);
            }
        }

        return 0;
    }

    private TenantLeaseState State(DateTimeOffset now) => new()
    {
        Known = _tenant is not null,
        Reserved = _tenant?.Reserved ?? 0,
        Lease = _lease,
        LeaseTtlMs = _lease > 0 && now < _leaseExpires ? DecisionResults.CeilingMilliseconds(_leaseExpires - now) : 0,
        Demand = _demand,
        Used = Used(),
    };

    /// <summary>Wakes at the next refresh or the lease's expiry, whichever is first.</summary>
    private void Arm()
    {
        if (_timer is null || !BorrowsFromPool)
        {
            return;
        }

        var now = Time.GetUtcNow();
        var next = _lease > 0 && _leaseExpires < _nextRefresh ? _leaseExpires : _nextRefresh;
        _timer.Change(next > now ? next - now : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tenant {Tenant} could not borrow from its pool ({ErrorType}); it serves from what it holds and asks again at its next refresh.")]
    private static partial void LogBorrowFailed(ILogger logger, string tenant, string errorType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tenant {Tenant} could not refresh its lease ({ErrorType}); it keeps the lease it has until that expires.")]
    private static partial void LogRefreshFailed(ILogger logger, string tenant, string errorType);
}
