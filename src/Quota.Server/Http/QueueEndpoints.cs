using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Algorithms.Planning;
using Quota.Client;
using Quota.Server.Admin;
using Quota.Server.Hosting;

namespace Quota.Server.Http;

/// <summary>
/// Queues over HTTP: definitions under <c>/v1/admin/queues/{name}</c> (behind the admin gate), the defined queues with
/// their statistics at <c>GET /v1/queues</c>, work under <c>/v1/queues/{name}</c> (items, lease, ack, nack, statistics,
/// dead letters) and the deadline planner at
/// <c>POST /v1/plan</c>. Delivery is at least once. Every refusal is a problem naming its field.
/// </summary>
public static class QueueEndpoints
{
    /// <summary>The most queues one page of <c>GET /v1/queues</c> lists (and its default).</summary>
    public const int MaxListed = 100;

    // Enqueue bodies carry payloads: up to this many times the decision body limit (Quota:Http:MaxBodyBytes).
    private const int EnqueueBodyFactor = 64;

    /// <summary>Maps the queue endpoints and the planner.</summary>
    public static IEndpointRouteBuilder MapQuotaQueues(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/v1/admin/queues/{name}", async (string name, IGrainFactory grains) =>
            BadName(name) ?? (await Queue(grains, name).GetDefinitionAsync() is { } definition
                ? Results.Json(QueueBody.View(HttpJson.RouteName(name), definition), HttpJson.ResponseOptions)
                : UnknownQueue(name)))
            .Produces<QueueDefinitionView>().Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        app.MapPut("/v1/admin/queues/{name}", DefineAsync).Produces<QueueDefinitionView>().Problems(StatusCodes.Status400BadRequest);
        app.MapDelete("/v1/admin/queues/{name}", async (string name, AdminService admin) =>
            BadName(name) ?? (await admin.RemoveQueueAsync(HttpJson.RouteName(name), "api") ? Results.NoContent() : UnknownQueue(name)))
            .Produces(StatusCodes.Status204NoContent).Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);

        app.MapGet("/v1/queues", ListAsync).Produces<QueueListView>().Problems(StatusCodes.Status400BadRequest);
        var queues = app.MapGroup("/v1/queues/{name}");
        queues.MapPost("/items", EnqueueAsync).Produces<EnqueuedView>().Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        queues.MapPost("/lease", LeaseAsync).Produces<LeasedView>().Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        queues.MapPost("/ack", AckAsync).Produces<AckedView>().Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        queues.MapPost("/nack", NackAsync).Produces<NackedView>().Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        queues.MapGet("", StatsAsync).Produces<QueueStatsView>().Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        queues.MapGet("/dead", ListDeadAsync).Produces<DeadListView>().Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        queues.MapPost("/dead", DeadActionAsync).Produces<DeadActionView>().Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        app.MapPost("/v1/plan", PlanAsync).Produces<PlanView>().Problems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        return app;
    }

    private static IQueueGrain Queue(IGrainFactory grains, string name) => grains.GetGrain<IQueueGrain>(HttpJson.RouteName(name));

    private static IResult? BadName(string name) => HttpJson.BadNames(("name", HttpJson.RouteName(name)));

    private static IResult UnknownQueue(string name) =>
        HttpJson.Problem(StatusCodes.Status404NotFound, [new("name", $"no queue '{HttpJson.RouteName(name)}' is defined; PUT /v1/admin/queues/{{name}} defines one.")]);

    private static Task<IResult> DefineAsync(string name, HttpContext context, AdminService admin, IOptions<QuotaHttpOptions> http) =>
        HandleAsync<QueueBody, QueueDefinition?>(name, context, http.Value.MaxBodyBytes, static (body, problems) => body!.ToDefinition(string.Empty, problems),
            async definition => Results.Json(QueueBody.View(HttpJson.RouteName(name), await admin.DefineQueueAsync(HttpJson.RouteName(name), definition!, "api")), HttpJson.ResponseOptions));

    private static Task<IResult> EnqueueAsync(string name, HttpContext context, IGrainFactory grains, IOptions<QuotaHttpOptions> http) =>
        HandleAsync<JsonNode, QueueItemInput[]>(name, context, http.Value.MaxBodyBytes * EnqueueBodyFactor, ReadItems, async items =>
        {
            var answer = await Queue(grains, name).EnqueueAsync(items);
            return Answer(answer.Outcome, name, () => Results.Json(new EnqueuedView(answer.Ids, answer.Created), HttpJson.ResponseOptions), answer.Problems);
        }, HttpJson.RequestOptions);

    /// <summary>The items of an enqueue body (one item or an array of them); their problems named <c>items[2].payload</c> in an array.</summary>
    private static QueueItemInput[] ReadItems(JsonNode? node, List<FieldProblem> problems)
    {
        var nodes = node is JsonArray array ? [.. array] : new List<JsonNode?> { node };
        if (nodes.Count is 0 or > QueueRules.MaxBatch)
        {
            problems.Add(new("body", $"send one item or an array of 1 to {QueueRules.MaxBatch} items (got {nodes.Count})."));
            return [];
        }

        var items = new QueueItemInput[nodes.Count];
        for (var i = 0; i < nodes.Count; i++)
        {
            var path = node is JsonArray ? $"items[{i}]." : string.Empty;
            items[i] = ReadItem(nodes[i], path, problems)!;
        }

        return items;
    }

    /// <summary>One item of an enqueue body; null with its problems, each named under <paramref name="path"/>.</summary>
    private static QueueItemInput? ReadItem(JsonNode? node, string path, List<FieldProblem> problems)
    {
        if (node is not JsonObject)
        {
            problems.Add(new(path.Length == 0 ? "body" : path.TrimEnd('.'), "must be an item object: { \"payload\": …, \"attributes\": {…}, \"priority\": \"normal\" }."));
            return null;
        }

        ItemBody body;
        try
        {
            body = node.Deserialize<ItemBody>(HttpJson.StrictOptions)!;
        }
        catch (JsonException e)
        {
            var field = e.Path is null or "$" ? path.TrimEnd('.') : path + e.Path.TrimStart('$', '.');
            problems.Add(new(field.Length == 0 ? "body" : field, e.Message.Contains("could not be mapped", StringComparison.Ordinal)
                ? "is not a field of an item (id, payload, attributes, priority, notBefore, deadline); check its spelling and case."
                : "has the wrong type: ids and attribute values are strings, times are ISO 8601 strings with an offset."));
            return null;
        }

        var priority = Priority.Normal;
        if (body.Priority is { } text && !TryParsePriority(text, out priority))
        {
            problems.Add(new(path + "priority", $"'{text}' is not a priority; use critical, high, normal or low."));
        }

        return new QueueItemInput
        {
            Id = body.Id,
            Payload = body.Payload is { } payload ? payload.GetRawText() : "null",
            Attributes = body.Attributes,
            Priority = priority,
            NotBefore = body.NotBefore,
            Deadline = body.Deadline,
        };
    }

    private static Task<IResult> LeaseAsync(string name, HttpContext context, IGrainFactory grains, IOptions<QuotaHttpOptions> http) =>
        HandleAsync<LeaseBody, LeaseBody>(name, context, http.Value.MaxBodyBytes, static (body, problems) =>
        {
            body ??= new LeaseBody(null, null, null);
            RequestRules.CheckName(problems, "worker", body.Worker ?? "anonymous");
            if (body.Max is < 1 or > QueueRules.MaxLease)
            {
                problems.Add(new("max", $"must be from 1 to {QueueRules.MaxLease} (got {body.Max})."));
            }

            if (body.WaitMs is < 0 or > QueueRules.MaxLeaseWaitMs)
            {
                problems.Add(new("waitMs", $"must be from 0 to {QueueRules.MaxLeaseWaitMs} (got {body.WaitMs})."));
            }

            return body;
        }, async body =>
        {
            var answer = await Queue(grains, name).LeaseAsync(body.Worker ?? "anonymous", body.Max ?? 1, body.WaitMs ?? 0);
            return Answer(answer.Outcome, name, () => Results.Json(new LeasedView([.. answer.Items.Select(LeasedItemView.Of)], answer.RetryAfterMs), HttpJson.ResponseOptions));
        }, allowEmpty: true);

    private static Task<IResult> AckAsync(string name, HttpContext context, IGrainFactory grains, IOptions<QuotaHttpOptions> http) =>
        HandleAsync<AckBody, string>(name, context, http.Value.MaxBodyBytes, static (body, problems) =>
        {
            if (string.IsNullOrEmpty(body!.LeaseId))
            {
                problems.Add(new("leaseId", "is required: the leaseId a lease answered with."));
            }

            return body.LeaseId!;
        }, async leaseId => Answer(await Queue(grains, name).AckAsync(leaseId), name, () => Results.Json(new AckedView(leaseId, Acked: true), HttpJson.ResponseOptions)));

    private static Task<IResult> NackAsync(string name, HttpContext context, IGrainFactory grains, IOptions<QuotaHttpOptions> http) =>
        HandleAsync<NackBody, NackRequest>(name, context, http.Value.MaxBodyBytes, static (body, problems) =>
        {
            if (string.IsNullOrEmpty(body!.LeaseId))
            {
                problems.Add(new("leaseId", "is required: the leaseId a lease answered with."));
            }

            if (body.UpstreamStatus is { } status && status is < 100 or > 599)
            {
                problems.Add(new("upstreamStatus", $"must be an HTTP status from 100 to 599 (got {status})."));
            }

            if (body.RetryAfterMs is < 0 or > UpstreamFeedback.MaxRetryAfterMs)
            {
                problems.Add(new("retryAfterMs", $"must be from 0 to {UpstreamFeedback.MaxRetryAfterMs} (got {body.RetryAfterMs})."));
            }

            return new NackRequest { LeaseId = body.LeaseId ?? string.Empty, Error = body.Error, UpstreamStatus = body.UpstreamStatus, RetryAfterMs = body.RetryAfterMs };
        }, async request =>
        {
            var answer = await Queue(grains, name).NackAsync(request);
            return Answer(answer.Outcome, name, () => Results.Json(new NackedView(request.LeaseId, answer.Dead, answer.RetryAfterMs), HttpJson.ResponseOptions));
        });

    private static async Task<IResult> StatsAsync(string name, IGrainFactory grains) =>
        BadName(name) ?? (await Queue(grains, name).GetStatsAsync() is { } stats
            ? Results.Json(QueueStatsView.Of(HttpJson.RouteName(name), stats), HttpJson.ResponseOptions)
            : UnknownQueue(name));

    /// <summary>
    /// <c>GET /v1/queues?limit=100&amp;after=name</c>: the defined queues in ordinal order of name with their statistics, at
    /// most <see cref="MaxListed"/> a page; <c>next</c> is the <c>after</c> of the next page (null on the last).
    /// </summary>
    private static async Task<IResult> ListAsync(string? limit, string? after, IGrainFactory grains)
    {
        var problems = new List<FieldProblem>();
        var count = MaxListed;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count is < 1 or > MaxListed))
        {
            problems.Add(new("limit", $"must be a whole number from 1 to {MaxListed} (got '{limit}'); the default is {MaxListed}. Page on with after."));
        }

        if (after is not null)
        {
            RequestRules.CheckName(problems, "after", after);
        }

        if (problems.Count > 0)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, problems);
        }

        // One name more than the page: whether a next page exists without a second call.
        var names = await grains.GetGrain<IRegistryGrain>(0).ListQueuesAsync(after, count + 1);
        var page = names.Take(count).ToArray();
        var stats = await Task.WhenAll(page.Select(n => grains.GetGrain<IQueueGrain>(n).GetStatsAsync()));

        // A queue removed since it was listed answers no statistics and is left out.
        var queues = page.Zip(stats).Where(s => s.Second is not null).Select(s => QueueStatsView.Of(s.First, s.Second!)).ToArray();
        return Results.Json(new QueueListView(queues, names.Length > count ? page[^1] : null), HttpJson.ResponseOptions);
    }

    private static async Task<IResult> ListDeadAsync(string name, string? limit, IGrainFactory grains)
    {
        if (BadName(name) is { } bad)
        {
            return bad;
        }

        var count = 100;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count is < 1 or > 1000))
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, [new("limit", $"must be a whole number from 1 to 1000 (got '{limit}'); the default is 100.")]);
        }

        return await Queue(grains, name).ListDeadAsync(count) is { } dead
            ? Results.Json(
                new DeadListView([.. dead.Select(d => new DeadItemView(d.Id, JsonNode.Parse(d.Payload), LeasedItemView.PriorityName(d.Priority), d.Attempts, d.Error, d.UpstreamStatus, d.DiedAt))]),
                HttpJson.ResponseOptions)
            : UnknownQueue(name);
    }

    private static Task<IResult> DeadActionAsync(string name, HttpContext context, IGrainFactory grains, IOptions<QuotaHttpOptions> http) =>
        HandleAsync<DeadBody, DeadBody>(name, context, http.Value.MaxBodyBytes, static (body, problems) =>
        {
            if (body!.Action is not ("requeue" or "purge"))
            {
                problems.Add(new("action", $"must be requeue or purge (got '{body.Action}'); ids names the items, or omit it for all."));
            }
            else if (body.Ids is { Length: > QueueRules.MaxBatch })
            {
                problems.Add(new("ids", $"at most {QueueRules.MaxBatch} ids at once (got {body.Ids.Length})."));
            }

            return body;
        }, async body =>
        {
            var queue = Queue(grains, name);
            var count = body.Action == "requeue" ? await queue.RequeueAsync(body.Ids) : await queue.PurgeAsync(body.Ids);
            return count < 0
                ? UnknownQueue(name)
                : Results.Json(body.Action == "requeue" ? new DeadActionView(Requeued: count, Purged: null) : new DeadActionView(Requeued: null, Purged: count), HttpJson.ResponseOptions);
        });

    /// <summary>
    /// One queue request's scaffolding, the same for every endpoint with a body: the route's name checked, the body
    /// read (at most <paramref name="maxBytes"/>; with <paramref name="allowEmpty"/> an empty body reaches
    /// <paramref name="validate"/> as null), <paramref name="validate"/> turning it into the grain's input while it
    /// collects every problem (a <c>400</c> naming each field), then <paramref name="call"/> with that input.
    /// </summary>
    private static async Task<IResult> HandleAsync<TBody, TInput>(
        string name,
        HttpContext context,
        int maxBytes,
        Func<TBody?, List<FieldProblem>, TInput> validate,
        Func<TInput, Task<IResult>> call,
        JsonSerializerOptions? options = null,
        bool allowEmpty = false)
        where TBody : class
    {
        if (BadName(name) is { } bad)
        {
            return bad;
        }

        var (body, problem) = await HttpJson.ReadAsync<TBody>(context, maxBytes, options, allowEmpty);
        if (problem is not null)
        {
            return problem;
        }

        var problems = new List<FieldProblem>();
        var input = validate(body, problems);
        return problems.Count > 0 ? HttpJson.Problem(StatusCodes.Status400BadRequest, problems) : await call(input);
    }

    /// <summary>A grain's outcome as HTTP: <paramref name="done"/> when done, else the problem that names what is wrong.</summary>
    private static IResult Answer(QueueOutcome outcome, string name, Func<IResult> done, FieldProblem[]? problems = null) => outcome switch
    {
        QueueOutcome.Done => done(),
        QueueOutcome.UnknownQueue => UnknownQueue(name),
        QueueOutcome.UnknownLease => UnknownLease(),
        QueueOutcome.Full => HttpJson.Problem(StatusCodes.Status409Conflict, problems ?? []),
        _ => HttpJson.Problem(StatusCodes.Status400BadRequest, problems ?? []),
    };

    /// <summary>
    /// <c>POST /v1/plan</c>: whether <c>items</c> items of <c>processingTime</c> each finish by <c>deadline</c> under the
    /// rate of <c>dispatch</c>'s limits (a peek: nothing is taken) or a given <c>ratePerMinute</c>, and how many workers
    /// to run (<see cref="WorkPlan"/>).
    /// </summary>
    private static async Task<IResult> PlanAsync(HttpContext context, IQuotaClient quota, IOptions<QuotaHttpOptions> http)
    {
        var (body, problem) = await HttpJson.ReadAsync<PlanBody>(context, http.Value.MaxBodyBytes);
        if (problem is not null)
        {
            return problem;
        }

        var problems = new List<FieldProblem>();
        // "Is required" only when it is missing: a value out of range is named with what was sent.
        if (body!.Items is not { } items || items < 0 || items > int.MaxValue)
        {
            problems.Add(new("items", body.Items is { } given
                ? $"must be from 0 to {int.MaxValue} (got {given})."
                : $"is required: how many items, from 0 to {int.MaxValue}."));
        }

        if (body.ProcessingTime is not { } processing || processing <= TimeSpan.Zero || processing > TimeSpan.FromDays(1))
        {
            problems.Add(new("processingTime", body.ProcessingTime is { } took
                ? $"must be more than 0 and at most a day (got {took:c})."
                : "is required: the time one item takes, more than 0 and at most a day, e.g. \"00:00:10\"."));
        }

        if (body.Deadline is { } deadline && (deadline <= TimeSpan.Zero || deadline > TimeSpan.FromDays(366)))
        {
            problems.Add(new("deadline", "must be more than 0 and at most 366 days from now, e.g. \"00:03:00\"; omit it for none."));
        }

        if (body.MaxWorkers is < 1 or > QueueRules.MaxWorkersCeiling)
        {
            problems.Add(new("maxWorkers", $"must be from 1 to {QueueRules.MaxWorkersCeiling} (got {body.MaxWorkers}); the default is 10."));
        }

        if ((body.Dispatch is null) == (body.RatePerMinute is null))
        {
            problems.Add(new("dispatch", "give exactly one of dispatch (an acquire body whose limits set the rate) or ratePerMinute."));
        }
        else if (body.RatePerMinute is { } given && (given <= 0 || double.IsNaN(given) || double.IsInfinity(given)))
        {
            problems.Add(new("ratePerMinute", $"must be a number more than 0 (got {given})."));
        }

        AcquireRequest? peek = null;
        if (body.Dispatch is { } dispatch)
        {
            peek = new AcquireRequest { User = dispatch.User, Tenant = dispatch.Tenant, Upstream = dispatch.Upstream, Resources = dispatch.Resources, Cost = 0 };
            problems.AddRange(RequestRules.Validate(peek, null).Select(p => p with { Field = "dispatch." + p.Field }));
        }

        if (problems.Count > 0)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, problems);
        }

        var perMinute = body.RatePerMinute;
        if (peek is not null)
        {
            var result = await quota.AcquireAsync(peek, context.RequestAborted);
            if (result.Outcome is DecisionOutcome.UnknownSubject or DecisionOutcome.Invalid)
            {
                var refused = result.Problem! with { Field = "dispatch." + result.Problem!.Field };
                return HttpJson.Problem(result.Outcome == DecisionOutcome.UnknownSubject ? StatusCodes.Status404NotFound : StatusCodes.Status400BadRequest, [refused]);
            }

            perMinute = QueueRules.SlowestRatePerMinute(result.Policies, body.Dispatch!.Cost ?? 1);
        }

        var plan = WorkPlan.Of(body.Items!.Value, perMinute / 60, body.ProcessingTime!.Value, body.Deadline, body.MaxWorkers ?? 10);
        return Results.Json(
            new PlanView(plan.Feasible, plan.FinishTime, (long)plan.FinishTime.TotalMilliseconds, plan.Workers, plan.WorkersForDeadline, plan.WorkersUsable, plan.LimitedBy, perMinute),
            HttpJson.ResponseOptions);
    }

    private static IResult UnknownLease() =>
        HttpJson.Problem(StatusCodes.Status404NotFound, [new("leaseId", "no item is leased under this id: it was acked or nacked, its visibility timeout passed (the item was handed out again), or it was never issued.")]);

    private static bool TryParsePriority(string text, out Priority priority)
    {
        priority = Priority.Normal;
        return !int.TryParse(text, out _) && Enum.TryParse(text, ignoreCase: true, out priority) && Enum.IsDefined(priority);
    }

    private sealed record ItemBody(string? Id, JsonElement? Payload, Dictionary<string, string>? Attributes, string? Priority, DateTimeOffset? NotBefore, DateTimeOffset? Deadline);

    private sealed record LeaseBody(string? Worker, int? Max, long? WaitMs);

    private sealed record AckBody(string? LeaseId);

    private sealed record NackBody(string? LeaseId, string? Error, int? UpstreamStatus, long? RetryAfterMs);

    private sealed record DeadBody(string? Action, string[]? Ids);

    private sealed record PlanBody(long? Items, TimeSpan? ProcessingTime, TimeSpan? Deadline, DispatchBody? Dispatch, double? RatePerMinute, int? MaxWorkers);
}
