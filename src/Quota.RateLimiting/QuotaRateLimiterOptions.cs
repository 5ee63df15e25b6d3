using Microsoft.Extensions.Options;
using Quota.Abstractions;

namespace Quota.RateLimiting;

/// <summary>What a Quota-backed limiter answers when the cluster cannot be reached in time.</summary>
public enum UnreachableMode
{
    /// <summary>Admit the request (an acquired lease): the app stays up while the limiter is down, unlimited meanwhile.</summary>
    FailOpen = 0,

    /// <summary>Refuse the request (a failed lease with <see cref="QuotaRateLimiterOptions.UnreachableRetryAfter"/>): no limit is ever exceeded.</summary>
    FailClosed = 1,
}

/// <summary>
/// How Quota-backed limiters ask the cluster (<c>Quota:RateLimiting</c>): every limiter made by this package and by
/// Quota.AspNetCore starts from these; a policy may change them for itself.
/// </summary>
public sealed class QuotaRateLimiterOptions
{
    /// <summary>The configuration section: <c>Quota:RateLimiting</c>.</summary>
    public const string SectionName = "Quota:RateLimiting";

    /// <summary>
    /// The name the limiter's metrics carry (tag <c>limiter</c>). Default: <c>quota</c>; an ASP.NET Core policy
    /// defaults to its policy name.
    /// </summary>
    public string Name { get; set; } = "quota";

    /// <summary>What to answer when the cluster cannot be reached in time. Default: <see cref="UnreachableMode.FailOpen"/>.</summary>
    public UnreachableMode WhenUnreachable { get; set; } = UnreachableMode.FailOpen;

    /// <summary>
    /// How long a decision may take beyond <see cref="MaxWait"/> before the cluster counts as unreachable. Default:
    /// 2 seconds. Keep it well below the client's <c>Quota:Client:ResponseTimeout</c>.
    /// </summary>
    public TimeSpan DecisionTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long an acquire may wait in the denying subject's queue (ordered by priority, then arrival) for capacity.
    /// Default: zero (answer at once). Cancelling the acquire gives up its place. At most the silo's
    /// <c>Quota:Decisions:MaxWait</c> (default 20 seconds; a longer wait is refused as invalid).
    /// </summary>
    public TimeSpan MaxWait { get; set; } = TimeSpan.Zero;

    /// <summary>The priority of this limiter's requests among waiting callers. Default: normal.</summary>
    public Priority Priority { get; set; } = Priority.Normal;

    /// <summary>The <c>RetryAfter</c> of a lease refused because the cluster was unreachable (fail closed). Default: 1 second.</summary>
    public TimeSpan UnreachableRetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A copy, for a policy to change without touching the shared options.</summary>
    public QuotaRateLimiterOptions Clone() => (QuotaRateLimiterOptions)MemberwiseClone();

    /// <summary>Every problem with these options, each naming the option and how to fix it; empty when they are valid.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Name))
        {
            problems.Add("Name must name the limiter for its metrics, e.g. per-user.");
        }

        if (!Enum.IsDefined(WhenUnreachable))
        {
            problems.Add($"WhenUnreachable must be FailOpen or FailClosed (got {WhenUnreachable}).");
        }

        if (DecisionTimeout <= TimeSpan.Zero)
        {
            problems.Add($"DecisionTimeout must be positive, e.g. 00:00:02 (got {DecisionTimeout}).");
        }

        if (MaxWait < TimeSpan.Zero || MaxWait.TotalMilliseconds > int.MaxValue)
        {
            problems.Add($"MaxWait must be zero (answer at once) or a positive wait such as 00:00:05 (got {MaxWait}).");
        }

        if (!Enum.IsDefined(Priority))
        {
            problems.Add($"Priority must be Critical, High, Normal or Low (got {Priority}).");
        }

        if (UnreachableRetryAfter <= TimeSpan.Zero)
        {
            problems.Add($"UnreachableRetryAfter must be positive, e.g. 00:00:01 (got {UnreachableRetryAfter}).");
        }

        return problems;
    }

    /// <summary>Throws when the options are invalid, naming every problem at once.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    internal QuotaRateLimiterOptions Validated()
    {
        var problems = Problems();
        return problems.Count == 0
            ? this
            : throw new ArgumentException($"The Quota rate limiter's options ({SectionName}) are invalid: {string.Join(" ", problems)}", "options");
    }
}

/// <summary>Checks <see cref="QuotaRateLimiterOptions"/> at start, reporting every problem at once.</summary>
public sealed class QuotaRateLimiterOptionsValidator : IValidateOptions<QuotaRateLimiterOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, QuotaRateLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Problems();
        return problems.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(problems.Select(p => $"{QuotaRateLimiterOptions.SectionName}:{p}"));
    }
}
