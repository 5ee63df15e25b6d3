using Quota.Abstractions;

namespace Quota.Grains.Tenancy;

/// <summary>The persisted tenancy configuration: upstreams with their tokens, and tenants, as written.</summary>
[GenerateSerializer, Alias("quota.TenancyState")]
public sealed class TenancyState
{
    /// <summary>Upstreams by name.</summary>
    [Id(0)] public Dictionary<string, StoredUpstream> Upstreams { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Tenants by id, as written (defaults resolved when read).</summary>
    [Id(1)] public Dictionary<string, TenantSpec> Tenants { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Reserves the scheduler adapted, by tenant; each holds only while the written reserve is the one it was adapted from.</summary>
    [Id(2)] public Dictionary<string, ReserveAdjustment> Adjusted { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The scheduler's changes, oldest first, the newest <see cref="TenancyModel.HistoryCapacity"/>; written with the changes themselves.</summary>
    [Id(3)] public List<SchedulerChange> History { get; set; } = [];
}

/// <summary>A reserve the scheduler adapted.</summary>
[GenerateSerializer, Alias("quota.ReserveAdjustment")]
public sealed class ReserveAdjustment
{
    /// <summary>The reserve in force.</summary>
    [Id(0)] public long Reserved { get; set; }

    /// <summary>The written reserve it was adapted from: when an operator writes another, theirs applies again.</summary>
    [Id(1)] public long Configured { get; set; }

    /// <summary>When the scheduler last changed it: use sampled before this does not count towards the next step.</summary>
    [Id(2)] public DateTimeOffset At { get; set; }

    /// <summary>The upstream the tenant used then: a tenant moved elsewhere starts from its written reserve.</summary>
    [Id(3)] public string? Upstream { get; set; }
}

/// <summary>An upstream as stored.</summary>
[GenerateSerializer, Alias("quota.StoredUpstream")]
public sealed class StoredUpstream
{
    /// <summary>Its settings as written.</summary>
    [Id(0)] public UpstreamSpec Spec { get; set; } = new();

    /// <summary>Its tokens by id.</summary>
    [Id(1)] public Dictionary<string, StoredToken> Tokens { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>A token as stored: the secret only as an envelope.</summary>
[GenerateSerializer, Alias("quota.StoredToken")]
public sealed class StoredToken
{
    /// <summary>The upstream's limits for it.</summary>
    [Id(0)] public PolicySpec[] Policies { get; set; } = [];

    /// <summary>The tenant it is dedicated to.</summary>
    [Id(1)] public string? DedicatedTo { get; set; }

    /// <summary>The encrypted secret (<see cref="Storage.SecretProtector"/>), purpose <see cref="TenancyModel.SecretPurpose"/>.</summary>
    [Id(2)] public string? SecretEnvelope { get; set; }

    /// <summary>The token that replaces it.</summary>
    [Id(3)] public string? Successor { get; set; }

    /// <summary>Set by the scheduler once the successor took over: no longer routed to nor counted in the pool.</summary>
    [Id(4)] public DateTimeOffset? RetiringSince { get; set; }

    /// <summary>The scheduler's assignment (a rotation, a drain, a successor taking over), over the written <see cref="DedicatedTo"/>.</summary>
    [Id(5)] public TokenAssignment? Assignment { get; set; }

    /// <summary>
    /// Whom the token serves: the scheduler's assignment while the written <see cref="DedicatedTo"/> is the one it was
    /// made over (re-applying an unchanged document keeps it), else the written one (an operator's new word wins).
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string? Owner => Assignment is { } assigned && assigned.Over == DedicatedTo ? assigned.To : DedicatedTo;

    /// <summary>Makes <paramref name="owner"/> whom the token serves, as an assignment over the written value.</summary>
    public void Assign(string? owner) => Assignment = owner == DedicatedTo ? null : new TokenAssignment { To = owner, Over = DedicatedTo };
}

/// <summary>Whom the scheduler made a token serve, and over which written value.</summary>
[GenerateSerializer, Alias("quota.TokenAssignment")]
public sealed class TokenAssignment
{
    /// <summary>The tenant it serves; null: pooled.</summary>
    [Id(0)] public string? To { get; set; }

    /// <summary>The written <c>dedicatedTo</c> it was made over.</summary>
    [Id(1)] public string? Over { get; set; }
}
