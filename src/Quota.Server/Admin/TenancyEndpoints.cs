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
            Results.Json(new UpstreamList(await service.UpstreamsAsync()), HttpJson.ResponseOptions)).Produces<UpstreamList>();
        admin.MapEntry("/upstreams/{name}", Upstreams);

        admin.MapGet("/upstreams/{name}/tokens", GetTokensAsync).Produces<UpstreamTokens>().Problems(StatusCodes.Status404NotFound);
        admin.MapEntry("/upstreams/{name}/tokens/{id}", Tokens);

        admin.MapGet("/tenants", async (AdminService service) =>
            Results.Json(new TenantList(await service.TenantsAsync()), HttpJson.ResponseOptions)).Produces<TenantList>();
        admin.MapEntry("/tenants/{id}", Tenants);

        // The re-encryption step of a master-key rotation (docs/operations.md, "Secrets at rest").
        admin.MapPost("/secrets/reencrypt", async (AdminService service) =>
            Results.Json(await service.ReencryptSecretsAsync(), HttpJson.ResponseOptions)).Produces<SecretRotation>();
    }

    private static readonly TenancyEntry<UpstreamSpec, UpstreamView> Upstreams = new(
        RouteFields: ["name"],
        Path: key => UpstreamPath(key[0]),
        Change: (key, spec) => new TenancyChange { Upstreams = { [key[0]] = spec } },
        FindAsync: async (service, key) => await service.UpstreamAsync(key[0]) is { } upstream ? (upstream, null) : (null, UnknownUpstream(key[0])));

    // A token belongs to an upstream: naming one that does not exist is a missing parent (404), not a bad body.
    private static readonly TenancyEntry<TokenSpec, TokenView> Tokens = new(
        RouteFields: ["name", "id"],
        Path: key => TokenPath(key[0], key[1]),
        Change: (key, spec) => new TenancyChange { Tokens = [new TokenChange(key[0], key[1], spec)] },
        FindAsync: async (service, key) => await service.UpstreamAsync(key[0]) switch
        {
            null => (null, UnknownUpstream(key[0])),
            var upstream => upstream.Tokens.FirstOrDefault(t => t.Id == key[1]) is { } token ? (token, null) : (null, UnknownToken(key[0], key[1])),
        },
        ParentMissingAsync: async (service, key) => await service.UpstreamAsync(key[0]) is null ? UnknownUpstream(key[0]) : null);

    private static readonly TenancyEntry<TenantSpec, TenantView> Tenants = new(
        RouteFields: ["id"],
        Path: key => TenantPath(key[0]),
        Change: (key, spec) => new TenancyChange { Tenants = { [key[0]] = spec } },
        FindAsync: async (service, key) => await service.TenantAsync(key[0]) is { } tenant ? (tenant, null) : (null, UnknownTenant(key[0])));

    private static async Task<IResult> GetTokensAsync(string name, AdminService service)
    {
        name = HttpJson.RouteName(name);
        return HttpJson.BadNames(("name", name))
            ?? (await service.UpstreamAsync(name) is { } upstream
                ? Results.Json(new UpstreamTokens(upstream.Name, upstream.Tokens), HttpJson.ResponseOptions)
                : UnknownUpstream(name));
    }

    /// <summary>
    /// Maps <c>GET</c>, <c>PUT</c> and <c>DELETE</c> of one tenancy entry: <c>GET</c> shows it or says it is missing
    /// (404); <c>PUT</c> reads the body, lets the tenancy grain judge the change whole and shows the entry as it now is;
    /// <c>DELETE</c> of a missing entry is a 404, else the change that removes it (204 when the grain accepts).
    /// </summary>
    private static void MapEntry<TSpec, TView>(this RouteGroupBuilder admin, string pattern, TenancyEntry<TSpec, TView> entry)
        where TSpec : class
        where TView : class
    {
        admin.MapGet(pattern, async (HttpContext context, AdminService service) =>
        {
            var key = entry.Key(context);
            return entry.BadNames(key) ?? await entry.ShowAsync(service, key);
        }).Produces<TView>().Problems(StatusCodes.Status404NotFound);

        admin.MapPut(pattern, async (HttpContext context, AdminService service, IOptions<QuotaHttpOptions> http) =>
        {
            var key = entry.Key(context);
            if (entry.BadNames(key) is { } invalid)
            {
                return invalid;
            }

            var (body, problem) = await HttpJson.ReadAsync<TSpec>(context, http.Value.MaxBodyBytes);
            if (problem is not null)
            {
                return problem;
            }

            if (entry.ParentMissingAsync is not null && await entry.ParentMissingAsync(service, key) is { } missingParent)
            {
                return missingParent;
            }

            var outcome = await service.ChangeTenancyAsync(entry.Change(key, body), dryRun: false);
            return outcome.Problems.Length > 0 ? Rejected(outcome, entry.Path(key), entry.RouteFields[^1]) : await entry.ShowAsync(service, key);
        }).Takes<TSpec>().Produces<TView>();

        admin.MapDelete(pattern, async (HttpContext context, AdminService service) =>
        {
            var key = entry.Key(context);
            if (entry.BadNames(key) is { } invalid)
            {
                return invalid;
            }

            if ((await entry.FindAsync(service, key)).Missing is { } missing)
            {
                return missing;
            }

            var outcome = await service.ChangeTenancyAsync(entry.Change(key, null), dryRun: false);
            return outcome.Problems.Length > 0 ? Rejected(outcome, entry.Path(key), entry.RouteFields[^1]) : Results.NoContent();
        }).Produces(StatusCodes.Status204NoContent).Problems(StatusCodes.Status404NotFound);
    }

    /// <summary>
    /// One kind of tenancy entry as its admin routes handle it. The key is the route's values for
    /// <paramref name="RouteFields"/>, outermost first (an upstream's name, then a token's id).
    /// </summary>
    /// <param name="RouteFields">The route values naming the entry; the last is the one a problem about the entry itself names.</param>
    /// <param name="Path">Where the tenancy grain's problems name the entry (<c>upstreams.bl.tokens.t1</c>).</param>
    /// <param name="Change">The change that sets the entry to a spec, or removes it (null).</param>
    /// <param name="FindAsync">The entry as it is, or the 404 that says which part is missing.</param>
    /// <param name="ParentMissingAsync">For entries inside another: the 404 when that one does not exist, checked before a PUT.</param>
    private sealed record TenancyEntry<TSpec, TView>(
        string[] RouteFields,
        Func<string[], string> Path,
        Func<string[], TSpec?, TenancyChange> Change,
        Func<AdminService, string[], Task<(TView? View, IResult? Missing)>> FindAsync,
        Func<AdminService, string[], Task<IResult?>>? ParentMissingAsync = null)
        where TSpec : class
        where TView : class
    {
        public string[] Key(HttpContext context) =>
            [.. RouteFields.Select(field => HttpJson.RouteName(context.GetRouteValue(field) as string ?? string.Empty))];

        public IResult? BadNames(string[] key) => HttpJson.BadNames([.. RouteFields.Zip(key)]);

        public async Task<IResult> ShowAsync(AdminService service, string[] key)
        {
            var (view, missing) = await FindAsync(service, key);
            return view is not null ? Results.Json(view, HttpJson.ResponseOptions) : missing!;
        }
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
