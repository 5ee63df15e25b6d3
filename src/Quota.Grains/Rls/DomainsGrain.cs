using Quota.Grains.Subjects;

namespace Quota.Grains.Rls;

/// <summary>
/// The descriptor configuration of Envoy's rate-limit service: one document per domain, kept as the JSON the admin API
/// and <c>apply</c> validated (the server owns its shape). Persisted; one per cluster (key 0).
/// </summary>
[Alias("quota.IDomainsGrain")]
public interface IDomainsGrain : IGrainWithIntegerKey
{
    /// <summary>Every domain's document and the configuration's version (raised by every change).</summary>
    [Alias("GetAll")]
    Task<DomainsSnapshot> GetAllAsync();

    /// <summary>
    /// The configuration when its version is not <paramref name="knownVersion"/>; null when it is (the caller's copy is
    /// current), so a silo refreshing its view every second receives the documents only after a change.
    /// </summary>
    [Alias("GetChanged")]
    Task<DomainsSnapshot?> GetIfChangedAsync(long knownVersion);

    /// <summary>Sets (<paramref name="json"/> not null) or removes a domain; answers the document it replaced (null when none).</summary>
    [Alias("Set")]
    Task<string?> SetAsync(string domain, string? json);
}

/// <summary>Every domain's validated document (JSON) at one version of the configuration.</summary>
/// <param name="Version">Raised by every change; a silo's copy at this version is current.</param>
/// <param name="Domains">Each domain's document.</param>
[GenerateSerializer, Immutable, Alias("quota.DomainsSnapshot")]
public sealed record DomainsSnapshot([property: Id(0)] long Version, [property: Id(1)] Dictionary<string, string> Domains);

/// <summary>The persisted state of <see cref="IDomainsGrain"/>.</summary>
[GenerateSerializer, Alias("quota.DomainsState")]
public sealed class DomainsState
{
    /// <summary>Raised by every change.</summary>
    [Id(0)] public long Version { get; set; }

    /// <summary>Each domain's document (JSON).</summary>
    [Id(1)] public Dictionary<string, string> Domains { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>Keeps the descriptor configuration; see <see cref="IDomainsGrain"/>.</summary>
[GrainType("rlsdomains")]
public sealed class DomainsGrain(
    [PersistentState("domains", QuotaStorage.Name)] IPersistentState<DomainsState> state) : Grain, IDomainsGrain
{
    /// <inheritdoc />
    public Task<DomainsSnapshot> GetAllAsync() =>
        Task.FromResult(new DomainsSnapshot(state.State.Version, new Dictionary<string, string>(state.State.Domains, StringComparer.Ordinal)));

    /// <inheritdoc />
    public async Task<DomainsSnapshot?> GetIfChangedAsync(long knownVersion) =>
        knownVersion == state.State.Version ? null : await GetAllAsync();

    /// <inheritdoc />
    public async Task<string?> SetAsync(string domain, string? json)
    {
        ArgumentNullException.ThrowIfNull(domain);
        var old = state.State.Domains.GetValueOrDefault(domain);
        if (old == json)
        {
            return old;
        }

        if (json is null)
        {
            state.State.Domains.Remove(domain);
        }
        else
        {
            state.State.Domains[domain] = json;
        }

        state.State.Version++;
        await state.WriteStateAsync();
        return old;
    }
}
