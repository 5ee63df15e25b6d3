using Microsoft.Extensions.Options;
using Quota.Algorithms.Health;

namespace Quota.Grains.Tenancy;

/// <summary>Tenancy settings (<c>Quota:Tenancy</c>): tier defaults, lease timing, the token circuit breaker.</summary>
public sealed class TenancyOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Tenancy";

    /// <summary>The share of a pool's capacity that tenants' reserves may take together: 80%.</summary>
    public const double MaxReservedShare = 0.8;

    /// <summary>
    /// Defaults per tier for what a tenant's configuration omits. Built in: premium weight 4, standard weight 2, basic
    /// weight 1; every tier reserve 0 (a reserve depends on the upstream's size), burst unbounded, priority 0.
    /// </summary>
    public Dictionary<string, TierDefaults> Tiers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How often a tenant reports its demand and renews its lease. Default: 5 seconds.</summary>
    public TimeSpan LeaseRefresh { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a lease lasts unless renewed; at least twice <see cref="LeaseRefresh"/>. Default: 15 seconds.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The longest requests wait for their tenant's borrow (asked of the pool when the allowance cannot admit them)
    /// before they are decided without its answer. Default: 1 second.
    /// </summary>
    public TimeSpan BorrowWait { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Consecutive failures reported on a token that open its circuit. Default: 5.</summary>
    public int FailureThreshold { get; set; } = 5;

    /// <summary>How long an open circuit stays open before a probe is let through. Default: 30 seconds.</summary>
    public TimeSpan OpenDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Probe successes in a row that close a half-open circuit. Default: 2.</summary>
    public int SuccessesToClose { get; set; } = 2;

    /// <summary>What an upstream's 429 (<c>POST /v1/feedback</c>) multiplies a token's limit by. Default: 0.5.</summary>
    public double RateLimitDecrease { get; set; } = 0.5;

    /// <summary>The least a token's limit falls to, as a share of its configured limit. Default: 0.1.</summary>
    public double RateLimitMinimum { get; set; } = 0.1;

    /// <summary>What a token's limit regains each <see cref="RecoveryInterval"/> without a 429, as a share of its configured limit. Default: 0.05.</summary>
    public double RecoveryStep { get; set; } = 0.05;

    /// <summary>How often a shrunk limit regains a step. Default: 10 seconds.</summary>
    public TimeSpan RecoveryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The names of the tiers.</summary>
    public static readonly IReadOnlyList<string> TierNames = ["premium", "standard", "basic"];

    /// <summary>The defaults of <paramref name="tier"/>: configuration over the built-in ones.</summary>
    public TierDefaults For(string tier)
    {
        var builtIn = tier.ToLowerInvariant() switch
        {
            "premium" => new TierDefaults { Weight = 4 },
            "basic" => new TierDefaults { Weight = 1 },
            _ => new TierDefaults { Weight = 2 },
        };
        return Tiers.TryGetValue(tier, out var configured)
            ? new TierDefaults
            {
                Reserved = configured.Reserved ?? builtIn.Reserved,
                Burst = configured.Burst ?? builtIn.Burst,
                Weight = configured.Weight ?? builtIn.Weight,
                Priority = configured.Priority ?? builtIn.Priority,
            }
            : builtIn;
    }

    /// <summary>The 429 feedback settings.</summary>
    public AdaptiveLimitOptions Feedback => new()
    {
        DecreaseFactor = RateLimitDecrease,
        MinimumFactor = RateLimitMinimum,
        RecoveryStep = RecoveryStep,
        RecoveryInterval = RecoveryInterval,
    };

    /// <summary>The circuit breaker settings.</summary>
    public CircuitBreakerOptions Breaker => new()
    {
        FailureThreshold = FailureThreshold,
        OpenDuration = OpenDuration,
        SuccessesToClose = SuccessesToClose,
        ProbeTimeout = OpenDuration,
    };
}

/// <summary>What a tier gives a tenant that does not say otherwise.</summary>
public sealed class TierDefaults
{
    /// <summary>Reserved permits per window.</summary>
    public long? Reserved { get; set; } = 0;

    /// <summary>The most it may borrow per window; null: unbounded.</summary>
    public long? Burst { get; set; }

    /// <summary>Its weight.</summary>
    public double? Weight { get; set; }

    /// <summary>Its service class.</summary>
    public int? Priority { get; set; } = 0;
}

/// <summary>Checks <see cref="TenancyOptions"/> at start, naming every bad setting.</summary>
public sealed class TenancyOptionsValidator : IValidateOptions<TenancyOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TenancyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        const string S = TenancyOptions.SectionName;
        if (options.LeaseRefresh <= TimeSpan.Zero)
        {
            errors.Add($"{S}:LeaseRefresh must be positive (got {options.LeaseRefresh}).");
        }

        if (options.LeaseTtl < 2 * options.LeaseRefresh)
        {
            errors.Add($"{S}:LeaseTtl must be at least twice {S}:LeaseRefresh (got {options.LeaseTtl} and {options.LeaseRefresh}), so a lease outlives one missed refresh.");
        }

        if (options.BorrowWait <= TimeSpan.Zero)
        {
            errors.Add($"{S}:BorrowWait must be positive (got {options.BorrowWait}); it bounds how long a request waits for its tenant's borrow.");
        }

        errors.AddRange(options.Breaker.Validate().Select(e => $"{S}:{e}"));
        errors.AddRange(options.Feedback.Validate().Select(e => $"{S}:{e}"
            .Replace("DecreaseFactor", "RateLimitDecrease", StringComparison.Ordinal)
            .Replace("MinimumFactor", "RateLimitMinimum", StringComparison.Ordinal)));
        foreach (var (tier, defaults) in options.Tiers)
        {
            if (!TenancyOptions.TierNames.Contains(tier, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add($"{S}:Tiers:{tier} is not a tier; use premium, standard or basic.");
            }

            if (defaults.Reserved < 0 || defaults.Burst < 0)
            {
                errors.Add($"{S}:Tiers:{tier}: Reserved and Burst must be at least 0.");
            }

            if (defaults.Weight is { } w && (!double.IsFinite(w) || w <= 0))
            {
                errors.Add($"{S}:Tiers:{tier}:Weight must be positive (got {w}).");
            }

            if (defaults.Priority is < 0 or > 9)
            {
                errors.Add($"{S}:Tiers:{tier}:Priority must be from 0 to 9 (got {defaults.Priority}).");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
