namespace Quota.Abstractions;

/// <summary>
/// A tenant as written in the admin API and documents: <c>{ "tier": "standard", "upstream": "baselinker",
/// "reserved": 30, "burst": 10, "weight": 1.0, "strategy": "shared" }</c>. Omitted fields take the tier's defaults
/// (<c>Quota:Tenancy:Tiers</c>). Units are permits per window of the tenant's upstream.
/// </summary>
[GenerateSerializer, Immutable, Alias("quota.TenantSpec")]
public sealed record TenantSpec
{
    /// <summary><c>premium</c>, <c>standard</c> or <c>basic</c>. Default: standard.</summary>
    [Id(0)] public string? Tier { get; init; }

    /// <summary>The upstream whose tokens the tenant uses; required.</summary>
    [Id(1)] public string? Upstream { get; init; }

    /// <summary>Guaranteed permits per window, never lent to others.</summary>
    [Id(2)] public long? Reserved { get; init; }

    /// <summary>The most the tenant may borrow from the pool beyond its reserve, per window; null: the tier's (unbounded by default).</summary>
    [Id(3)] public long? Burst { get; init; }

    /// <summary>Relative share of what the pool lends when it is short; positive.</summary>
    [Id(4)] public double? Weight { get; init; }

    /// <summary>
    /// <c>shared</c> (the pool), <c>dedicated</c> (its own tokens only) or <c>hybrid</c> (its own first, then the pool), as
    /// written: checked when the change is validated, read as a <see cref="TenantStrategy"/> (<see cref="TenantStrategies"/>).
    /// </summary>
    [Id(5)] public string? Strategy { get; init; }

    /// <summary>Service class when the pool is short: higher classes are served first (0 to 9).</summary>
    [Id(6)] public int? Priority { get; init; }

    /// <summary>How the scheduler may adapt the reserve; null: adapted, without bounds beyond the rule's.</summary>
    [Id(7)] public AdaptiveSpec? Adaptive { get; init; }
}

/// <summary>
/// Whether and within which bounds the scheduler adapts a tenant's reserve to its use:
/// <c>{ "enabled": true, "minimum": 20, "maximum": 80 }</c>.
/// </summary>
[GenerateSerializer, Immutable, Alias("quota.AdaptiveSpec")]
public sealed record AdaptiveSpec
{
    /// <summary>False opts the tenant out: its reserve stays as written. Default: true.</summary>
    [Id(0)] public bool? Enabled { get; init; }

    /// <summary>The least the scheduler lowers the reserve to (the rule's own floor of 10 applies too).</summary>
    [Id(1)] public long? Minimum { get; init; }

    /// <summary>The most the scheduler raises the reserve to; null: as far as the 80% reservation rule allows.</summary>
    [Id(2)] public long? Maximum { get; init; }

    /// <summary><paramref name="reserve"/> within the bounds.</summary>
    public long Clamp(long reserve) => Math.Clamp(reserve, Minimum ?? 0, Math.Max(Minimum ?? 0, Maximum ?? long.MaxValue));
}

/// <summary>An upstream as written: <c>{ "bufferPercent": 5, "window": "00:01:00" }</c>.</summary>
[GenerateSerializer, Immutable, Alias("quota.UpstreamSpec")]
public sealed record UpstreamSpec
{
    /// <summary>Safety margin kept unused on every token, in percent (0 to 50). Default: 5.</summary>
    [Id(0)] public double? BufferPercent { get; init; }

    /// <summary>The window leases and reserves are counted in. Default: one minute.</summary>
    [Id(1)] public TimeSpan? Window { get; init; }
}

/// <summary>
/// An upstream credential as written: <c>{ "secret": "…", "policies": [ POLICY ], "dedicatedTo": null }</c>. The
/// secret is encrypted at rest and never echoed; omitted on an update, the stored one is kept.
/// </summary>
[GenerateSerializer, Immutable, Alias("quota.TokenSpec")]
public sealed record TokenSpec
{
    /// <summary>The credential itself; write-only.</summary>
    [Id(0)] public string? Secret { get; init; }

    /// <summary>The upstream's real limits for this credential; at least one rate policy.</summary>
    [Id(1)] public PolicySpec[]? Policies { get; init; }

