using System.Text;
using Microsoft.AspNetCore.Http;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;

namespace Quota.Server.Http;

/// <summary>
/// The IETF <c>RateLimit-Policy</c> and <c>RateLimit</c> fields (draft-ietf-httpapi-ratelimit-headers-11):
/// Structured Field lists with one item per policy, named <c>"subject/policy"</c>. Policy: <c>q</c> quota,
/// <c>w</c> window seconds, <c>qu</c> quota unit for concurrency. Current state: <c>r</c> remaining, <c>t</c>
/// seconds until the quota is full again. <c>Retry-After</c> (whole seconds, rounded up) on a 429.
/// </summary>
internal static class RateLimitHeaders
{
    public static void Write(HttpResponse response, IReadOnlyList<PolicyState> policies, long retryAfterMs)
    {
        if (policies.Count > 0)
        {
            var policy = new StringBuilder();
            var state = new StringBuilder();
            foreach (var p in policies)
            {
                var name = SfString($"{p.Subject}/{p.Policy}");
                Append(policy, $"{name};q={p.Limit}");
                if (p.WindowSeconds is { } window)
                {
                    policy.Append(";w=").Append(window);
                }

                if (p.Algorithm == AlgorithmKind.Concurrency)
                {
                    policy.Append(";qu=\"concurrent-requests\"");
                }

                Append(state, $"{name};r={p.Remaining};t={CeilingSeconds(p.ResetAfterMs)}");
            }

            response.Headers["RateLimit-Policy"] = policy.ToString();
            response.Headers["RateLimit"] = state.ToString();
        }

        if (retryAfterMs > 0)
        {
            response.Headers.RetryAfter = CeilingSeconds(retryAfterMs).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    private static void Append(StringBuilder list, string item)
    {
        if (list.Length > 0)
        {
            list.Append(", ");
        }

        list.Append(item);
    }

    private static long CeilingSeconds(long milliseconds) => milliseconds <= 0 ? 0 : (milliseconds + 999) / 1000;

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
