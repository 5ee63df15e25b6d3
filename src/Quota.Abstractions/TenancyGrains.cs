using Orleans.Concurrency;

namespace Quota.Abstractions;

/// <summary>What a token grain is configured with (silo-internal: it carries the secret's envelope, never the secret).</summary>
[GenerateSerializer, Immutable, Alias("quota.TokenSetup")]
public sealed record TokenSetup
{
    /// <summary>The token as shown.</summary>
    [Id(0)] public required TokenView Token { get; init; }

    /// <summary>The policies it enforces: the configured ones less the buffer.</summary>
    [Id(1)] public PolicySpec[] Enforced { get; init; } = [];

    /// <summary>The encrypted secret; null when none is stored.</summary>
    [Id(2)] public string? SecretEnvelope { get; init; }
}

/// <summary>What a pool grain is configured with.</summary>
[GenerateSerializer, Immutable, Alias("quota.PoolSetup")]
public sealed record PoolSetup
{
    /// <summary>The upstream with its capacity and tokens.</summary>
    [Id(0)] public required UpstreamView Upstream { get; init; }

    /// <summary>The tenants that borrow from the pool (shared and hybrid).</summary>
    [Id(1)] public TenantView[] Tenants { get; init; } = [];
}

/// <summary>
/// The tenancy configuration of the cluster: upstreams, their tokens and the tenants. One per cluster, persisted.
/// Every change is validated whole (the reservation rule, references, policies) and then pushed to the pool,
/// tenant and token grains it concerns. Not on the request path.
/// </summary>
[Alias("quota.ITenancyGrain")]
public interface ITenancyGrain : IGrainWithIntegerKey
{
    /// <summary>Validates <paramref name="change"/> against the whole configuration; applies it unless a problem is found or <paramref name="dryRun"/>.</summary>
    [Alias("Change")]
    Task<TenancyOutcome> ChangeAsync(TenancyChange change, bool dryRun);

    /// <summary>Every upstream, sorted by name.</summary>
    [AlwaysInterleave, Alias("Upstreams")]
    Task<UpstreamView[]> GetUpstreamsAsync();

    /// <summary>Every tenant, sorted by id.</summary>
    [AlwaysInterleave, Alias("Tenants")]
    Task<TenantView[]> GetTenantsAsync();

    /// <summary>One upstream, or null.</summary>
    [AlwaysInterleave, Alias("Upstream")]
    Task<UpstreamView?> GetUpstreamAsync(string name);

    /// <summary>One tenant, or null.</summary>
    [AlwaysInterleave, Alias("Tenant")]
    Task<TenantView?> GetTenantAsync(string id);

    /// <summary>What a token grain needs, or null when the token is not configured.</summary>
    [AlwaysInterleave, Alias("TokenSetup")]
    Task<TokenSetup?> GetTokenSetupAsync(string upstream, string id);

    /// <summary>What a pool grain needs, or null when the upstream is not configured.</summary>
    [AlwaysInterleave, Alias("PoolSetup")]
    Task<PoolSetup?> GetPoolSetupAsync(string upstream);

    /// <summary>
    /// The re-encryption step of a master-key rotation: every stored token secret sealed under an older listed key is
    /// opened and sealed again under the newest (<c>Quota:Secrets:MasterKeys:0</c>), written whole, and pushed to the
    /// token grains. Running it again changes nothing. Secrets that cannot be opened are left as they are and named.
    /// </summary>
    [Alias("ReencryptSecrets")]
    Task<SecretRotation> ReencryptSecretsAsync();

    /// <summary>
    /// The tokens an acquisition naming <paramref name="tenant"/> and/or <paramref name="upstream"/> may use, or a
    /// problem naming the field (unknown tenant or upstream, a tenant of another upstream).
    /// </summary>
    [AlwaysInterleave, Alias("Route")]
    Task<RouteAnswer> GetRouteAsync(string? tenant, string? upstream);

    /// <summary>
    /// Takes a scheduler run's steps in order: each is applied only when the configuration is still as the step
    /// expects and the whole stays valid (the reservation rule, references); the changes made and their history
    /// entries are written together, then pushed like any change.
    /// </summary>
    [Alias("Schedule")]
    Task<ScheduleOutcome> ScheduleAsync(long run, [Immutable] SchedulerAction[] actions);

    /// <summary>The scheduler's changes, newest first, optionally only those of one subject (<c>tenant:acme</c>).</summary>
    [AlwaysInterleave, Alias("SchedulerHistory")]
    Task<SchedulerChange[]> GetSchedulerHistoryAsync(int limit, string? subject);
}

