using Orleans.Concurrency;

namespace Quota.Abstractions;

// Grain methods only the cluster calls: a grain's own timers, the tenancy grain pushing configuration, the pool
// revising leases, a token telling its pool its limit. They are internal (visible to Quota.Grains and its tests
// through InternalsVisibleTo), so what Quota.Client users see holds only what an application may call. Orleans
// generates their proxies here, in the assembly that declares them, as it does for public grain interfaces.

/// <summary>What a subject's own timers call on it (every kind of subject implements it).</summary>
[Alias("quota.ISubjectClusterGrain")]
internal interface ISubjectClusterGrain : IGrainWithStringKey
{
    /// <summary>The subject's own timer: grants waiters whose capacity has come and expires those past their deadline.</summary>
    [OneWay, Alias("Wake")]
    Task WakeAsync();

    /// <summary>
    /// Writes the subject's durable counters now if they changed since the last checkpoint (the subject's own timer
    /// calls it; write-behind otherwise). Completes when the write is done or has failed (failures are retried).
    /// </summary>
    [Alias("Checkpoint")]
    Task CheckpointAsync();
}

/// <summary>What the cluster calls on a tenant (<see cref="ITenantGrain"/>).</summary>
[Alias("quota.ITenantClusterGrain")]
internal interface ITenantClusterGrain : IGrainWithStringKey
{
    /// <summary>Takes a new configuration (the tenancy grain pushes it); null: the tenant was removed.</summary>
    [Alias("ConfigureTenant")]
    Task ConfigureAsync(TenantView? tenant);

    /// <summary>
    /// The pool lowers the lease (fairness moved capacity to others). Applied only when newer than the grant the
    /// tenant holds (<see cref="LeaseGrant.Sequence"/>), so a grant overtaken by a revision does not raise it again.
    /// </summary>
    [Alias("ReviseLease")]
    Task ReviseLeaseAsync(LeaseGrant revision);

    /// <summary>
    /// Whether a request reached the tenant since its last refresh (or one waits for an answer): the pool asks a
    /// tenant that reported less demand than its guaranteed share before lending that share to another tenant that
    /// borrows, so tenants bursting together split the pool fairly.
    /// </summary>
    [AlwaysInterleave, Alias("TenantActive")]
    Task<bool> IsActiveAsync();

    /// <summary>The tenant's own timer: expires a lapsed lease and refreshes when due.</summary>
    [OneWay, Alias("TenantTick")]
    Task TickAsync();
}

/// <summary>What the cluster calls on an upstream token (<see cref="IUpstreamTokenGrain"/>).</summary>
[Alias("quota.ITokenClusterGrain")]
internal interface ITokenClusterGrain : IGrainWithStringKey
{
    /// <summary>Takes a new configuration (the tenancy grain pushes it); null: the token was removed.</summary>
    [Alias("ConfigureToken")]
    Task ConfigureAsync(TokenSetup? setup);

    /// <summary>The token's own timer while its limit is shrunk or paused: tells its pool what it admits as it recovers (idempotent).</summary>
    [Alias("LimitTick")]
    Task LimitTickAsync();
}

/// <summary>What the cluster calls on an upstream's pool (<see cref="IPoolGrain"/>).</summary>
[Alias("quota.IPoolClusterGrain")]
internal interface IPoolClusterGrain : IGrainWithStringKey
{
    /// <summary>Takes a new configuration (the tenancy grain pushes it); null: the upstream was removed.</summary>
    [Alias("Configure")]
    Task ConfigureAsync(PoolSetup? setup);

    /// <summary>
    /// A pooled token tells what it admits per window now that the upstream answered 429 (its limit shrunk, or 0 while
    /// paused by a Retry-After), again at least every recovery interval while so, and null once it is back to its full
    /// limit. The pool lends that much less for <paramref name="validForMs"/> (unless told again), lowering leases above
    /// their new shares at once; a token that stops telling (its grain was collected, and with it the 429 state) counts
    /// in full again.
    /// </summary>
    [Alias("TokenLimit")]
    Task TokenLimitAsync(string token, long? usableNow, long validForMs);
}

/// <summary>What the cluster calls on the scheduler (<see cref="ISchedulerGrain"/>).</summary>
[Alias("quota.ISchedulerClusterGrain")]
internal interface ISchedulerClusterGrain : IGrainWithIntegerKey
{
    /// <summary>Registers the reminder and starts the timer when the scheduler is enabled (each silo calls this at start); idempotent.</summary>
    [Alias("Start")]
    Task StartAsync();

    /// <summary>The timer's tick: runs when a run is due.</summary>
    [OneWay, Alias("SchedulerTick")]
    Task TickAsync();
}
