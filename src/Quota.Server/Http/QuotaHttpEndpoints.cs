using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Client;
using Quota.Grains.Configuration;
using Quota.Grains.Subjects;
using Quota.Server.Admin;
using Quota.Server.Hosting;

namespace Quota.Server.Http;

/// <summary>
/// The HTTP v1 decision endpoints: <c>POST /v1/acquire</c>, <c>/v1/settle</c>, <c>/v1/release</c>,
/// <c>GET /v1/usage/{kind}/{id}</c>, and the upstream ones of <see cref="UpstreamEndpoints"/>. 200 allowed, 429 denied (with <c>Retry-After</c>), rate-limit headers on
/// every decision, and RFC 9457 problem details naming the field for anything else.
/// </summary>
public static class QuotaHttpEndpoints
{
    /// <summary>Maps the decision endpoints and <c>/healthz</c>.</summary>
    public static IEndpointRouteBuilder MapQuotaApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var v1 = app.MapGroup("/v1");
        v1.MapPost("/acquire", AcquireAsync).WithMetadata(PriorityFromBody.Instance)
            .Accepts<AcquireBody>("application/json").Produces<AcquireResponse>().Produces<AcquireResponse>(StatusCodes.Status429TooManyRequests)
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        v1.MapPost("/settle", SettleAsync).Accepts<SettleBody>("application/json").Produces<SettleResponse>()
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        v1.MapPost("/release", ReleaseAsync).Accepts<ReleaseBody>("application/json").Produces<ReleaseResponse>()
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        v1.MapGet("/usage/{kind}/{id}", UsageAsync).Produces<UsageReport>()
            .Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);

        // A token's id is "{upstream}/{tokenId}": this route spells it as two segments (the one above takes it with %2F).
        v1.MapGet("/usage/token/{upstream}/{id}", (string upstream, string id, IQuotaClient quota, HttpContext context) =>
            UsageAsync("token", TokenKeys.Key(HttpJson.RouteName(upstream), HttpJson.RouteName(id)), quota, context))
            .Produces<UsageReport>().Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        v1.MapUpstreams();
        app.MapGet(Hosting.QuotaApplicationExtensions.LivenessPath, () => Results.Text("ok\n")).Produces<string>(contentType: "text/plain");
        // A browser (Accept: text/html, not JSON) gets links to the console and the dashboard; everything else the JSON.
        app.MapGet("/", (HttpContext context) => OperatorConsole.FrontPage.WantsHtml(context.Request) ? OperatorConsole.FrontPage.Html() : Results.Json(ServiceIndex.Instance, HttpJson.ResponseOptions))
            .Produces<ServiceIndex>().AlsoAnswersText("text/html");
        return app;
    }

    private static async Task<IResult> AcquireAsync(HttpContext context, IQuotaClient quota, IOptions<QuotaHttpOptions> http, IOptions<DecisionOptions> decisions, AdminAccess admin, RequestGate gate)
    {
        var (body, problem) = await HttpJson.ReadAsync<AcquireBody>(context, http.Value.MaxBodyBytes);
        if (problem is not null)
        {
            return problem;
        }

        var problems = new List<FieldProblem>();
        var priority = Priority.Normal;
        if (body!.Priority is { } text && !TryParsePriority(text, out priority))
        {
            problems.Add(new("priority", $"'{text}' is not a priority; use critical, high, normal or low."));
        }

        var request = new AcquireRequest
        {
            User = body.User,
            ApiKey = body.ApiKey,
            Tenant = body.Tenant,
            Upstream = body.Upstream,
            Resources = body.Resources,
            Cost = body.Cost ?? 1,
            Priority = priority,
            MaxWaitMs = body.MaxWaitMs ?? 0,
            Reserve = body.Reserve ?? false,
            IncludeSecret = body.IncludeSecret ?? false,
        };

        // Validated once, here where it enters: every problem at once, and the inside trusts what passes.
        var valid = RequestRules.TryValidate(request, decisions.Value.MaxWait, out var validated, out var invalid);
        if (!valid || problems.Count > 0)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, [.. problems, .. invalid]);
        }

        // Decided before anything is consumed: a refused secret costs the caller no permit.
        if (request.IncludeSecret && admin.Check(context) is { } refused)
        {
            if (refused.Status == StatusCodes.Status429TooManyRequests)
            {
                return refused.ToResult(context);
            }

            return HttpJson.Problem(StatusCodes.Status403Forbidden, [new("includeSecret", "only admin-scoped callers may receive secrets; omit it to receive the token id.")]);
        }

        if (Shedding.Enter(context, gate, priority) is { } shed)
        {
            return shed;
        }

        AcquireResult result;
        try
        {
            result = await quota.AcquireAsync(validated, Shedding.DecisionToken(context, gate, request.MaxWaitMs > 0));
        }
        catch (OperationCanceledException) when (Shedding.StoppedWhileWaiting(context, gate))
        {
            return Shedding.Answer(context, RequestGate.Refusal.Stopping, priority);
        }

        switch (result.Outcome)
        {
            case DecisionOutcome.Invalid:
                return HttpJson.Problem(StatusCodes.Status400BadRequest, [result.Problem!]);
            case DecisionOutcome.UnknownSubject:
                return HttpJson.Problem(StatusCodes.Status404NotFound, [result.Problem!]);
            case DecisionOutcome.Overloaded:
                return HttpJson.Overloaded(context, TimeSpan.FromMilliseconds(result.RetryAfterMs), ShedDetail(result.Problem));
            case DecisionOutcome.CostExceedsLimit:
                RateLimitHeaders.Write(context.Response, result.Policies, 0);
                return HttpJson.Problem(StatusCodes.Status400BadRequest, [result.Problem!], new() { ["limitedBy"] = result.LimitedBy });
        }

        RateLimitHeaders.Write(context.Response, result.Policies, result.RetryAfterMs);
        var response = new AcquireResponse(
            result.Allowed,
            result.LimitedBy,
            result.Cause == DenialCause.None ? null : result.Cause,
            result.Remaining,
            result.Limit,
            result.ResetAfterMs,
            result.RetryAfterMs,
            result.Token is { } token ? new TokenResponse(token.Id, token.Upstream, request.IncludeSecret ? token.Secret : null) : null,
            result.LeaseId,
            result.Policies);
        return Results.Json(response, HttpJson.ResponseOptions, statusCode: result.Allowed ? StatusCodes.Status200OK : StatusCodes.Status429TooManyRequests);
    }

    private static async Task<IResult> SettleAsync(HttpContext context, IQuotaClient quota, IOptions<QuotaHttpOptions> http)
    {
        var (body, problem) = await HttpJson.ReadAsync<SettleBody>(context, http.Value.MaxBodyBytes);
        if (problem is not null)
        {
            return problem;
        }

        var problems = new List<FieldProblem>();
        if (string.IsNullOrEmpty(body!.LeaseId))
        {
            problems.Add(new("leaseId", "is required: the leaseId an acquire with reserve returned."));
        }

        if (body.ActualCost is not { } actual)
        {
            problems.Add(new("actualCost", "is required: what the work really cost, 0 or more."));
        }
        else if (actual < 0)
        {
            problems.Add(new("actualCost", $"must be 0 or more (got {actual})."));
        }

        if (problems.Count > 0)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, problems);
        }

        var outcome = await quota.SettleAsync(body.LeaseId!, body.ActualCost!.Value, context.RequestAborted);
        return LeaseResult(outcome, body.LeaseId!, "settled");
    }

    private static async Task<IResult> ReleaseAsync(HttpContext context, IQuotaClient quota, IOptions<QuotaHttpOptions> http)
    {
        var (body, problem) = await HttpJson.ReadAsync<ReleaseBody>(context, http.Value.MaxBodyBytes);
        if (problem is not null)
        {
            return problem;
        }

        if (string.IsNullOrEmpty(body!.LeaseId))
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, [new("leaseId", "is required: the leaseId an acquire returned.")]);
        }

        var outcome = await quota.ReleaseAsync(body.LeaseId, context.RequestAborted);
        return LeaseResult(outcome, body.LeaseId, "released");
    }

    private static async Task<IResult> UsageAsync(string kind, string id, IQuotaClient quota, HttpContext context)
    {
        if (context.Request.Query.ContainsKey("from") || context.Request.Query.ContainsKey("to"))
        {
            return await UsageHistory.ReadAsync(kind, id, context);
        }

        id = HttpJson.RouteName(id);
        if (!SubjectNames.TryParsePrefix(kind, out var subjectKind))
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, [new("kind", $"'{kind}' is not a kind of subject; use user, key, tenant, token or resource.")]);
        }

        var problems = new List<FieldProblem>();
        RequestRules.CheckName(problems, "id", id);
        if (subjectKind == SubjectKind.ApiKey && problems.Count == 0 && !ApiKeyHasher.IsKeyId(id))
        {
            problems.Add(new("id", "use the key id (64 hex digits) returned when the key was registered, never the raw key."));
        }

        if (problems.Count > 0)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, problems);
        }

        var usage = await quota.GetUsageAsync(subjectKind, id, context.RequestAborted);
        if (usage.Overloaded)
        {
            return HttpJson.Overloaded(context, TimeSpan.FromMilliseconds(usage.RetryAfterMs), ShedDetail(new("id", $"{usage.Subject} was not read: the silo is at its ceiling of active subjects (Quota:Limits:MaxActiveSubjects). Retry later.")));
        }

        return usage.Known
            ? Results.Json(usage, HttpJson.ResponseOptions)
            : HttpJson.Problem(StatusCodes.Status404NotFound, [new("id", $"{usage.Subject} is not known: no such registered key, configured resource, tenant or token.")]);
    }

    /// <summary>A shed request's detail, naming the subject the ceiling refused (its field, then what happened).</summary>
    private static string ShedDetail(FieldProblem? problem) =>
        problem is null ? "The silo is at its ceiling of active subjects (Quota:Limits:MaxActiveSubjects); nothing was consumed. Retry later." : $"{problem.Field}: {problem.Detail}";

    private static IResult LeaseResult(LeaseOutcome outcome, string leaseId, string verb) => outcome switch
    {
        LeaseOutcome.Done => verb == "settled"
            ? Results.Json(new SettleResponse(leaseId, Settled: true), HttpJson.ResponseOptions)
            : Results.Json(new ReleaseResponse(leaseId, Released: true), HttpJson.ResponseOptions),
        LeaseOutcome.NotFound => HttpJson.Problem(StatusCodes.Status404NotFound, [new("leaseId", "no subject holds this lease: it was already settled or released, or it expired.")]),
        _ => HttpJson.Problem(StatusCodes.Status400BadRequest, [new("leaseId", "is not a lease id issued by this service.")]),
    };

    private static bool TryParsePriority(string text, out Priority priority)
    {
        priority = Priority.Normal;
        return !int.TryParse(text, out _) && Enum.TryParse(text, ignoreCase: true, out priority) && Enum.IsDefined(priority);
    }

    private sealed record AcquireBody(
        string? User,
        string? ApiKey,
        string? Tenant,
        string? Upstream,
        string[]? Resources,
        long? Cost,
        string? Priority,
        long? MaxWaitMs,
        bool? Reserve,
        bool? IncludeSecret);

    private sealed record SettleBody(string? LeaseId, long? ActualCost);

    private sealed record ReleaseBody(string? LeaseId);

    /// <summary>A settled reservation: <c>{ "leaseId": "…", "settled": true }</c>.</summary>
    private sealed record SettleResponse(string LeaseId, bool Settled);

    /// <summary>A released lease: <c>{ "leaseId": "…", "released": true }</c>.</summary>
    private sealed record ReleaseResponse(string LeaseId, bool Released);

    /// <summary>The chosen token; <c>secret</c> only when asked for and granted, never written as null.</summary>
    private sealed record TokenResponse(string Id, string Upstream, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Secret);

    private sealed record AcquireResponse(
        bool Allowed,
        string? LimitedBy,
        DenialCause? Cause,
        long Remaining,
        long Limit,
        long ResetAfterMs,
        long RetryAfterMs,
        TokenResponse? Token,
        string? LeaseId,
        PolicyState[] Policies);
}