/// <summary>What the re-encryption step did.</summary>
[GenerateSerializer, Immutable, Alias("quota.SecretRotation")]
public sealed record SecretRotation
{
    /// <summary>The fingerprint of the newest master key, which every re-encrypted secret is now sealed under.</summary>
    [Id(0)] public string? KeyId { get; init; }

    /// <summary>Secrets sealed again under the newest key.</summary>
    [Id(1)] public int Reencrypted { get; init; }

    /// <summary>Secrets already under the newest key.</summary>
    [Id(2)] public int Current { get; init; }

    /// <summary>Secrets that could not be opened (their key is no longer listed, or they were altered): token and why, never the secret.</summary>
    [Id(3)] public string[] Unreadable { get; init; } = [];
}

/// <summary>A route, or why there is none.</summary>
[GenerateSerializer, Immutable, Alias("quota.RouteAnswer")]
public sealed record RouteAnswer
{
    /// <summary>The route; null with <see cref="Problem"/>.</summary>
    [Id(0)] public TokenRoute? Route { get; init; }

    /// <summary>Why there is no route.</summary>
    [Id(1)] public FieldProblem? Problem { get; init; }

    /// <summary>Whether the problem is an unknown subject (404) rather than a bad request (400).</summary>
    [Id(2)] public bool Unknown { get; init; }
}

/// <summary>
/// An upstream's shared pool: lends what its pooled tokens allow beyond the tenants' reserves, as leases computed by
/// weighted max-min fairness over the tenants' reported demand. Never lends more than it has: after it moves or
/// restarts it relearns what tenants hold before lending more.
/// </summary>
[Alias("quota.IPoolGrain")]
public interface IPoolGrain : IGrainWithStringKey
{
    /// <summary>Replaces the lease a tenant holds with a new one for its demand.</summary>
    [Alias("Refresh")]
    Task<LeaseGrant> RefreshAsync(LeaseRequest request);

    /// <summary>The allocation now, with each token's use and health; null when the upstream is not configured.</summary>
    [AlwaysInterleave, Alias("Allocation")]
    Task<AllocationReport?> GetAllocationAsync();
}

/// <summary>A tenant's lease state as it reports it.</summary>
[GenerateSerializer, Immutable, Alias("quota.TenantLeaseState")]
public sealed record TenantLeaseState
{
    /// <summary>Whether the tenant is configured.</summary>
    [Id(0)] public bool Known { get; init; }

    /// <summary>Its reserve.</summary>
    [Id(1)] public long Reserved { get; init; }

    /// <summary>The lease it holds.</summary>
    [Id(2)] public long Lease { get; init; }

    /// <summary>Milliseconds until that lease expires.</summary>
    [Id(3)] public long LeaseTtlMs { get; init; }

    /// <summary>Its demand as last measured.</summary>
    [Id(4)] public long Demand { get; init; }

    /// <summary>Permits it took in the current window.</summary>
    [Id(5)] public long Used { get; init; }
}

/// <summary>
/// A tenant: serves requests from its reserve and its lease locally (a sliding window of reserve + lease per
/// upstream window) and refreshes the lease with its measured demand on its own timer.
/// </summary>
[Alias("quota.ITenantGrain")]
public interface ITenantGrain : ISubjectGrain
{
    /// <summary>Reports demand to the pool and takes the lease it answers (the tenant's timer calls this).</summary>
    [Alias("RefreshLease")]
    Task<TenantLeaseState> RefreshLeaseAsync();

    /// <summary>The lease state now.</summary>
    [Alias("LeaseState")]
    Task<TenantLeaseState> GetLeaseStateAsync();
}

/// <summary>
/// An upstream credential, keyed <c>{upstream}/{tokenId}</c>: enforces the upstream's limits for it (less the
/// buffer) as a hard ceiling whatever tenants were granted, and keeps its circuit breaker.
/// </summary>
[Alias("quota.IUpstreamTokenGrain")]
public interface IUpstreamTokenGrain : ISubjectGrain
{
    /// <summary>
    /// Records what the upstream answered on this token; answers the breaker's state after it, or null when the
    /// token is not configured. Failures are statuses 0 (no answer) and 500 or above; 429 is rate limiting, not a
    /// failure; anything else is a success.
    /// </summary>
    [Alias("Report")]
    Task<TokenHealth?> ReportAsync(UpstreamFeedback feedback);

    /// <summary>The token's use and health now; null when it is not configured.</summary>
    [Alias("Status")]
    Task<TokenAllocation?> GetStatusAsync();
}
