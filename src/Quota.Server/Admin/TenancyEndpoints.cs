using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Server.Hosting;
using Quota.Server.Http;

namespace Quota.Server.Admin;

/// <summary>
/// The tenancy part of the admin API: upstreams, their tokens and tenants under <c>/v1/admin</c>. The door reads
/// bodies (shape, types, unknown fields); whether a change is acceptable is the tenancy grain's to say, for the whole
/// configuration at once, and its problems come back with every field named as in the body. Token secrets are
/// write-only: no answer carries one.
/// </summary>
internal static class TenancyEndpoints
{
    /// <summary>Maps the tenancy routes on the admin group (already behind the admin gate).</summary>
    public static void MapTenancy(this RouteGroupBuilder admin)
    {
        admin.MapGet("/upstreams", async (AdminService service) =>
            Results.Json(new { upstreams = await service.UpstreamsAsync() }, HttpJson.ResponseOptions));
        admin.MapGet("/upstreams/{name}", GetUpstreamAsync);
        admin.MapPut("/upstreams/{name}", SetUpstreamAsync);
        admin.MapDelete("/upstreams/{name}", DeleteUpstreamAsync);

        admin.MapGet("/upstreams/{name}/tokens", GetTokensAsync);
        admin.MapGet("/upstreams/{name}/tokens/{id}", GetTokenAsync);
        admin.MapPut("/upstreams/{name}/tokens/{id}", SetTokenAsync);
        admin.MapDelete("/upstreams/{name}/tokens/{id}", DeleteTokenAsync);

        admin.MapGet("/tenants", async (AdminService service) =>
            Results.Json(new { tenants = await service.TenantsAsync() }, HttpJson.ResponseOptions));
        admin.MapGet("/tenants/{id}", GetTenantAsync);
        admin.MapPut("/tenants/{id}", SetTenantAsync);
        admin.MapDelete("/tenants/{id}", DeleteTenantAsync);

        // The re-encryption step of a master-key rotation (docs/operations.md, "Secrets at rest").
        admin.MapPost("/secrets/reencrypt", async (AdminService service) =>
            Results.Json(await service.ReencryptSecretsAsync(), HttpJson.ResponseOptions));
    }

    private static async Task<IResult> GetUpstreamAsync(string name, AdminService service)
    {
        name = HttpJson.RouteName(name);
        return HttpJson.BadNames(("name", name))
            ?? (await service.UpstreamAsync(name) is { } upstream ? Results.Json(upstream, HttpJson.ResponseOptions) : UnknownUpstream(name));
    }

    private static async Task<IResult> SetUpstreamAsync(string name, HttpContext context, AdminService service, IOptions<QuotaHttpOptions> http)
    {
        name = HttpJson.RouteName(name);
        if (HttpJson.BadNames(("name", name)) is { } invalid)
        {
            return invalid;
        }

        var (body, problem) = await HttpJson.ReadAsync<UpstreamSpec>(context, http.Value.MaxBodyBytes);
        if (problem is not null)
        {
            return problem;
        }

        var outcome = await service.ChangeTenancyAsync(new TenancyChange { Upstreams = { [name] = body } }, dryRun: false);
        if (outcome.Problems.Length > 0)
        {
            return Rejected(outcome, UpstreamPath(name), "name");
        }

        return await service.UpstreamAsync(name) is { } upstream ? Results.Json(upstream, HttpJson.ResponseOptions) : UnknownUpstream(name);
    }

    private static async Task<IResult> DeleteUpstreamAsync(string name, AdminService service)
    {
        name = HttpJson.RouteName(name);
        if (HttpJson.BadNames(("name", name)) is { } invalid)
        {
            return invalid;
        }

        if (await service.UpstreamAsync(name) is null)
        {
            return UnknownUpstream(name);
        }

        var outcome = await service.ChangeTenancyAsync(new TenancyChange { Upstreams = { [name] = null } }, dryRun: false);
        return outcome.Problems.Length > 0 ? Rejected(outcome, UpstreamPath(name), "name") : Results.NoContent();
    }

    private static async Task<IResult> GetTokensAsync(string name, AdminService service)
    {
        name = HttpJson.RouteName(name);
        return HttpJson.BadNames(("name", name))
            ?? (await service.UpstreamAsync(name) is { } upstream
                ? Results.Json(new { upstream = upstream.Name, tokens = upstream.Tokens }, HttpJson.ResponseOptions)
                : UnknownUpstream(name));
    }

    private static async Task<IResult> GetTokenAsync(string name, string id, AdminService service)
    {
        (name, id) = (HttpJson.RouteName(name), HttpJson.RouteName(id));
        if (HttpJson.BadNames(("name", name), ("id", id)) is { } invalid)
        {
            return invalid;
        }

        return await service.UpstreamAsync(name) switch
        {
            null => UnknownUpstream(name),
            var upstream => upstream.Tokens.FirstOrDefault(t => t.Id == id) is { } token
                ? Results.Json(token, HttpJson.ResponseOptions)
                : UnknownToken(name, id),
        };
    }

