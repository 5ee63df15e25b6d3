using Quota.Abstractions;

namespace Quota.Outbound;

/// <summary>Where the handler puts the chosen token's secret on the outgoing request.</summary>
public enum CredentialPlacement
{
    /// <summary>A header: <see cref="QuotaUpstreamOptions.HeaderName"/> with <see cref="QuotaUpstreamOptions.HeaderFormat"/>.</summary>
    Header = 0,

    /// <summary>
    /// A query parameter, <see cref="QuotaUpstreamOptions.QueryParameter"/>. The secret is then part of the URL: keep
    /// URLs out of your own logs (IHttpClientFactory's logging redacts query strings since .NET 9).
    /// </summary>
    Query = 1,
}

/// <summary>What the caller sees when Quota does not admit a request (after waiting up to <see cref="QuotaUpstreamOptions.MaxWait"/>).</summary>
public enum QuotaDenialBehavior
{
    /// <summary><see cref="QuotaUpstreamRejectedException"/> is thrown, carrying the exact retry-after. The default.</summary>
    Throw = 0,

    /// <summary>
    /// A synthetic response is returned without calling the upstream: <c>429</c> (or <c>503</c> when the cluster shed the
    /// request) with <c>Retry-After</c> and the <see cref="QuotaUpstreamHandler.LimitedByHeader"/> header, so a retry
    /// policy that honours <c>Retry-After</c> (the standard resilience handler's) waits exactly as long as needed.
    /// A misconfiguration (an unknown tenant or upstream, an invalid request) is still thrown.
    /// </summary>
    TooManyRequests = 1,
}

/// <summary>
/// How one named <c>HttpClient</c> calls an upstream through Quota; bound from <c>Quota:Outbound:{clientName}</c>
/// (<see cref="SectionName"/>), then the code given to <c>AddQuotaUpstream</c>, then validated when the host starts
/// (every problem reported at once).
/// </summary>
public sealed class QuotaUpstreamOptions
{
    /// <summary>The configuration section holding one entry per client name: <c>Quota:Outbound</c>.</summary>
    public const string SectionName = "Quota:Outbound";

    /// <summary>The longest <see cref="MaxWait"/> accepted: one hour (the silo applies its own ceiling, <c>Quota:Decisions:MaxWait</c>, too).</summary>
    public static readonly TimeSpan MaxMaxWait = TimeSpan.FromHours(1);

    /// <summary>The Quota upstream whose tokens are chosen, e.g. <c>baselinker</c>; set by <c>AddQuotaUpstream</c>. Required.</summary>
    public string? Upstream { get; set; }

    /// <summary>
    /// The tenant whose reserve and lease from the upstream's pool the requests spend, e.g. <c>acme</c>. Default: none
    /// (the request competes at the tokens directly, bypassing tenants' reserves).
    /// </summary>
    public string? Tenant { get; set; }

    /// <summary>Permits each request takes. Default: 1.</summary>
    public long Cost { get; set; } = 1;

    /// <summary>The request's place among waiting callers. Default: <see cref="Priority.Normal"/>.</summary>
    public Priority Priority { get; set; } = Priority.Normal;

    /// <summary>
    /// How long a request waits in Quota's queue for a permit before it is denied. Default: 0 (denied at once);
    /// at most <see cref="MaxMaxWait"/>, and the silo's <c>Quota:Decisions:MaxWait</c>. Keep the client's
    /// <c>Quota:Client:ResponseTimeout</c> above it.
    /// </summary>
    public TimeSpan MaxWait { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// How long one attempt may wait for the upstream's answer once sent. When it passes (and the caller has not given
    /// up), the attempt is reported to Quota as unanswered (status 0, like a failed connection: it counts towards the
    /// token's circuit) and a <see cref="TaskCanceledException"/> with a <see cref="TimeoutException"/> inside is thrown,
    /// as <see cref="HttpClient.Timeout"/> does. Default: none (null), so only the caller's token or
    /// <see cref="HttpClient.Timeout"/> end the attempt, and such a cancellation is not reported: the handler cannot tell
    /// it from a caller giving up. Keep it below <see cref="HttpClient.Timeout"/> and any resilience handler's attempt
    /// timeout outside this handler; at most <see cref="MaxAttemptTimeout"/>.
    /// </summary>
    public TimeSpan? AttemptTimeout { get; set; }

    /// <summary>The longest <see cref="AttemptTimeout"/> accepted: ten minutes.</summary>
    public static readonly TimeSpan MaxAttemptTimeout = TimeSpan.FromMinutes(10);

    /// <summary>What a denial gives the caller. Default: <see cref="QuotaDenialBehavior.Throw"/>.</summary>
    public QuotaDenialBehavior OnDenied { get; set; } = QuotaDenialBehavior.Throw;

    /// <summary>Where the secret goes when <see cref="Credential"/> is not set. Default: <see cref="CredentialPlacement.Header"/>.</summary>
    public CredentialPlacement Placement { get; set; } = CredentialPlacement.Header;

    /// <summary>The header the secret goes in with <see cref="CredentialPlacement.Header"/>. Default: <c>Authorization</c>.</summary>
    public string HeaderName { get; set; } = "Authorization";

    /// <summary>
    /// The header's value, with <c>{secret}</c> where the secret goes. Default: <c>Bearer {secret}</c>; for a custom
    /// header such as BaseLinker's <c>X-BLToken</c>, <c>{secret}</c>.
    /// </summary>
    public string HeaderFormat { get; set; } = "Bearer {secret}";

    /// <summary>The query parameter the secret goes in with <see cref="CredentialPlacement.Query"/>. Default: <c>token</c>.</summary>
    public string QueryParameter { get; set; } = "token";

    /// <summary>
    /// Attaches the secret in code instead of by <see cref="Placement"/>: called with the request and the chosen
    /// token's secret on every attempt (so it must replace what an earlier attempt set, not add to it). Default: none.
    /// </summary>
    public Action<HttpRequestMessage, string>? Credential { get; set; }
}
