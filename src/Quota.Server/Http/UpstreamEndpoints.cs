using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Server.Hosting;

namespace Quota.Server.Http;

/// <summary>
/// What apps tell Quota about upstreams and what Quota tells operators: <c>POST /v1/feedback</c> (an upstream's answer
/// on a token, for its circuit breaker; open to apps like <c>/v1/acquire</c>) and
/// <c>GET /v1/upstreams/{name}/allocation</c> (the pool's capacity, leases and tokens; behind the admin gate, since
/// it names every tenant of the upstream with its usage).
/// </summary>
internal static class UpstreamEndpoints
{
    /// <summary>Maps <c>/feedback</c> and <c>/upstreams/{name}/allocation</c> on the v1 group.</summary>
    public static void MapUpstreams(this RouteGroupBuilder v1)
    {
        v1.MapPost("/feedback", FeedbackAsync).Accepts<FeedbackBody>("application/json").Produces<FeedbackResponse>()
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        v1.MapGet("/upstreams/{name}/allocation", AllocationAsync).Produces<AllocationReport>()
            .Problems(QuotaOpenApi.AdminRefusals).Problems(StatusCodes.Status404NotFound);
    }

    private static async Task<IResult> FeedbackAsync(HttpContext context, IGrainFactory grains, IOptions<QuotaHttpOptions> http)
    {
        var (body, problem) = await HttpJson.ReadAsync<FeedbackBody>(context, http.Value.MaxBodyBytes);
        if (problem is not null)
        {
            return problem;
        }

        var problems = new List<FieldProblem>();
        foreach (var (field, value, what) in new[] { ("upstream", body!.Upstream, "the upstream the token belongs to"), ("token", body.Token, "the id of the token the upstream answered on") })
        {
            if (value is null)
            {
                problems.Add(new(field, $"is required: {what}."));
            }
            else
            {
                RequestRules.CheckName(problems, field, value);
            }
        }

        if (body.Status is not { } status)
        {
            problems.Add(new("status", "is required: the HTTP status the upstream answered, or 0 when no answer came."));
        }
        else if (status is not 0 and (< 100 or > 599))
        {
            problems.Add(new("status", $"must be an HTTP status from 100 to 599, or 0 when no answer came (got {status})."));
        }

        if (body.RetryAfterMs is < 0 or > UpstreamFeedback.MaxRetryAfterMs)
        {
            problems.Add(new("retryAfterMs", $"must be from 0 to {UpstreamFeedback.MaxRetryAfterMs} milliseconds (one day; got {body.RetryAfterMs}); send the upstream's Retry-After, at most a day, or omit it when the upstream sent none."));
        }

        if (problems.Count > 0)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, problems);
        }

        var health = await grains.GetGrain<IUpstreamTokenGrain>(TokenKeys.Key(body.Upstream!, body.Token!))
            .ReportAsync(new UpstreamFeedback { Status = body.Status!.Value, RetryAfterMs = body.RetryAfterMs });
        return health is null
            ? HttpJson.Problem(StatusCodes.Status404NotFound, [new("token", $"upstream '{body.Upstream}' has no token '{body.Token}' (or the upstream is not configured).")])
            : Results.Json(new FeedbackResponse(body.Upstream!, body.Token!, health), HttpJson.ResponseOptions);
    }

    private static async Task<IResult> AllocationAsync(string name, IGrainFactory grains)
    {
        name = HttpJson.RouteName(name);
        return HttpJson.BadNames(("name", name)) ?? (await grains.GetGrain<IPoolGrain>(name).GetAllocationAsync() is { } report
            ? Results.Json(report, HttpJson.ResponseOptions)
            : HttpJson.Problem(StatusCodes.Status404NotFound, [new("name", $"upstream '{name}' is not configured.")]));
    }

    private sealed record FeedbackBody(string? Upstream, string? Token, int? Status, long? RetryAfterMs);

    /// <summary>The token's health after the report.</summary>
    private sealed record FeedbackResponse(string Upstream, string Token, TokenHealth Health);
}
