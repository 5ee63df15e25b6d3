using Quota.Abstractions;

namespace Quota.Grains.Configuration;

/// <summary>
/// Default policies per kind of subject (<c>Quota:Policies</c>). A subject without its own policies (set through
/// the admin API) uses these. Built-in defaults apply unless replaced: users <c>per-minute</c> 100 per minute
/// (sliding window); resource <c>telegram</c> 30 per second, burst 30 (token bucket); resource
/// <c>telegram:chat:*</c> 20 per minute (sliding window).
/// </summary>
public sealed class PolicyOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Policies";

    /// <summary>The configuration key naming the policies file (<see cref="File"/>): outside the section.</summary>
    public const string FileKey = "Quota:PoliciesFile";

    /// <summary>Whether the built-in defaults apply where configuration says nothing. Default: true.</summary>
    public bool IncludeDefaults { get; set; } = true;

    /// <summary>Every user's policies. Default: the built-in <c>per-minute</c>.</summary>
    public List<PolicySpec> Users { get; set; } = [];

    /// <summary>Every API key's own policies (its user's apply as well). Default: none.</summary>
    public List<PolicySpec> Keys { get; set; } = [];

    /// <summary>Configured resources: exact names and patterns ending in <c>*</c>. Default: the built-in telegram pair.</summary>
    public List<ResourcePolicies> Resources { get; set; } = [];

    /// <summary>
    /// A JSON document with the same shape (<c>{ "users": [...], "keys": [...], "resources": [...] }</c>) applied at
    /// start on top of the above (<c>Quota:PoliciesFile</c>). Default: none.
    /// </summary>
    public string? File { get; set; }
}

/// <summary>A resource name or pattern and its policies.</summary>
public sealed class ResourcePolicies
{
    /// <summary>An exact name (<c>telegram</c>) or a pattern ending in <c>*</c> (<c>telegram:chat:*</c>): each match gets its own windows.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>The policies every matching resource holds.</summary>
    public List<PolicySpec> Policies { get; set; } = [];
}

/// <summary>Limits on what a request may ask (<c>Quota:Decisions</c>).</summary>
public sealed class DecisionOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Decisions";

    /// <summary>
    /// The longest a caller may wait for capacity (<c>maxWaitMs</c> ceiling). Default: 20 seconds; keep it below
    /// the Orleans client's response timeout (30 seconds by default).
    /// </summary>
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How long an unsettled reservation is kept before it expires, keeping its estimate. Default: 5 minutes.</summary>
    public TimeSpan ReservationTtl { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>Secrets (<c>Quota:Secrets</c>).</summary>
public sealed class SecretOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Secrets";

    /// <summary>
    /// The pepper of inbound API key hashes (HMAC-SHA256 key), at least 16 characters. Default: none; the
    /// embedded default then uses a fixed development pepper and says so at start. Never logged.
    /// </summary>
    public string? Pepper { get; set; }

    /// <summary>
    /// The master keys that encrypt stored secrets (such as upstream tokens) at rest: each the base64 of exactly
    /// 32 random bytes (<c>openssl rand -base64 32</c>), newest first (<c>Quota:Secrets:MasterKeys:0</c>,
    /// <c>:1</c>, …). The first encrypts; every listed key decrypts, so an older key stays listed after the newest
    /// until its secrets are re-encrypted. Default: none; protecting or reading a secret then fails, and the
    /// PostgreSQL mode refuses to start. Never logged.
    /// </summary>
    public List<string> MasterKeys { get; set; } = [];
}