    /// <summary>The tenant the token is reserved for; null: in the upstream's pool.</summary>
    [Id(2)] public string? DedicatedTo { get; init; }

    /// <summary>
    /// A token of the same upstream that replaces this one: once it is live the scheduler moves this token's tenant to
    /// it, stops routing here, and removes this token (and its secret) when its leases have ended.
    /// </summary>
    [Id(3)] public string? Successor { get; init; }
}

/// <summary>One token to set (or, with a null <see cref="Spec"/>, remove) in a <see cref="TenancyChange"/>.</summary>
[GenerateSerializer, Immutable, Alias("quota.TokenChange")]
public sealed record TokenChange(
    [property: Id(0)] string Upstream,
    [property: Id(1)] string Id,
    [property: Id(2)] TokenSpec? Spec);

/// <summary>
/// A change to the tenancy configuration, validated and applied whole. A null value removes the entry. Entries the
/// change does not name are left alone.
/// </summary>
[GenerateSerializer, Immutable, Alias("quota.TenancyChange")]
public sealed record TenancyChange
{
    /// <summary>Upstreams to set or remove (removing one removes its tokens).</summary>
    [Id(0)] public Dictionary<string, UpstreamSpec?> Upstreams { get; init; } = [];

    /// <summary>Tokens to set or remove.</summary>
    [Id(1)] public TokenChange[] Tokens { get; init; } = [];

    /// <summary>Tenants to set or remove.</summary>
    [Id(2)] public Dictionary<string, TenantSpec?> Tenants { get; init; } = [];

    /// <summary>Where the change comes from, for the change log: <c>api</c> or <c>apply</c>.</summary>
    [Id(3)] public string Source { get; init; } = "api";
}

/// <summary>One entry changed by a <see cref="TenancyChange"/>; values are JSON without secrets.</summary>
[GenerateSerializer, Immutable, Alias("quota.TenancyChanged")]
public sealed record TenancyChanged(
    [property: Id(0)] string Subject,
    [property: Id(1)] string Action,
    [property: Id(2)] string? Old,
    [property: Id(3)] string? New);

/// <summary>What a <see cref="TenancyChange"/> came to: every problem (then nothing changed), or what changed.</summary>
[GenerateSerializer, Immutable, Alias("quota.TenancyOutcome")]
public sealed record TenancyOutcome
{
    /// <summary>Every problem, each naming its field (<c>tenants.acme.reserved</c>); empty when applied.</summary>
    [Id(0)] public FieldProblem[] Problems { get; init; } = [];

    /// <summary>What changed (or, on a dry run, would change); unchanged entries are not listed.</summary>
    [Id(1)] public TenancyChanged[] Changes { get; init; } = [];
}

/// <summary>A tenant with every default resolved.</summary>
[GenerateSerializer, Immutable, Alias("quota.TenantView")]
public sealed record TenantView
{
    /// <summary>The tenant's id.</summary>
    [Id(0)] public required string Id { get; init; }

    /// <summary>premium, standard or basic.</summary>
    [Id(1)] public required string Tier { get; init; }

    /// <summary>Its upstream.</summary>
    [Id(2)] public required string Upstream { get; init; }

    /// <summary>Guaranteed permits per window.</summary>
    [Id(3)] public long Reserved { get; init; }

    /// <summary>The most it may borrow per window; null: unbounded.</summary>
    [Id(4)] public long? Burst { get; init; }

    /// <summary>Its weight.</summary>
    [Id(5)] public double Weight { get; init; }

    /// <summary>Which tokens it uses; <c>shared</c>, <c>dedicated</c> or <c>hybrid</c> in JSON.</summary>
    [Id(6)] public required TenantStrategy Strategy { get; init; }

    /// <summary>Its service class.</summary>
    [Id(7)] public int Priority { get; init; }

    /// <summary>The upstream's window, in seconds.</summary>
    [Id(8)] public long WindowSeconds { get; init; }

    /// <summary>Tokens dedicated to it and in use (a token being retired is not).</summary>
    [Id(9)] public string[] DedicatedTokens { get; init; } = [];

    /// <summary>The reserve as written (or the tier's); <see cref="Reserved"/> differs when the scheduler adapted it.</summary>
    [Id(10)] public long ConfiguredReserved { get; init; }

