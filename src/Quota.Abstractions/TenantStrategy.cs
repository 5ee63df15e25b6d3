using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Serialization;

namespace Quota.Abstractions;

/// <summary>
/// Which tokens a tenant uses. Written in JSON and documents as <c>shared</c>, <c>dedicated</c> or <c>hybrid</c>
/// (<see cref="TenantStrategies"/> converts, at the edges only).
/// </summary>
[GenerateSerializer, Alias("quota.TenantStrategy")]
[JsonConverter(typeof(JsonStringEnumConverter<TenantStrategy>))]
public enum TenantStrategy
{
    /// <summary>The upstream's pool: the tenant's reserve, then what the pool lends. The default.</summary>
    [JsonStringEnumMemberName("shared")] Shared = 0,

    /// <summary>Only the tokens dedicated to the tenant; no reserve, never the pool.</summary>
    [JsonStringEnumMemberName("dedicated")] Dedicated = 1,

    /// <summary>The tenant's dedicated tokens first, then the pool.</summary>
    [JsonStringEnumMemberName("hybrid")] Hybrid = 2,
}

/// <summary>The written names of <see cref="TenantStrategy"/>: <c>shared</c>, <c>dedicated</c>, <c>hybrid</c>.</summary>
public static class TenantStrategies
{
    /// <summary>The strategy's written name.</summary>
    public static string Name(TenantStrategy strategy) => strategy switch
    {
        TenantStrategy.Shared => "shared",
        TenantStrategy.Dedicated => "dedicated",
        TenantStrategy.Hybrid => "hybrid",
        _ => throw new ArgumentOutOfRangeException(nameof(strategy), strategy, "Not a tenant strategy."),
    };

    /// <summary>Parses a written name (case-insensitive); false for anything else, numbers included.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out TenantStrategy strategy)
    {
        switch (text?.ToLowerInvariant())
        {
            case "shared": strategy = TenantStrategy.Shared; return true;
            case "dedicated": strategy = TenantStrategy.Dedicated; return true;
            case "hybrid": strategy = TenantStrategy.Hybrid; return true;
            default: strategy = default; return false;
        }
    }

    /// <summary>
    /// The strategy of a tenant as written (<see cref="TenantSpec.Strategy"/>, validated when it was written): null
    /// means <see cref="TenantStrategy.Shared"/>.
    /// </summary>
    public static TenantStrategy OfWritten(string? text) => TryParse(text, out var strategy) ? strategy : TenantStrategy.Shared;
}
