using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Subjects;

namespace Quota.Grains.Rls;

/// <summary>
/// The policies of the resource subjects Envoy's rate-limit service decides on (<c>rls:{hash}:{domain}:{path}</c>),
/// addressed by their content: <c>{hash}</c> is the first 16 hex digits of the SHA-256 of the policies' canonical
/// JSON. A hash names one set of policies for ever, so a subject's policies never change under it and no silo's copy
/// can be stale: a changed rule (or a request's <c>limit</c> override) is another hash, so another subject, whose
/// windows start full.
/// </summary>
/// <remarks>
/// The service registers a set before its first decision on this silo (<see cref="EnsureAsync"/>); a subject
/// activating on any silo reads it from the silo's copy or else from its <see cref="IDescriptorPolicyGrain"/>, which
/// persists it.
/// </remarks>
public sealed class DescriptorPolicyBook(IGrainFactory grains)
{
    /// <summary>The prefix of every subject the rate-limit service names; resource names with it are reserved.</summary>
    public const string Prefix = "rls:";

    /// <summary>How many hex digits of the hash a subject name carries.</summary>
    public const int HashLength = 16;

    private static readonly JsonSerializerOptions Canonical = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly ConcurrentDictionary<string, IReadOnlyList<PolicyDefinition>> _known = new(StringComparer.Ordinal);

    /// <summary>The content hash of <paramref name="policies"/> (valid policies, as <see cref="PolicySpec"/>s).</summary>
    public static string HashOf(IReadOnlyList<PolicySpec> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        var json = JsonSerializer.SerializeToUtf8Bytes(policies, Canonical);
        return Convert.ToHexStringLower(SHA256.HashData(json))[..HashLength];
    }

    /// <summary>
    /// The policy of an Envoy unit (the numbers of <c>RateLimitResponse.RateLimit.Unit</c>: 1 second, 2 minute, 3 hour,
    /// 4 day, 5 month, 6 year, 7 week): a fixed window of a second, minute or hour; a calendar day, week (from Monday) or
    /// month in UTC; a year as a 365-day fixed window.
    /// </summary>
    public static PolicySpec UnitPolicy(int unit, long requestsPerUnit, string name) => unit switch
    {
        1 => new() { Name = name, Algorithm = "fixed-window", Limit = requestsPerUnit, Window = TimeSpan.FromSeconds(1) },
        2 => new() { Name = name, Algorithm = "fixed-window", Limit = requestsPerUnit, Window = TimeSpan.FromMinutes(1) },
        3 => new() { Name = name, Algorithm = "fixed-window", Limit = requestsPerUnit, Window = TimeSpan.FromHours(1) },
        4 => new() { Name = name, Algorithm = "calendar", Limit = requestsPerUnit, Period = "day", TimeZone = "UTC" },
        5 => new() { Name = name, Algorithm = "calendar", Limit = requestsPerUnit, Period = "month", TimeZone = "UTC" },
        6 => new() { Name = name, Algorithm = "fixed-window", Limit = requestsPerUnit, Window = TimeSpan.FromDays(365) },
        7 => new() { Name = name, Algorithm = "calendar", Limit = requestsPerUnit, Period = "week", TimeZone = "UTC" },
        _ => throw new ArgumentOutOfRangeException(nameof(unit), unit, "Not an Envoy rate-limit unit."),
    };

