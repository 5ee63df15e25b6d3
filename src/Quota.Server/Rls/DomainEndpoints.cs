using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Server.Hosting;
using Quota.Server.Http;

namespace Quota.Server.Rls;

/// <summary>
/// The descriptor configuration of Envoy's rate-limit service under the admin API: <c>GET /v1/admin/domains</c>, and
/// <c>GET|PUT|DELETE /v1/admin/domains/{domain}</c>. A PUT body is the whole domain (<see cref="DomainBody"/>),
/// validated whole (400 naming every field; nothing stored).
/// </summary>
internal static class DomainEndpoints
{
    /// <summary>Maps the domain endpoints on the admin group (behind the admin gate).</summary>
    public static RouteGroupBuilder MapDomains(this RouteGroupBuilder admin)
    {
        admin.MapGet("/domains", async (DomainAdmin domains) => Results.Json(new { domains = await domains.ListAsync() }, HttpJson.ResponseOptions));
        admin.MapGet("/domains/{domain}", async (string domain, DomainAdmin domains) =>
        {
            domain = HttpJson.RouteName(domain);
            return HttpJson.BadNames(("domain", domain))
                ?? (await domains.GetAsync(domain) is { } stored
                    ? Results.Json(new { domain, descriptors = stored["descriptors"]?.DeepClone() }, HttpJson.ResponseOptions)
                    : Unknown(domain));
        });
        admin.MapPut("/domains/{domain}", PutAsync).Takes<DomainBody>();
        admin.MapDelete("/domains/{domain}", async (string domain, DomainAdmin domains) =>
        {
            domain = HttpJson.RouteName(domain);
            return HttpJson.BadNames(("domain", domain))
                ?? (await domains.SetAsync(domain, null, "api") ? Results.NoContent() : Unknown(domain));
        });
        return admin;
    }

    private static async Task<IResult> PutAsync(string domain, HttpContext context, DomainAdmin domains, IOptions<QuotaHttpOptions> http)
    {
        domain = HttpJson.RouteName(domain);
        if (HttpJson.BadNames(("domain", domain)) is { } bad)
        {
            return bad;
        }

        // A domain may hold many rules: as much as an apply document.
        var (body, problem) = await HttpJson.ReadAsync<DomainBody>(context, http.Value.MaxBodyBytes * 64, DomainRules.Json);
        if (problem is not null)
        {
            return problem;
        }

        var problems = DomainRules.Validate(domain, body, string.Empty);
        if (problems.Count == 0 && (await domains.ListAsync()) is { } existing && !existing.Contains(domain, StringComparer.Ordinal) && existing.Length >= DomainAdmin.MaxDomains)
        {
            problems.Add(new("domain", $"{DomainAdmin.MaxDomains} domains are configured, the most allowed; delete one first."));
        }

        if (problems.Count > 0)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, problems);
        }

        await domains.SetAsync(domain, body, "api");
        return Results.Json(new { domain, descriptors = (await domains.GetAsync(domain))?["descriptors"]?.DeepClone() }, HttpJson.ResponseOptions);
    }

    private static IResult Unknown(string domain) =>
        HttpJson.Problem(StatusCodes.Status404NotFound, [new FieldProblem("domain", $"domain '{domain}' is not configured; PUT its descriptors to create it.")]);
}
