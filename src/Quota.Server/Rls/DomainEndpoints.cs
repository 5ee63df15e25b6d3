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
        admin.MapGet("/domains", async (DomainAdmin domains) => Results.Json(new DomainList(await domains.ListAsync()), HttpJson.ResponseOptions))
            .Produces<DomainList>();
        admin.MapGet("/domains/{domain}", async (string domain, DomainAdmin domains) =>
        {
            domain = HttpJson.RouteName(domain);
            return HttpJson.BadNames(("domain", domain))
                ?? (await domains.GetAsync(domain) is { } stored ? View(domain, stored) : Unknown(domain));
        }).Produces<DomainView>().Problems(StatusCodes.Status404NotFound);
        admin.MapPut("/domains/{domain}", PutAsync).Takes<DomainBody>().Produces<DomainView>();
        admin.MapDelete("/domains/{domain}", async (string domain, DomainAdmin domains) =>
        {
            domain = HttpJson.RouteName(domain);
            return HttpJson.BadNames(("domain", domain))
                ?? (await domains.SetAsync(domain, null, "api") ? Results.NoContent() : Unknown(domain));
        }).Produces(StatusCodes.Status204NoContent).Problems(StatusCodes.Status404NotFound);
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
        return View(domain, await domains.GetAsync(domain) ?? body!);
    }

    /// <summary>A domain as stored, written as it is stored (<see cref="DomainRules.Json"/>: envoy-ratelimit's names, no nulls).</summary>
    private static IResult View(string domain, DomainBody stored) => Results.Json(new DomainView(domain, stored.Descriptors), DomainRules.Json);

    private static IResult Unknown(string domain) =>
        HttpJson.Problem(StatusCodes.Status404NotFound, [new FieldProblem("domain", $"domain '{domain}' is not configured; PUT its descriptors to create it.")]);
}

/// <summary>The configured domains of Envoy's rate-limit service.</summary>
/// <param name="Domains">Their names, sorted.</param>
public sealed record DomainList(string[] Domains);

/// <summary>One domain's descriptor rules as stored (the shape a <c>PUT</c> takes).</summary>
/// <param name="Domain">The domain's name.</param>
/// <param name="Descriptors">Its top-level descriptor rules.</param>
public sealed record DomainView(string Domain, List<DescriptorBody?>? Descriptors);