    /// <summary>
    /// The "hash" of a request's <c>limit</c> override: not a hash but the override itself (<c>o</c>, the unit's digit,
    /// the requests per unit in 14 hex digits), read back from the name by any silo. Overrides are chosen by whoever
    /// calls the service, so they are never stored: a caller cannot fill storage with made-up limits.
    /// </summary>
    public static string OverrideHash(int unit, long requestsPerUnit) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"o{unit}{requestsPerUnit:x14}");

    private static IReadOnlyList<PolicyDefinition>? OverridePolicies(string hash) =>
        hash[1] is >= '1' and <= '7' && long.TryParse(hash.AsSpan(2), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var perUnit)
            ? PolicySpec.ToDefinitions([UnitPolicy(hash[1] - '0', perUnit, "override")], "policies", out _)
            : null;

    /// <summary>The hash a subject name carries, or null when the name is not the rate-limit service's.</summary>
    public static string? HashIn(string subject)
    {
        ArgumentNullException.ThrowIfNull(subject);
        if (!subject.StartsWith(Prefix, StringComparison.Ordinal) || subject.Length < Prefix.Length + HashLength + 1
            || subject[Prefix.Length + HashLength] != ':')
        {
            return null;
        }

        var hash = subject.Substring(Prefix.Length, HashLength);
        return hash.All(char.IsAsciiHexDigitLower) || (hash[0] == 'o' && hash.Skip(1).All(char.IsAsciiHexDigitLower)) ? hash : null;
    }

    /// <summary>
    /// The subject name for <paramref name="hash"/> in <paramref name="domain"/> for a descriptor's entries
    /// (<c>key=value</c> joined by <c>/</c>); a path that is too long for the name rule or not plain printable ASCII is
    /// replaced by its own SHA-256 (prefixed <c>#</c>), so any value Envoy sends makes a valid, distinct name.
    /// </summary>
    public static string SubjectName(string hash, string domain, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var name = $"{Prefix}{hash}:{domain}:{path}";
        var plain = path.Length > 0 && path.All(c => c is > ' ' and <= '~');
        return plain && name.Length <= RequestRules.MaxNameLength
            ? name
            : $"{Prefix}{hash}:{domain}:#{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(path)))}";
    }

    /// <summary>Makes sure <paramref name="policies"/> under <paramref name="hash"/> can be read by any silo.</summary>
    public async ValueTask EnsureAsync(string hash, IReadOnlyList<PolicySpec> policies)
    {
        ArgumentNullException.ThrowIfNull(hash);
        if (_known.ContainsKey(hash) || hash.StartsWith('o'))
        {
            return;
        }

        var definitions = PolicySpec.ToDefinitions(policies, "policies", out var errors)
            ?? throw new ArgumentException(string.Join(" ", errors), nameof(policies));
        await grains.GetGrain<IDescriptorPolicyGrain>(hash).PutAsync([.. policies]);
        _known[hash] = definitions;
    }

    /// <summary>The policies under <paramref name="hash"/>; null when none were ever registered.</summary>
    public async ValueTask<IReadOnlyList<PolicyDefinition>?> GetAsync(string hash)
    {
        ArgumentNullException.ThrowIfNull(hash);
        if (_known.TryGetValue(hash, out var known))
        {
            return known;
        }

        if (hash.StartsWith('o'))
        {
            return OverridePolicies(hash);
        }

        var specs = await grains.GetGrain<IDescriptorPolicyGrain>(hash).GetAsync();
        if (specs is null || PolicySpec.ToDefinitions(specs, "policies", out _) is not { } definitions)
        {
            return null;
        }

        _known[hash] = definitions;
        return definitions;
    }
}

/// <summary>One content-addressed set of descriptor policies, keyed by its hash (see <see cref="DescriptorPolicyBook"/>).</summary>
[Alias("quota.IDescriptorPolicyGrain")]
public interface IDescriptorPolicyGrain : IGrainWithStringKey
{
    /// <summary>Stores the policies (the same ones every time: the key is their hash).</summary>
    [Alias("Put")]
    Task PutAsync(PolicySpec[] policies);

    /// <summary>The stored policies; null when none were stored.</summary>
    [Alias("Get")]
    Task<PolicySpec[]?> GetAsync();
}

/// <summary>The persisted policies of <see cref="IDescriptorPolicyGrain"/>.</summary>
[GenerateSerializer, Alias("quota.DescriptorPolicyState")]
public sealed class DescriptorPolicyState
{
    /// <summary>The policies; null until stored.</summary>
    [Id(0)] public PolicySpec[]? Policies { get; set; }
}

/// <summary>Keeps one content-addressed set of descriptor policies.</summary>
[GrainType("rlspolicy")]
public sealed class DescriptorPolicyGrain(
    [PersistentState("policies", QuotaStorage.Name)] IPersistentState<DescriptorPolicyState> state) : Grain, IDescriptorPolicyGrain
{
    /// <inheritdoc />
    public async Task PutAsync(PolicySpec[] policies)
    {
        // Written once: the key is the policies' hash, so a second write would store the same thing.
        if (state.State.Policies is null)
        {
            state.State.Policies = policies;
            await state.WriteStateAsync();
        }
    }

    /// <inheritdoc />
    public Task<PolicySpec[]?> GetAsync() => Task.FromResult(state.State.Policies);
}
