using System.Globalization;
using System.Text.RegularExpressions;

namespace Quota.Algorithms.Limiting;

/// <summary>The algorithms a policy can use.</summary>
public enum AlgorithmKind
{
    /// <summary>GCRA token bucket: <c>limit</c> per <c>window</c> refill rate, up to <c>burst</c> at once. O(1) state.</summary>
    TokenBucket,

    /// <summary>Weighted two-bucket sliding window counter. O(1) state, approximate (see <see cref="SlidingWindowLimiter"/>).</summary>
    SlidingWindow,

    /// <summary>Exact sliding log: one entry per grant. For small limits only.</summary>
    SlidingLog,

    /// <summary>Fixed windows aligned to multiples of <c>window</c> since the Unix epoch.</summary>
    FixedWindow,

    /// <summary>At most <c>limit</c> permits held at once; leases are released or expire after <c>leaseTtl</c>.</summary>
    Concurrency,

    /// <summary>A quota per calendar day, week or month in an IANA time zone.</summary>
    Calendar,
}

/// <summary>The calendar unit of a <see cref="AlgorithmKind.Calendar"/> quota.</summary>
public enum CalendarPeriod
{
    /// <summary>From local midnight to the next local midnight.</summary>
    Day,

    /// <summary>Seven local days starting on <see cref="PolicyDefinition.FirstDayOfWeek"/>.</summary>
    Week,

    /// <summary>The calendar month, from local midnight on the 1st.</summary>
    Month,
}

/// <summary>
/// A named limit: which algorithm, how many permits, over what time. Immutable; validate with
/// <see cref="Validate"/> or build a limiter with <see cref="CreateLimiter"/>, which rejects an invalid
/// definition with every problem listed.
/// </summary>
public sealed partial record PolicyDefinition
{
    /// <summary>The largest <see cref="Limit"/> a <see cref="AlgorithmKind.SlidingLog"/> accepts (it keeps one entry per grant).</summary>
    public const long MaxSlidingLogLimit = 10_000;

    /// <summary>The longest window or lease TTL accepted: 10 years.</summary>
    public static readonly TimeSpan MaxWindow = TimeSpan.FromDays(3653);

    /// <summary>
    /// The largest <see cref="Limit"/> and <see cref="Burst"/> accepted: 10^12 permits. Far above any real quota, and
    /// small enough that every product the limiters and the pool form with it (permits × ticks, permits × percent)
    /// stays exact; a policy of <see cref="long.MaxValue"/> permits is a typo, not a limit.
    /// </summary>
    public const long MaxLimit = 1_000_000_000_000;

    /// <summary>The policy's name, unique on its subject, e.g. <c>per-minute</c>. Letters, digits, '-', '_', '.'; at most 64.</summary>
    public required string Name { get; init; }

    /// <summary>The algorithm.</summary>
    public required AlgorithmKind Algorithm { get; init; }

    /// <summary>Permits per window (per period for calendar, held at once for concurrency). At least 1.</summary>
    public required long Limit { get; init; }

    /// <summary>The window length for token-bucket (refill period of <see cref="Limit"/>), sliding and fixed windows.</summary>
    public TimeSpan Window { get; init; }

    /// <summary>Token bucket capacity: the most permits available at once. Default: <see cref="Limit"/>.</summary>
    public long? Burst { get; init; }

    /// <summary>Calendar period. Required for <see cref="AlgorithmKind.Calendar"/>.</summary>
    public CalendarPeriod? Period { get; init; }

    /// <summary>IANA time zone for calendar periods. Default: <c>UTC</c>.</summary>
    public string TimeZone { get; init; } = "UTC";

    /// <summary>First day of a calendar week. Default: Monday (ISO 8601).</summary>
    public DayOfWeek FirstDayOfWeek { get; init; } = DayOfWeek.Monday;

    /// <summary>How long a concurrency lease lives unless released. Default: 1 minute.</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>The capacity a remaining count is out of: <see cref="Burst"/> for a token bucket, else <see cref="Limit"/>.</summary>
    public long Capacity => Algorithm == AlgorithmKind.TokenBucket ? Burst ?? Limit : Limit;

    /// <summary>
    /// Every problem with this definition as <c>field: what to set</c> text (<see cref="Problems"/> formatted); empty when valid.
    /// </summary>
    public IReadOnlyList<string> Validate() => [.. Problems().Select(p => p.ToString())];

