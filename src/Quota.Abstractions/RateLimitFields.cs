using System.Globalization;
using System.Text;
using Quota.Algorithms.Limiting;

namespace Quota.Abstractions;

/// <summary>
/// The values of the IETF <c>RateLimit-Policy</c> and <c>RateLimit</c> fields (draft-ietf-httpapi-ratelimit-headers-11)
/// and of <c>Retry-After</c>, written once for every front door (the silo's HTTP API and the ASP.NET Core integration).
/// Each field is a Structured Field list with one item per policy, named <c>"subject/policy"</c>. Policy: <c>q</c>
/// quota, <c>w</c> window seconds, <c>qu</c> quota unit for concurrency. Current state: <c>r</c> remaining, <c>t</c>
/// seconds until the quota is full again. <c>Retry-After</c> is whole seconds, rounded up.
/// </summary>
public static class RateLimitFields
{
    /// <summary>The <c>RateLimit-Policy</c> field name.</summary>
    public const string PolicyHeader = "RateLimit-Policy";

    /// <summary>The <c>RateLimit</c> field name.</summary>
    public const string StateHeader = "RateLimit";

    /// <summary>The <c>RateLimit-Policy</c> value for <paramref name="policies"/>; null when there are none (send no field).</summary>
    public static string? Policy(IReadOnlyList<PolicyState> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        if (policies.Count == 0)
        {
            return null;
        }

        var list = new StringBuilder();
        foreach (var p in policies)
        {
            Separate(list).Append(SfString($"{p.Subject}/{p.Policy}")).Append(";q=").Append(p.Limit.ToString(CultureInfo.InvariantCulture));
            if (p.WindowSeconds is { } window)
            {
                list.Append(";w=").Append(window.ToString(CultureInfo.InvariantCulture));
            }

            if (p.Algorithm == AlgorithmKind.Concurrency)
            {
                list.Append(";qu=\"concurrent-requests\"");
            }
        }

        return list.ToString();
    }

    /// <summary>The <c>RateLimit</c> value for <paramref name="policies"/>; null when there are none (send no field).</summary>
    public static string? State(IReadOnlyList<PolicyState> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        if (policies.Count == 0)
        {
            return null;
        }

        var list = new StringBuilder();
        foreach (var p in policies)
        {
            Separate(list).Append(SfString($"{p.Subject}/{p.Policy}"))
                .Append(";r=").Append(p.Remaining.ToString(CultureInfo.InvariantCulture))
                .Append(";t=").Append(CeilingSeconds(p.ResetAfterMs).ToString(CultureInfo.InvariantCulture));
        }

        return list.ToString();
    }

    /// <summary>The <c>Retry-After</c> value for a wait of <paramref name="retryAfterMs"/>; null when there is no wait (0 or -1, never).</summary>
    public static string? RetryAfter(long retryAfterMs) =>
        retryAfterMs > 0 ? CeilingSeconds(retryAfterMs).ToString(CultureInfo.InvariantCulture) : null;

    /// <summary>Whole seconds, rounded up: a client waiting that long is never early.</summary>
    public static long CeilingSeconds(long milliseconds) => milliseconds <= 0 ? 0 : (milliseconds / 1000) + (milliseconds % 1000 == 0 ? 0 : 1);

    private static StringBuilder Separate(StringBuilder list) => list.Length > 0 ? list.Append(", ") : list;

    /// <summary>An sf-string: printable ASCII only, with quote and backslash escaped; anything else becomes '?'.</summary>
    private static string SfString(string text)
    {
        var builder = new StringBuilder(text.Length + 2).Append('"');
        foreach (var c in text)
        {
            if (c is '"' or '\\')
            {
                builder.Append('\\').Append(c);
            }
            else
            {
                builder.Append(c is >= ' ' and <= '~' ? c : '?');
            }
        }

        return builder.Append('"').ToString();
    }
}
