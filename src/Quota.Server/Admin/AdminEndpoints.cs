using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Grains.Administration;
using Quota.Grains.Configuration;
using Quota.Grains.Subjects;
using Quota.Server.Hosting;
using Quota.Server.Http;
using Quota.Server.Rls;

namespace Quota.Server.Admin;

/// <summary>
/// The admin API under <c>/v1/admin</c>: users, keys, resources, tenancy (see <see cref="TenancyEndpoints"/>), the
/// scheduler (see <see cref="SchedulerEndpoints"/>), the change log and declarative apply. Guarded by
/// <see cref="AdminGate"/>. Every change takes effect on live subjects at once, keeps current usage, and is recorded.
/// </summary>
public static class AdminEndpoints
{
    private const int DefaultChanges = 100;

    /// <summary>Maps the admin API behind the admin gate, and the dashboard's sign-in and sign-out.</summary>
    public static IEndpointRouteBuilder MapQuotaAdmin(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // Every admin operation may be refused by the gate (401, 403, 429) or for its input (400), as problem details.
        var admin = app.MapGroup("/v1/admin").Problems(QuotaOpenApi.AdminRefusals);

        admin.MapGet("/users", async (AdminService service) => Results.Json(new UserList(await service.ListAsync(SubjectKind.User)), HttpJson.ResponseOptions))
            .Produces<UserList>();
        admin.MapSubject("/users/{id}", SubjectKind.User, "id");

        admin.MapGet("/users/{id}/keys", async (string id, AdminService service) =>
        {
            id = HttpJson.RouteName(id);
            return HttpJson.BadNames(("id", id)) ?? Results.Json(new UserKeys(id, [.. (await service.KeysOfAsync(id)).Select(KeyView.Of)]), HttpJson.ResponseOptions);
        }).Produces<UserKeys>();
        admin.MapPost("/users/{id}/keys", RegisterKeyAsync).Takes<KeyBody>().Produces<RegisteredKey>(StatusCodes.Status201Created).Problems(StatusCodes.Status409Conflict);
        admin.MapGet("/keys", async (AdminService service) => Results.Json(new KeyList(await service.ListAsync(SubjectKind.ApiKey)), HttpJson.ResponseOptions))
            .Produces<KeyList>();
        admin.MapGet("/keys/{keyId}", async (string keyId, AdminService service) =>
            CheckKeyId(keyId) ?? (await service.GetKeyAsync(keyId) is { } info ? Results.Json(KeyView.Of(info), HttpJson.ResponseOptions) : UnknownKey()))
            .Produces<KeyView>().Problems(StatusCodes.Status404NotFound);
        admin.MapPut("/keys/{keyId}", SetKeyAsync).Takes<SubjectBody>().Produces<KeyView>().Problems(StatusCodes.Status404NotFound);
        admin.MapDelete("/keys/{keyId}", async (string keyId, AdminService service) =>
            CheckKeyId(keyId) ?? (await service.RevokeKeyAsync(keyId, "api") ? Results.NoContent() : UnknownKey()))
            .Produces(StatusCodes.Status204NoContent).Problems(StatusCodes.Status404NotFound);

        admin.MapGet("/resources", async (AdminService service, PolicyCatalog catalog) => Results.Json(
            new ResourceList([.. catalog.ResourceNames.Order(StringComparer.Ordinal)], await service.ListAsync(SubjectKind.Resource)),
            HttpJson.ResponseOptions)).Produces<ResourceList>();
        admin.MapSubject("/resources/{name}", SubjectKind.Resource, "name");

        admin.MapGet("/changes", GetChangesAsync).Produces<ChangeList>();
        // Any other Content-Type, or none, is refused by routing, and the cross-site guard answers that with the problem
        // naming these types (CrossSiteGuard).
        admin.MapPost("/apply", ApplyAsync).Accepts(typeof(ApplyDocument), DocumentMediaTypes.Accepted[0], DocumentMediaTypes.Accepted[1..]).Produces<ApplyAnswer>();

        admin.MapTenancy();
        admin.MapScheduler();
        admin.MapDomains();
        AdminGate.MapDashboardSessions(app);

        return app;
    }

