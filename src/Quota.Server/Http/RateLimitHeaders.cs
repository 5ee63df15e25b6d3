using Microsoft.AspNetCore.Http;
using Quota.Abstractions;

namespace Quota.Server.Http;

/// <summary>
/// Writes the IETF <c>RateLimit-Policy</c> and <c>RateLimit</c> fields and <c>Retry-After</c> on a response; their
/// values are <see cref="RateLimitFields"/>' (shared with the ASP.NET Core integration).
/// </summary>
internal static class RateLimitHeaders
{
    public static void Write(HttpResponse response, IReadOnlyList<PolicyState> policies, long retryAfterMs)
    {
        if (RateLimitFields.Policy(policies) is { } policy)
        {
            response.Headers[RateLimitFields.PolicyHeader] = policy;
            response.Headers[RateLimitFields.StateHeader] = RateLimitFields.State(policies);
        }

        if (RateLimitFields.RetryAfter(retryAfterMs) is { } retryAfter)
        {
            response.Headers.RetryAfter = retryAfter;
        }
    }
}