    /// <summary>Whether the scheduler adapts the reserve, and its bounds.</summary>
    [Id(11)] public AdaptiveSpec Adaptive { get; init; } = new() { Enabled = true };

    /// <summary>When the scheduler last changed the reserve; null when it is as written.</summary>
    [Id(12)] public DateTimeOffset? AdaptedAt { get; init; }
}

/// <summary>A token as the admin API shows it: never the secret.</summary>
[GenerateSerializer, Immutable, Alias("quota.TokenView")]
public sealed record TokenView
{
    /// <summary>The token's id within its upstream.</summary>
    [Id(0)] public required string Id { get; init; }

    /// <summary>Its upstream.</summary>
    [Id(1)] public required string Upstream { get; init; }

    /// <summary>The upstream's limits for it, as configured.</summary>
    [Id(2)] public PolicySpec[] Policies { get; init; } = [];

    /// <summary>The tenant it serves now (as written, or as the scheduler moved it); null: pooled.</summary>
    [Id(3)] public string? DedicatedTo { get; init; }

    /// <summary>Whether a secret is stored.</summary>
    [Id(4)] public bool HasSecret { get; init; }

    /// <summary>Its limit per upstream window (the tightest rate policy), before the buffer.</summary>
    [Id(5)] public long Limit { get; init; }

    /// <summary>What Quota admits on it per upstream window: the limit less the buffer.</summary>
    [Id(6)] public long Usable { get; init; }

    /// <summary>The token that replaces it, if one is named.</summary>
    [Id(7)] public string? Successor { get; init; }

    /// <summary>Since when it is being retired (no longer routed to, not counted in the pool); null when in use.</summary>
    [Id(8)] public DateTimeOffset? RetiringSince { get; init; }

    /// <summary>The tenant it is dedicated to as written; <see cref="DedicatedTo"/> differs when the scheduler moved it (rotation, drain, successor).</summary>
    [Id(9)] public string? ConfiguredDedicatedTo { get; init; }
}

/// <summary>An upstream with its tokens and the numbers derived from them.</summary>
[GenerateSerializer, Immutable, Alias("quota.UpstreamView")]
public sealed record UpstreamView
{
    /// <summary>Its name.</summary>
    [Id(0)] public required string Name { get; init; }

    /// <summary>The buffer in percent.</summary>
    [Id(1)] public double BufferPercent { get; init; }

    /// <summary>The window, in seconds.</summary>
    [Id(2)] public long WindowSeconds { get; init; }

    /// <summary>The pool's capacity: the pooled tokens' usable permits per window.</summary>
    [Id(3)] public long Capacity { get; init; }

    /// <summary>The reserves of the tenants that use the pool.</summary>
    [Id(4)] public long Reserved { get; init; }

    /// <summary>Its tokens.</summary>
    [Id(5)] public TokenView[] Tokens { get; init; } = [];

    /// <summary>The tenants that use it.</summary>
    [Id(6)] public string[] Tenants { get; init; } = [];
}

/// <summary>Which tokens an acquisition may use, in the order to consider them.</summary>
[GenerateSerializer, Immutable, Alias("quota.TokenRoute")]
public sealed record TokenRoute
{
    /// <summary>The upstream.</summary>
    [Id(0)] public required string Upstream { get; init; }

    /// <summary>Tokens dedicated to the tenant (dedicated and hybrid strategies); used without the pool.</summary>
    [Id(1)] public string[] Dedicated { get; init; } = [];

    /// <summary>Pooled tokens (shared and hybrid strategies, or no tenant); used against the tenant's reserve and lease.</summary>
    [Id(2)] public string[] Pooled { get; init; } = [];
}

/// <summary>What a tenant asks the pool for: at a refresh, or when it borrows because its allowance ran out.</summary>
[GenerateSerializer, Immutable, Alias("quota.LeaseRequest")]
public sealed record LeaseRequest
{
    /// <summary>The tenant.</summary>
    [Id(0)] public required string Tenant { get; init; }

    /// <summary>Permits per window it wants beyond its reserve (measured), capped at its burst.</summary>
    [Id(1)] public long Demand { get; init; }

