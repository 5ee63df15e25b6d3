using System.Diagnostics;
using System.Diagnostics.Metrics;
using Quota.Grains;

namespace Quota.Server.Rls;

/// <summary>
/// The rate-limit service's counters, as operators of envoy-ratelimit expect them, tagged by domain and rule (the
/// rule's <c>name</c>, else its configured path): bounded by the configuration, never by a request's values. Hits are
/// counted (a descriptor's hits_addend), like envoy-ratelimit's <c>total_hits</c>, <c>over_limit</c>,
/// <c>near_limit</c> and <c>shadow_mode</c>.
/// </summary>
public sealed class RlsInstruments
{
    private readonly Counter<long> _total;
    private readonly Counter<long> _overLimit;
    private readonly Counter<long> _nearLimit;
    private readonly Counter<long> _shadow;
    private readonly Counter<long> _requests;

    /// <summary>Creates the counters on Quota's meter.</summary>
    public RlsInstruments(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(QuotaInstruments.MeterName);
        _total = meter.CreateCounter<long>("quota.rls.hits", "{hit}", "Hits on a descriptor rule (every decided descriptor's hits_addend).");
        _overLimit = meter.CreateCounter<long>("quota.rls.over_limit", "{hit}", "Hits a rule denied (in shadow mode too: those were let through).");
        _nearLimit = meter.CreateCounter<long>("quota.rls.near_limit", "{hit}", "Hits admitted with at most Quota:Rls:NearLimitRatio of the rule's limit left.");
        _shadow = meter.CreateCounter<long>("quota.rls.shadow_mode", "{hit}", "Hits a rule in shadow mode (its own or global) would have denied but let through.");
        _requests = meter.CreateCounter<long>("quota.rls.requests", "{request}", "ShouldRateLimit calls by overall code (ok, over_limit, unavailable, invalid_argument).");
    }

    internal void Decided(string domain, string rule, long hits, bool over, bool near, bool shadow)
    {
        var tags = new TagList { { "domain", domain }, { "rule", rule } };
        _total.Add(hits, tags);
        if (over)
        {
            _overLimit.Add(hits, tags);
        }

        if (near)
        {
            _nearLimit.Add(hits, tags);
        }

        if (shadow)
        {
            _shadow.Add(hits, tags);
        }
    }

    internal void Answered(string code) => _requests.Add(1, new KeyValuePair<string, object?>("code", code));
}
