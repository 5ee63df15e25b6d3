using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;
using Quota.Abstractions;
using Quota.RateLimiting;

namespace Quota.AspNetCore;

/// <summary>
/// How a Quota policy answers a request it refused: the status the decision calls for (429 denied; 503 when the
/// cluster shed the request or could not be reached and the policy fails closed; 400 invalid or cost beyond the limit;
/// 401 an unregistered API key; 404 an unconfigured resource), <c>Retry-After</c> (whole seconds, rounded up),
/// <c>RateLimit-Policy</c> and <c>RateLimit</c>, and an RFC 9457 problem detail with <c>limitedBy</c> and
/// <c>retryAfterMs</c>. Never echoes an API key.
/// </summary>
public static class QuotaRejection
{
    /// <summary>The problem <c>type</c> of a 429: RFC 6585's definition of the status.</summary>
    public const string TooManyRequestsType = "https://www.rfc-editor.org/rfc/rfc6585#section-4";

    /// <summary>Writes the refusal of <paramref name="context"/>'s lease as described above.</summary>
    public static ValueTask WriteAsync(OnRejectedContext context, CancellationToken cancellationToken) => WriteAsync(context, null, cancellationToken);

    internal static async ValueTask WriteAsync(OnRejectedContext context, QuotaPolicyBuilder? builder, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = context.HttpContext.Response;
        if (response.HasStarted)
        {
            return;
        }

        var lease = context.Lease;
        WriteHeaders(response, lease, retryAfter: true);
        var decision = lease.TryGetMetadata(QuotaMetadata.Decision, out var d) ? d : null;
        var unreachable = lease.TryGetMetadata(QuotaMetadata.Unreachable, out var u) && u;
        var retryAfterMs = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? (long)Math.Ceiling(wait.TotalMilliseconds) : 0;
        var reason = lease.TryGetMetadata(MetadataName.ReasonPhrase, out var phrase) ? phrase : null;
        var (status, title) = (decision?.Outcome, unreachable) switch
        {
            (_, true) => (StatusCodes.Status503ServiceUnavailable, "Rate limiter unavailable"),
            (DecisionOutcome.Denied, _) => (StatusCodes.Status429TooManyRequests, "Too many requests"),
            (DecisionOutcome.Overloaded, _) => (StatusCodes.Status503ServiceUnavailable, "Temporarily reduced capacity"),
            (DecisionOutcome.Invalid or DecisionOutcome.CostExceedsLimit, _) => (StatusCodes.Status400BadRequest, "Bad request"),
            (DecisionOutcome.UnknownSubject, _) when decision?.Problem?.Field == "apiKey" => (StatusCodes.Status401Unauthorized, "Unknown API key"),
            (DecisionOutcome.UnknownSubject, _) => (StatusCodes.Status404NotFound, "Unknown subject"),
            _ => (StatusCodes.Status429TooManyRequests, "Too many requests"),
        };

        var detail = decision?.Outcome switch
        {
            DecisionOutcome.Denied when retryAfterMs > 0 => $"{decision.LimitedBy} admits no more now; retry after {RateLimitFields.CeilingSeconds(retryAfterMs)} s.",
            DecisionOutcome.Denied => $"{decision.LimitedBy} admits no more.",
            DecisionOutcome.Invalid when builder is not null => $"{reason} This endpoint's Quota policy reads its subjects from: {builder.Sources}.",
            // An unknown key's problem names the field only: the key itself is never echoed.
            DecisionOutcome.UnknownSubject when decision.Problem?.Field == "apiKey" => "The API key is not registered.",
            _ => reason,
        };

        var problem = new ProblemDetails
        {
            Type = status == StatusCodes.Status429TooManyRequests ? TooManyRequestsType : $"https://httpstatuses.io/{status}",
            Title = title,
            Status = status,
            Detail = detail,
            Instance = context.HttpContext.Request.Path,
        };
        if (decision?.LimitedBy is { } limitedBy)
        {
            problem.Extensions["limitedBy"] = limitedBy;
        }

        if (retryAfterMs > 0)
        {
            problem.Extensions["retryAfterMs"] = retryAfterMs;
        }

        response.StatusCode = status;
        await response.WriteAsJsonAsync(problem, (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json", cancellationToken);
    }

    /// <summary>The rate-limit fields of a lease's decision, and on a refusal <c>Retry-After</c>.</summary>
    internal static void WriteHeaders(HttpResponse response, RateLimitLease lease, bool retryAfter)
    {
        if (lease.TryGetMetadata(QuotaMetadata.Policies, out var policies) && policies is not null && RateLimitFields.Policy(policies) is { } policy)
        {
            response.Headers[RateLimitFields.PolicyHeader] = policy;
            response.Headers[RateLimitFields.StateHeader] = RateLimitFields.State(policies);
        }

        if (retryAfter && lease.TryGetMetadata(MetadataName.RetryAfter, out var wait)
            && RateLimitFields.RetryAfter((long)Math.Ceiling(wait.TotalMilliseconds)) is { } seconds)
        {
            response.Headers.RetryAfter = seconds;
        }
    }
}