    /// <summary>Permits it took in the last window.</summary>
    [Id(2)] public long Used { get; init; }

    /// <summary>Its lease from the pool in force now (0 when none).</summary>
    [Id(3)] public long LeaseInForce { get; init; }

    /// <summary>Milliseconds until that lease expires.</summary>
    [Id(4)] public long LeaseInForceTtlMs { get; init; }

    /// <summary>
    /// Whether the tenant asks because its allowance could not admit a request (a borrow, with <see cref="Demand"/>
    /// what it needs in this window now) rather than at its periodic refresh. The pool answers both by the same rule.
    /// </summary>
    [Id(5)] public bool Borrowing { get; init; }
}

/// <summary>A lease: capacity per window beyond the tenant's reserve, until it expires.</summary>
[GenerateSerializer, Immutable, Alias("quota.LeaseGrant")]
public sealed record LeaseGrant
{
    /// <summary>Permits per window.</summary>
    [Id(0)] public long Amount { get; init; }

    /// <summary>Milliseconds until it expires unless refreshed.</summary>
    [Id(1)] public long TtlMs { get; init; }

    /// <summary>Milliseconds until the tenant should refresh it.</summary>
    [Id(2)] public long RefreshMs { get; init; }

    /// <summary>Whether the pool is relearning outstanding leases (after it moved or restarted).</summary>
    [Id(3)] public bool Learning { get; init; }

    /// <summary>Which activation of the pool granted it.</summary>
    [Id(4)] public long Epoch { get; init; }

    /// <summary>
    /// Orders the grants and revisions of one pool activation to one tenant: messages may arrive out of order, and
    /// a tenant applies only what is newer than what it holds.
    /// </summary>
    [Id(5)] public long Sequence { get; init; }

    /// <summary>
    /// What the pool left unlent once this was granted (0 while it relearns, when it renews no more than is held): a
    /// tenant borrows at once when its allowance runs out only while this is above 0, and otherwise waits for its next
    /// refresh. Not set on revisions.
    /// </summary>
    [Id(6)] public long Unlent { get; init; }
}

/// <summary>One tenant's part of an <see cref="AllocationReport"/>.</summary>
[GenerateSerializer, Immutable, Alias("quota.TenantAllocation")]
public sealed record TenantAllocation
{
    /// <summary>The tenant.</summary>
    [Id(0)] public required string Tenant { get; init; }

    /// <summary>Its tier.</summary>
    [Id(1)] public required string Tier { get; init; }

    /// <summary>Its weight.</summary>
    [Id(2)] public double Weight { get; init; }

    /// <summary>Its service class.</summary>
    [Id(3)] public int Priority { get; init; }

    /// <summary>Its reserve.</summary>
    [Id(4)] public long Reserved { get; init; }

    /// <summary>Its burst; null: unbounded.</summary>
    [Id(5)] public long? Burst { get; init; }

    /// <summary>Its last reported demand beyond the reserve.</summary>
    [Id(6)] public long Demand { get; init; }

    /// <summary>Its fair share of what the pool lends, given every demand.</summary>
    [Id(7)] public long FairShare { get; init; }

    /// <summary>The lease it holds.</summary>
    [Id(8)] public long Lease { get; init; }

    /// <summary>Milliseconds until that lease expires.</summary>
    [Id(9)] public long LeaseTtlMs { get; init; }

    /// <summary>Permits it took in its last reported window.</summary>
    [Id(10)] public long Used { get; init; }
}

/// <summary>One token's part of an <see cref="AllocationReport"/>.</summary>
[GenerateSerializer, Immutable, Alias("quota.TokenAllocation")]
public sealed record TokenAllocation
{
    /// <summary>The token.</summary>
    [Id(0)] public required string Id { get; init; }

    /// <summary>The tenant it is dedicated to; null: pooled.</summary>
    [Id(1)] public string? DedicatedTo { get; init; }

    /// <summary>Its limit per window.</summary>
    [Id(2)] public long Limit { get; init; }

    /// <summary>What Quota admits on it per window.</summary>
    [Id(3)] public long Usable { get; init; }

    /// <summary>Permits taken in the current window (the tightest policy).</summary>
    [Id(4)] public long Used { get; init; }