/// <summary>What <c>GET /</c> answers a program: where each part of the service is.</summary>
/// <param name="Service">The service's name.</param>
/// <param name="Description">One line on what it does.</param>
/// <param name="Decisions">The decision endpoints.</param>
/// <param name="Queues">The queue endpoints.</param>
/// <param name="Admin">The admin API's areas.</param>
/// <param name="Dashboard">The Orleans Dashboard.</param>
/// <param name="Console">The Quota console.</param>
/// <param name="Metrics">Prometheus metrics.</param>
/// <param name="Health">The liveness probe.</param>
/// <param name="Readiness">The readiness probe.</param>
/// <param name="OpenApi">This API's OpenAPI document.</param>
/// <param name="Docs">Where the documentation is.</param>
public sealed record ServiceIndex(
    string Service, string Description, string[] Decisions, string[] Queues, string Admin, string Dashboard, string Console, string Metrics,
    string Health, string Readiness, string OpenApi, string Docs)
{
    /// <summary>The one index.</summary>
    public static ServiceIndex Instance { get; } = new(
        "Quota",
        "Distributed quotas and rate limits: may I do this now?",
        ["POST /v1/acquire", "POST /v1/settle", "POST /v1/release", "POST /v1/feedback", "GET /v1/usage/{kind}/{id}", "GET /v1/usage/{kind}/{id}?from=&to="],
        ["GET /v1/queues", "POST /v1/queues/{name}/items", "POST /v1/queues/{name}/lease", "POST /v1/queues/{name}/ack", "POST /v1/queues/{name}/nack", "GET /v1/queues/{name}", "GET|POST /v1/queues/{name}/dead", "POST /v1/plan"],
        "/v1/admin (users, keys, resources, upstreams, tenants, queues, domains, scheduler, changes, apply); GET /v1/upstreams/{name}/allocation",
        "/dashboard",
        OperatorConsole.ConsoleEndpoints.Root,
        "/metrics",
        Hosting.QuotaApplicationExtensions.LivenessPath,
        Hosting.QuotaApplicationExtensions.ReadinessPath,
        QuotaOpenApi.DocumentPath,
        "docs/api.md and docs/operations.md in the source repository");
}