    /// <summary>
    /// The change log, newest first. <c>limit</c> (1 to the log's capacity, default 100) is read here rather than
    /// bound, so a bad value is a problem naming it, like every other admin error, not an empty 400.
    /// </summary>
    private static async Task<IResult> GetChangesAsync(AdminService service, string? limit, string? subject)
    {
        var count = DefaultChanges;
        return limit is not null
            && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count is < 1 or > ChangeLogGrain.Capacity)
            ? HttpJson.Problem(StatusCodes.Status400BadRequest, [new("limit", $"must be a whole number from 1 to {ChangeLogGrain.Capacity} (got '{limit}'); the default is {DefaultChanges}.")])
            : Results.Json(new ChangeList([.. (await service.ChangesAsync(count, subject)).Select(ChangeView.Of)]), HttpJson.ResponseOptions);
    }

    /// <summary>
    /// Maps <c>GET</c> (the policies in force), <c>PUT</c> (replace its own policies) and <c>DELETE</c> (back to the
    /// configured ones) of one subject of <paramref name="kind"/>, named by the route value <paramref name="field"/>.
    /// </summary>
    private static void MapSubject(this RouteGroupBuilder admin, string pattern, SubjectKind kind, string field)
    {
        string Id(HttpContext context) => HttpJson.RouteName(context.GetRouteValue(field) as string ?? string.Empty);
        admin.MapGet(pattern, (HttpContext context, AdminService service) => GetSubjectAsync(service, kind, field, Id(context)))
            .Produces<SubjectView>();
        admin.MapPut(pattern, (HttpContext context, AdminService service, IOptions<QuotaHttpOptions> http) => SetSubjectAsync(context, service, http.Value, kind, field, Id(context)))
            .Takes<SubjectBody>().Produces<SubjectView>();
        admin.MapDelete(pattern, (HttpContext context, AdminService service) => ResetSubjectAsync(service, kind, field, Id(context)))
            .Produces<SubjectView>();
    }

    private static async Task<IResult> GetSubjectAsync(AdminService service, SubjectKind kind, string field, string id)
    {
        if (HttpJson.BadNames((field, id)) is { } problem)
        {
            return problem;
        }

        var policies = await service.GetAsync(kind, id);
        return policies.Known || policies.Own
            ? Results.Json(SubjectView(id, policies), HttpJson.ResponseOptions)
            : HttpJson.Problem(StatusCodes.Status404NotFound, [new("name", $"resource '{id}' is neither configured nor given policies; PUT policies to create it.")]);
    }

    private static async Task<IResult> SetSubjectAsync(HttpContext context, AdminService service, QuotaHttpOptions http, SubjectKind kind, string field, string id)
    {
        var (body, problem) = await HttpJson.ReadAsync<SubjectBody>(context, http.MaxBodyBytes);
        if (problem is not null)
        {
            return problem;
        }

        var problems = new List<FieldProblem>();
        ApplyPlanner.ValidateSubject(problems, field, id, body, allowPattern: false);
        foreach (var p in problems.Where(p => p.Field.StartsWith(field + ".", StringComparison.Ordinal)).ToList())
        {
            // Body fields are named as in the body ("policies[0].limit"), not after the URL segment.
            problems[problems.IndexOf(p)] = p with { Field = p.Field[(p.Field.IndexOf('.', StringComparison.Ordinal) + 1)..] };
        }

        if (problems.Count > 0)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, problems);
        }

        var policies = await service.SetPoliciesAsync(kind, id, body!.Policies, "api");
        return Results.Json(SubjectView(id, policies), HttpJson.ResponseOptions);
    }

    private static async Task<IResult> ResetSubjectAsync(AdminService service, SubjectKind kind, string field, string id)
    {
        if (HttpJson.BadNames((field, id)) is { } problem)
        {
            return problem;
        }

        var policies = await service.SetPoliciesAsync(kind, id, null, "api");
        return Results.Json(SubjectView(id, policies), HttpJson.ResponseOptions);
    }

    private static async Task<IResult> RegisterKeyAsync(string id, HttpContext context, AdminService service, IOptions<QuotaHttpOptions> http)
    {
        id = HttpJson.RouteName(id);
        if (HttpJson.BadNames(("id", id)) is { } idProblem)
        {
            return idProblem;
        }

        // The body is optional, but read whenever one is sent, however it is framed: a chunked body declares no
        // Content-Length, and ignoring it registered a random key in place of the one sent.
        KeyBody body = new();
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? context.Request.ContentLength > 0)
        {
            var (read, problem) = await HttpJson.ReadAsync<KeyBody>(context, http.Value.MaxBodyBytes, allowEmpty: true);
            if (problem is not null)
            {
                return problem;
            }

            body = read ?? body;
        }

        var problems = new List<FieldProblem>();
        if (body.User is not null || body.KeyId is not null)
        {
            problems.Add(new(body.User is not null ? "user" : "keyId", "is not part of this body; the URL names the user and the key id is derived from the key."));
        }

        if (body.Key is { Length: < 16 })
        {
            problems.Add(new("key", "is too short; use at least 16 random characters, or omit it to have one generated."));
        }

        if (body.Policies is not null)
        {
            problems.AddRange(HttpJson.PolicyProblems(body.Policies, "policies"));
        }

        if (problems.Count > 0)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, problems);
        }

        if (await service.RegisterKeyAsync(id, body.Key, body.Policies, "api") is not { } registered)
        {
            return HttpJson.Problem(StatusCodes.Status409Conflict, [new("key", "this key is registered to another user; revoke it there first.")]);
        }

        return Results.Json(
            new RegisteredKey(registered.Info.KeyId, registered.RawKey, registered.Info.Owner, registered.Info.Policies, "The raw key is shown once; only its peppered hash is kept."),
            HttpJson.ResponseOptions,
            statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> SetKeyAsync(string keyId, HttpContext context, AdminService service, IOptions<QuotaHttpOptions> http)
    {
        if (CheckKeyId(keyId) is { } idProblem)
        {
            return idProblem;
        }

        var (body, problem) = await HttpJson.ReadAsync<SubjectBody>(context, http.Value.MaxBodyBytes);
        if (problem is not null)
        {
            return problem;
        }

        if (body!.Policies is not null && HttpJson.PolicyProblems(body.Policies, "policies") is { Count: > 0 } problems)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, problems);
        }

        return await service.SetKeyPoliciesAsync(keyId, body.Policies, "api") is { } info
            ? Results.Json(KeyView.Of(info), HttpJson.ResponseOptions)
            : UnknownKey();
    }

    private static async Task<IResult> ApplyAsync(HttpContext context, ApplyPlanner planner, AdminService service, IOptions<QuotaHttpOptions> http)
    {
        if (!HttpJson.TryQueryFlag(context, "dryRun", out var dryRun, out var dryRunProblem))
        {
            return dryRunProblem!;
        }

        // The type decides how the body is read (a charset other than UTF-8 is refused here too), never the body.
        if (DocumentMediaTypes.FormatOf(context.Request.ContentType) is not { } format)
        {
            return DocumentMediaTypes.Unsupported(context);
        }

        // Documents may be larger than a decision; allow 64 times the decision body limit.
        var limit = http.Value.MaxBodyBytes * 64;
        if (context.Request.ContentLength > limit)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, [new("body", $"is {context.Request.ContentLength} bytes; at most {limit} are accepted.")]);
        }

        // Bounded as it is read: a chunked body declares no length to check above.
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > limit)
            {
                return HttpJson.Problem(StatusCodes.Status400BadRequest, [new("body", $"is larger than {limit} bytes, the most accepted.")]);
            }
        }

        buffer.Position = 0;
        using var reader = new StreamReader(buffer);
        var text = await reader.ReadToEndAsync(context.RequestAborted);
        if (string.IsNullOrWhiteSpace(text))
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, [new("body", "is empty; send a document with users, resources, keys, upstreams, tenants, queues or domains.")]);
        }

        var document = ApplyPlanner.Parse(text, format, YamlLimits.For(limit), out var parseProblem);
        if (document is null)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, [parseProblem!]);
        }

        var outcome = await planner.RunAsync(document, dryRun);
        if (outcome.Problems.Count > 0)
        {
            // Rejected whole: nothing of an invalid document is applied.
            return HttpJson.Problem(StatusCodes.Status400BadRequest, outcome.Problems);
        }

        return Results.Json(
            new ApplyAnswer(
                dryRun,
                outcome.Changes,
                outcome.Changes.GroupBy(c => c.Action).ToDictionary(g => g.Key, g => g.Count()),

                // The scheduler's adaptations in force that differ from the document (its values are written all the same).
                await ApplyAdaptations.FindAsync(document, service)),
            HttpJson.ResponseOptions);
    }

    private static SubjectView SubjectView(string id, SubjectPolicies policies) => new(id, policies.Subject, policies.Own, policies.Policies);

    private static IResult? CheckKeyId(string keyId) => ApiKeyHasher.IsKeyId(keyId)
        ? null
        : HttpJson.Problem(StatusCodes.Status400BadRequest, [new("keyId", "must be a key id: 64 lower-case hex digits, as returned at registration.")]);

    private static IResult UnknownKey() =>
        HttpJson.Problem(StatusCodes.Status404NotFound, [new("keyId", "no key with this id is registered.")]);
}

/// <summary>A user or resource as the admin API shows it: its id, subject label, whether the policies are its own, and the policies in force.</summary>
/// <param name="Id">The user's id or the resource's name.</param>
/// <param name="Subject">The subject's label, e.g. <c>user:alice</c>.</param>
/// <param name="Own">Whether the policies were set through the admin API (else they are the configured defaults).</param>
/// <param name="Policies">The policies in force.</param>
public sealed record SubjectView(string Id, string Subject, bool Own, PolicySpec[] Policies);