    /// <summary>Used over limit, 0 to 1.</summary>
    [Id(5)] public double Utilisation { get; init; }

    /// <summary>Its circuit breaker.</summary>
    [Id(6)] public required TokenHealth Health { get; init; }

    /// <summary>Concurrency permits held on it now (requests in flight under a concurrency policy).</summary>
    [Id(7)] public long InFlight { get; init; }
}

/// <summary>A token's circuit breaker as reported.</summary>
[GenerateSerializer, Immutable, Alias("quota.TokenHealth")]
public sealed record TokenHealth
{
    /// <summary>closed, open or half-open.</summary>
    [Id(0)] public required string Circuit { get; init; }

    /// <summary>Failures reported in a row.</summary>
    [Id(1)] public int ConsecutiveFailures { get; init; }

    /// <summary>While open: milliseconds until a probe is let through; 0 otherwise.</summary>
    [Id(2)] public long RetryAfterMs { get; init; }

    /// <summary>How often the circuit opened since the token was activated.</summary>
    [Id(3)] public long TimesOpened { get; init; }

    /// <summary>The share of the token's limit in force now: below 1 after the upstream answered 429, recovering step by step.</summary>
    [Id(4)] public double LimitFactor { get; init; } = 1;

    /// <summary>Milliseconds the token is paused for by an upstream Retry-After; 0 when not paused.</summary>
    [Id(5)] public long PausedForMs { get; init; }
}

/// <summary>An upstream's allocation now: capacity, reserves, each tenant's demand, share and lease, each token's use and health.</summary>
[GenerateSerializer, Immutable, Alias("quota.AllocationReport")]
public sealed record AllocationReport
{
    /// <summary>The upstream.</summary>
    [Id(0)] public required string Upstream { get; init; }

    /// <summary>The window, in seconds.</summary>
    [Id(1)] public long WindowSeconds { get; init; }

    /// <summary>Pooled tokens' usable permits per window.</summary>
    [Id(2)] public long Capacity { get; init; }

    /// <summary>The pool tenants' reserves.</summary>
    [Id(3)] public long Reserved { get; init; }

    /// <summary>What the pool lends: capacity now less reserves.</summary>
    [Id(4)] public long Lendable { get; init; }

    /// <summary>The sum of unexpired leases; never above <see cref="Lendable"/>.</summary>
    [Id(5)] public long Leased { get; init; }

    /// <summary>Whether the pool is relearning leases after it moved or restarted.</summary>
    [Id(6)] public bool Learning { get; init; }

    /// <summary>Milliseconds until learning ends; 0 when not learning.</summary>
    [Id(7)] public long LearningEndsInMs { get; init; }

    /// <summary>Every tenant of the upstream.</summary>
    [Id(8)] public TenantAllocation[] Tenants { get; init; } = [];

    /// <summary>Every token of the upstream.</summary>
    [Id(9)] public TokenAllocation[] Tokens { get; init; } = [];

    /// <summary>The silo the pool runs on now (its leases live in that silo's memory).</summary>
    [Id(10)] public string? Silo { get; init; }

    /// <summary>Pooled tokens' permits per window now: <see cref="Capacity"/> less what upstream 429s took (a shrunk or paused token).</summary>
    [Id(11)] public long CapacityNow { get; init; }
}

/// <summary>A client's report of what an upstream answered on a token (<c>POST /v1/feedback</c>).</summary>
[GenerateSerializer, Immutable, Alias("quota.UpstreamFeedback")]
public sealed record UpstreamFeedback
{
    /// <summary>The HTTP status the upstream answered; 0 when no answer came (connection failed, timed out).</summary>
    [Id(0)] public int Status { get; init; }

    /// <summary>The longest <see cref="RetryAfterMs"/> accepted: one day (86,400,000 ms).</summary>
    public const long MaxRetryAfterMs = 86_400_000;

    /// <summary>
    /// The upstream's Retry-After in milliseconds, when it sent one: 0 to <see cref="MaxRetryAfterMs"/>. The HTTP
    /// door refuses other values; a token grain reached directly reads a longer one as a day.
    /// </summary>
    [Id(1)] public long? RetryAfterMs { get; init; }
}
