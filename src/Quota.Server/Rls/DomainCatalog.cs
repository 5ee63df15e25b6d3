using System.Text.Json;
using Quota.Grains;
using Quota.Grains.Rls;

namespace Quota.Server.Rls;

/// <summary>
/// This silo's view of the descriptor configuration for the decision path: every domain's compiled rules, read from
/// the <see cref="IDomainsGrain"/> and kept for one second of quota time (a change made through this silo is seen at
/// once, one made through another within a second, as with tenancy's routes). Subjects never read it: their policies
/// are addressed by content (<see cref="DescriptorPolicyBook"/>), so a stale view costs at most a second of the old rules.
/// </summary>
public sealed class DomainCatalog(IGrainFactory grains, QuotaTime clock)
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private volatile View? _view;

    /// <summary>The rules of <paramref name="domain"/>; null when it is not configured.</summary>
    internal async ValueTask<DomainRules?> GetAsync(string domain)
    {
        var view = _view;
        if (view is null || view.Until <= clock.Provider.GetUtcNow())
        {
            view = await RefreshAsync();
        }

        return view.Domains.GetValueOrDefault(domain);
    }

    /// <summary>Makes this silo's view stale, so the next request reads the configuration again (after a change here).</summary>
    public void Invalidate()
    {
        if (_view is { } view)
        {
            _view = view with { Until = DateTimeOffset.MinValue };
        }
    }

    private async Task<View> RefreshAsync()
    {
        await _refresh.WaitAsync();
        try
        {
            if (_view is { } fresh && fresh.Until > clock.Provider.GetUtcNow())
            {
                return fresh;
            }

            // Only a changed configuration is sent and compiled again; an unchanged one extends the view's life.
            var snapshot = await grains.GetGrain<IDomainsGrain>(0).GetIfChangedAsync(_view?.Version ?? -1);
            var domains = _view?.Domains ?? [];
            if (snapshot is not null)
            {
                domains = new Dictionary<string, DomainRules>(StringComparer.Ordinal);
                foreach (var (name, json) in snapshot.Domains)
                {
                    // Stored only after validation, so each compiles.
                    var body = JsonSerializer.Deserialize<DomainBody>(json, DomainRules.Json)!;
                    domains[name] = DomainRules.Compile(name, body);
                }
            }

            var view = new View(domains, snapshot?.Version ?? _view!.Version, clock.Provider.GetUtcNow() + Lifetime);
            _view = view;
            return view;
        }
        finally
        {
            _refresh.Release();
        }
    }

    private sealed record View(Dictionary<string, DomainRules> Domains, long Version, DateTimeOffset Until);
}