    private static async Task<IResult> SetTokenAsync(string name, string id, HttpContext context, AdminService service, IOptions<QuotaHttpOptions> http)
    {
        (name, id) = (HttpJson.RouteName(name), HttpJson.RouteName(id));
        if (HttpJson.BadNames(("name", name), ("id", id)) is { } invalid)
        {
            return invalid;
        }

        var (body, problem) = await HttpJson.ReadAsync<TokenSpec>(context, http.Value.MaxBodyBytes);
        if (problem is not null)
        {
            return problem;
        }

        // A token belongs to an upstream: naming one that does not exist is a missing parent (404), not a bad body.
        if (await service.UpstreamAsync(name) is null)
        {
            return UnknownUpstream(name);
        }

        var outcome = await service.ChangeTenancyAsync(new TenancyChange { Tokens = [new TokenChange(name, id, body)] }, dryRun: false);
        if (outcome.Problems.Length > 0)
        {
            return Rejected(outcome, TokenPath(name, id), "id");
        }

        return await service.UpstreamAsync(name) is { } upstream && upstream.Tokens.FirstOrDefault(t => t.Id == id) is { } token
            ? Results.Json(token, HttpJson.ResponseOptions)
            : UnknownToken(name, id);
    }

    private static async Task<IResult> DeleteTokenAsync(string name, string id, AdminService service)
    {
        (name, id) = (HttpJson.RouteName(name), HttpJson.RouteName(id));
        if (HttpJson.BadNames(("name", name), ("id", id)) is { } invalid)
        {
            return invalid;
        }

        var upstream = await service.UpstreamAsync(name);
        if (upstream is null)
        {
            return UnknownUpstream(name);
        }

        if (upstream.Tokens.All(t => t.Id != id))
        {
            return UnknownToken(name, id);
        }

        var outcome = await service.ChangeTenancyAsync(new TenancyChange { Tokens = [new TokenChange(name, id, null)] }, dryRun: false);
        return outcome.Problems.Length > 0 ? Rejected(outcome, TokenPath(name, id), "id") : Results.NoContent();
    }

    private static async Task<IResult> GetTenantAsync(string id, AdminService service)
    {
        id = HttpJson.RouteName(id);
        return HttpJson.BadNames(("id", id))
            ?? (await service.TenantAsync(id) is { } tenant ? Results.Json(tenant, HttpJson.ResponseOptions) : UnknownTenant(id));
    }

    private static async Task<IResult> SetTenantAsync(string id, HttpContext context, AdminService service, IOptions<QuotaHttpOptions> http)
    {
        id = HttpJson.RouteName(id);
        if (HttpJson.BadNames(("id", id)) is { } invalid)
        {
            return invalid;
        }

        var (body, problem) = await HttpJson.ReadAsync<TenantSpec>(context, http.Value.MaxBodyBytes);
        if (problem is not null)
        {
            return problem;
        }

        var outcome = await service.ChangeTenancyAsync(new TenancyChange { Tenants = { [id] = body } }, dryRun: false);
        if (outcome.Problems.Length > 0)
        {
            return Rejected(outcome, TenantPath(id), "id");
        }

        return await service.TenantAsync(id) is { } tenant ? Results.Json(tenant, HttpJson.ResponseOptions) : UnknownTenant(id);
    }

    private static async Task<IResult> DeleteTenantAsync(string id, AdminService service)
    {
        id = HttpJson.RouteName(id);
        if (HttpJson.BadNames(("id", id)) is { } invalid)
        {
            return invalid;
        }

        if (await service.TenantAsync(id) is null)
        {
            return UnknownTenant(id);
        }

        var outcome = await service.ChangeTenancyAsync(new TenancyChange { Tenants = { [id] = null } }, dryRun: false);
        return outcome.Problems.Length > 0 ? Rejected(outcome, TenantPath(id), "id") : Results.NoContent();
    }

    private static string UpstreamPath(string name) => $"upstreams.{name}";

    private static string TokenPath(string name, string id) => $"upstreams.{name}.tokens.{id}";

    private static string TenantPath(string id) => $"tenants.{id}";

    /// <summary>
    /// The grain's problems, with fields named as in the body: <c>upstreams.bl.bufferPercent</c> is
    /// <c>bufferPercent</c> for <c>PUT /v1/admin/upstreams/bl</c>, and the entry itself (<c>upstreams.bl</c>) is the
    /// URL's <paramref name="routeField"/>. Problems about other entries (another tenant's reserve) keep their path.
    /// </summary>
    internal static IResult Rejected(TenancyOutcome outcome, string prefix, string routeField) =>
        HttpJson.Problem(StatusCodes.Status400BadRequest, [.. outcome.Problems.Select(p => p with { Field = Relative(p.Field, prefix, routeField) })]);

    internal static string Relative(string field, string prefix, string routeField)
    {
        if (field == prefix)
        {
            return routeField;
        }

        if (field.Length <= prefix.Length + 1 || !field.StartsWith(prefix, StringComparison.Ordinal) || field[prefix.Length] != '.')
        {
            return field;
        }

        // An upstream's tokens are entries of their own, not fields of the upstream's body.
        var rest = field[(prefix.Length + 1)..];
        return rest.StartsWith("tokens.", StringComparison.Ordinal) ? field : rest;
    }

    private static IResult UnknownUpstream(string name) =>
        HttpJson.Problem(StatusCodes.Status404NotFound, [new("name", $"upstream '{name}' is not configured; PUT /v1/admin/upstreams/{Uri.EscapeDataString(name)} creates it.")]);

    private static IResult UnknownToken(string name, string id) =>
        HttpJson.Problem(StatusCodes.Status404NotFound, [new("id", $"upstream '{name}' has no token '{id}'; PUT it to add it.")]);

    private static IResult UnknownTenant(string id) =>
        HttpJson.Problem(StatusCodes.Status404NotFound, [new("id", $"tenant '{id}' is not configured; PUT /v1/admin/tenants/{Uri.EscapeDataString(id)} creates it.")]);
}
