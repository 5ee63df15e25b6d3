using System.Collections.Concurrent;
using Quota.Abstractions;

namespace Quota.Grains.Upstreams;

/// <summary>
/// The silo's view of routes and tokens for the decision path: which tokens a tenant or upstream may use (asked of the
/// tenancy grain, kept for one second of quota time) and how used and healthy each token was when last seen (from
/// the tokens' own answers). Orders candidates least utilised first, tokens last seen with an open circuit or paused by
/// the upstream at the end.
/// </summary>
/// <remarks>
/// The view only orders; it never admits. Each token grain decides for itself, so a stale view costs at most a
/// denial and a try of the next token. A configuration change reaches routes within one second; unknown tenants and
/// upstreams are not remembered, so one created is usable at once.
/// </remarks>
public sealed class TokenChooser(IGrainFactory grains, QuotaTime clock)
{
    private static readonly TimeSpan RouteLifetime = TimeSpan.FromSeconds(1);
    private readonly TimeProvider _time = clock.Provider;
    private readonly ConcurrentDictionary<(string? Tenant, string? Upstream), (RouteAnswer Answer, DateTimeOffset Until)> _routes = new();
    private readonly ConcurrentDictionary<string, Seen> _tokens = new(StringComparer.Ordinal);

    /// <summary>The route for a request naming <paramref name="tenant"/> and/or <paramref name="upstream"/>.</summary>
    public async ValueTask<RouteAnswer> RouteAsync(string? tenant, string? upstream)
    {
        var now = _time.GetUtcNow();
        if (_routes.TryGetValue((tenant, upstream), out var cached) && cached.Until > now)
        {
            return cached.Answer;
        }

        var answer = await grains.GetGrain<ITenancyGrain>(0).GetRouteAsync(tenant, upstream);
        if (answer.Route is not null)
        {
            _routes[(tenant, upstream)] = (answer, now + RouteLifetime);
        }
        else
        {
            _routes.TryRemove((tenant, upstream), out _);
        }

        return answer;
    }

    /// <summary><paramref name="tokens"/> of <paramref name="upstream"/> in the order to try them.</summary>
    public List<string> Order(string upstream, IReadOnlyList<string> tokens)
    {
        var now = _time.GetUtcNow();
        var order = new List<(string Token, bool Open, double Utilisation, int Index)>(tokens.Count);
        for (var i = 0; i < tokens.Count; i++)
        {
            var seen = _tokens.GetValueOrDefault(TokenKeys.Key(upstream, tokens[i]));
            order.Add((tokens[i], seen.OpenUntil > now, seen.Utilisation, i));
        }

        order.Sort((a, b) => a.Open != b.Open ? a.Open.CompareTo(b.Open)
            : a.Utilisation != b.Utilisation ? a.Utilisation.CompareTo(b.Utilisation)
            : a.Index.CompareTo(b.Index));
        return [.. order.Select(o => o.Token)];
    }

    /// <summary>Remembers what a token (by its grain key, <see cref="TokenKeys.Key"/>) answered.</summary>
    public void Observe(string tokenKey, SubjectDecision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var utilisation = 0.0;
        foreach (var policy in decision.Policies)
        {
            if (policy.Limit > 0)
            {
                utilisation = Math.Max(utilisation, (double)(policy.Limit - policy.Remaining) / policy.Limit);
            }
        }

        // An open circuit and an upstream's Retry-After both keep the token out of use until they pass.
        var open = !decision.Allowed && decision.Cause is DenialCause.Circuit or DenialCause.Paused
            ? _time.GetUtcNow() + decision.RetryAfter
            : DateTimeOffset.MinValue;
        _tokens[tokenKey] = new Seen(utilisation, open);
    }

    private readonly record struct Seen(double Utilisation, DateTimeOffset OpenUntil);
}