    /// <summary>
    /// Every problem with this definition, each naming the field (<c>limit</c>, <c>window</c>, ...) and saying what to
    /// set; empty when valid.
    /// </summary>
    public IReadOnlyList<PolicyProblem> Problems()
    {
        var errors = new List<PolicyProblem>();
        if (string.IsNullOrEmpty(Name) || Name.Length > 64 || !NamePattern().IsMatch(Name))
        {
            errors.Add(new("name", $"'{Name}' is not a valid policy name; use 1 to 64 letters, digits, '-', '_' or '.', e.g. 'per-minute'."));
        }

        if (!Enum.IsDefined(Algorithm))
        {
            errors.Add(new("algorithm", $"{(int)Algorithm} is not an algorithm; use token-bucket, sliding-window, sliding-log, fixed-window, concurrency or calendar."));
        }

        if (Limit < 1)
        {
            errors.Add(new("limit", $"must be at least 1 (got {Limit.ToString(CultureInfo.InvariantCulture)}); set it to the number of permits allowed."));
        }
        else if (Limit > MaxLimit)
        {
            errors.Add(new("limit", $"must be at most {MaxLimit.ToString(CultureInfo.InvariantCulture)} (10^12; got {Limit.ToString(CultureInfo.InvariantCulture)}); set it to the number of permits allowed."));
        }

        switch (Algorithm)
        {
            case AlgorithmKind.TokenBucket:
                ValidateWindow(errors);
                if (Burst is < 1)
                {
                    errors.Add(new("burst", $"must be at least 1 (got {Burst.Value.ToString(CultureInfo.InvariantCulture)}); set it to the most permits available at once, or omit it to use the limit."));
                }
                else if (Burst is > MaxLimit)
                {
                    errors.Add(new("burst", $"must be at most {MaxLimit.ToString(CultureInfo.InvariantCulture)} (10^12; got {Burst.Value.ToString(CultureInfo.InvariantCulture)}); set it to the most permits available at once, or omit it to use the limit."));
                }
                else if (Burst is { } full && Limit is >= 1 and <= MaxLimit && Window > TimeSpan.Zero && Window <= MaxWindow
                    && (Int128)full * Window.Ticks / Limit > MaxWindow.Ticks)
                {
                    // The time a drained bucket takes to refill is what resetAfterMs reports: past 10 years it is no
                    // longer a duration anyone can act on (and once past TimeSpan's range it read as -1, "never").
                    errors.Add(new("burst", $"{full.ToString(CultureInfo.InvariantCulture)} permits at {Limit.ToString(CultureInfo.InvariantCulture)} per {Window} take more than 10 years to refill; lower the burst or raise the limit."));
                }

                break;
            case AlgorithmKind.SlidingWindow:
            case AlgorithmKind.FixedWindow:
                ValidateWindow(errors);
                break;
            case AlgorithmKind.SlidingLog:
                ValidateWindow(errors);
                if (Limit > MaxSlidingLogLimit)
                {
                    errors.Add(new("limit", $"a sliding-log keeps one entry per grant, so its limit may be at most {MaxSlidingLogLimit} (got {Limit.ToString(CultureInfo.InvariantCulture)}); use sliding-window for larger limits."));
                }

                break;
            case AlgorithmKind.Concurrency:
                if (LeaseTtl <= TimeSpan.Zero || LeaseTtl > MaxWindow)
                {
                    errors.Add(new("leaseTtl", $"must be positive and at most 10 years (got {LeaseTtl}); set it to how long an unreleased lease may be held, e.g. '00:01:00'."));
                }

                break;
            case AlgorithmKind.Calendar:
                if (Period is not { } period || !Enum.IsDefined(period))
                {
                    errors.Add(new("period", "a calendar policy needs a period; set it to day, week or month."));
                }

                if (!TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone ?? string.Empty, out _))
                {
                    errors.Add(new("timeZone", $"'{TimeZone}' is not a known time zone; use an IANA name such as 'UTC' or 'Europe/Warsaw'."));
                }

                if (!Enum.IsDefined(FirstDayOfWeek))
                {
                    errors.Add(new("firstDayOfWeek", $"{(int)FirstDayOfWeek} is not a day of the week; use monday to sunday."));
                }

                break;
        }

        return errors;
    }

    /// <summary>Builds a fresh limiter for this policy.</summary>
    /// <exception cref="InvalidPolicyException">The definition is invalid; the message lists every problem.</exception>
    public Limiter CreateLimiter()
    {
        ThrowIfInvalid();
        return Algorithm switch
        {
            AlgorithmKind.TokenBucket => new TokenBucketLimiter(this),
            AlgorithmKind.SlidingWindow => new SlidingWindowLimiter(this),
            AlgorithmKind.SlidingLog => new SlidingLogLimiter(this),
            AlgorithmKind.FixedWindow => new FixedWindowLimiter(this),
            AlgorithmKind.Concurrency => new ConcurrencyLimiter(this),
            AlgorithmKind.Calendar => new CalendarQuotaLimiter(this),
            _ => throw new InvalidPolicyException(Name, [$"algorithm: {Algorithm} is not supported."]),
        };
    }

    /// <summary>Throws <see cref="InvalidPolicyException"/> listing every problem when the definition is invalid.</summary>
    public void ThrowIfInvalid()
    {
        var problems = Problems();
        if (problems.Count > 0)
        {
            throw new InvalidPolicyException(Name, [.. problems.Select(p => p.ToString())]);
        }
    }

    private void ValidateWindow(List<PolicyProblem> errors)
    {
        if (Window <= TimeSpan.Zero || Window > MaxWindow)
        {
            errors.Add(new("window", $"must be positive and at most 10 years (got {Window}); set it to the period the limit applies to, e.g. '00:01:00'."));
        }
    }

    // \z, not $: $ also matches before a final newline, which let "per-minute\n" through.
    [GeneratedRegex(@"^[A-Za-z0-9._-]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}

/// <summary>A policy definition that cannot be used; <see cref="Errors"/> lists every problem.</summary>
public sealed class InvalidPolicyException : ArgumentException
{
    /// <summary>Creates the exception for policy <paramref name="policyName"/>.</summary>
    public InvalidPolicyException(string? policyName, IReadOnlyList<string> errors)
        : base($"Policy '{policyName}' is invalid: {string.Join(" ", errors)}")
    {
        PolicyName = policyName;
        Errors = errors;
    }

    /// <summary>The policy's name as given.</summary>
    public string? PolicyName { get; }

    /// <summary>Every problem found, each naming its field and the fix.</summary>
    public IReadOnlyList<string> Errors { get; }
}

/// <summary>A problem with one field of a policy definition: the field (<c>limit</c>, <c>window</c>, ...) and what to set.</summary>
/// <param name="Field">The field, as named in JSON.</param>
/// <param name="Detail">What is wrong and what to set.</param>
public readonly record struct PolicyProblem(string Field, string Detail)
{
    /// <summary><c>field: detail</c>, as messages and logs show it.</summary>
    public override string ToString() => $"{Field}: {Detail}";
}
