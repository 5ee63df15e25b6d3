using Microsoft.AspNetCore.Http;
using Quota.Abstractions;
using Quota.Client;
using Quota.Grains;
using Quota.Grains.Subjects;
using Quota.Server.Admin;
using Quota.Server.Http;

namespace Quota.Server.OperatorConsole;

/// <summary>
/// <c>/console/subjects?kind=&amp;id=</c>: looks up a user, key id, tenant, token (<c>{upstream}/{id}</c>) or resource
/// and shows its policies with current use and reset times, and its last hour of decisions as an inline SVG plot
/// (the usage history). Input is checked by the API's own name rule; a raw API key is refused, never looked up.
/// </summary>
internal static class SubjectsPage
{
    private static readonly string[] Kinds = ["user", "key", "tenant", "token", "resource"];
    private const int PlotMinutes = 60;

    public static async Task<IResult> RenderAsync(HttpContext context, IQuotaClient quota, AdminService admin, QuotaTime time)
    {
        var kindText = context.Request.Query["kind"].ToString();
        var id = context.Request.Query["id"].ToString();
        var html = new Html();
        html.Add($"""<form class="lookup" method="get" action="{ConsoleEndpoints.Root}/subjects"><label>kind <select name="kind">""");
        foreach (var kind in Kinds)
        {
            html.Add($"""<option value="{kind}"{(kind == kindText ? new Markup(" selected") : default)}>{kind}</option>""");
        }

        html.Add($"""</select></label> <label>id <input name="id" size="40" value="{id}" placeholder="alice, a key id, acme, baselinker/bl-1, telegram"></label> <button type="submit">Look up</button></form>""");
        if (kindText.Length == 0 && id.Length == 0)
        {
            html.Add($"""<p class="muted">A key is looked up by its key id (64 hex digits), never by the raw key; a token as upstream/token.</p>""");
            return ConsoleEndpoints.Page(context, "Subjects", "Subjects", html.ToMarkup());
        }

        var problems = new List<FieldProblem>();
        if (!SubjectNames.TryParsePrefix(kindText, out var subjectKind))
        {
            problems.Add(new("kind", $"'{kindText}' is not a kind of subject; use user, key, tenant, token or resource."));
        }

        RequestRules.CheckName(problems, "id", id);
        if (problems.Count == 0 && subjectKind == SubjectKind.ApiKey && !ApiKeyHasher.IsKeyId(id))
        {
            problems.Add(new("id", "use the key id (64 hex digits) returned when the key was registered, never the raw key."));
        }

        if (problems.Count > 0)
        {
            html.Add(ConsoleEndpoints.Problem(string.Join(" ", problems.Select(p => $"{p.Field}: {p.Detail}"))));
            return ConsoleEndpoints.Page(context, "Subjects", "Subjects", html.ToMarkup());
        }

        var usage = await quota.GetUsageAsync(subjectKind, id, context.RequestAborted);
        html.Add($"""<h2 id="subject">{usage.Subject}</h2>""");
        if (usage.Overloaded)
        {
            html.Add(ConsoleEndpoints.Problem("Not read: the silo is at its ceiling of active subjects (Quota:Limits:MaxActiveSubjects). Try again later."));
        }
        else if (!usage.Known)
        {
            html.Add(ConsoleEndpoints.Problem($"{usage.Subject} is not known: no such registered key, configured resource, tenant or token."));
        }
        else
        {
            if (subjectKind == SubjectKind.Tenant && await admin.TenantAsync(id) is { } tenant)
            {
                html.Add($"""
                    <p id="tenant">Tier {tenant.Tier} · upstream <a href="{ConsoleEndpoints.Root}/upstreams">{tenant.Upstream}</a> · strategy {tenant.Strategy.ToString().ToLowerInvariant()} ·
                    reserved {tenant.Reserved} (written {tenant.ConfiguredReserved}{(tenant.AdaptedAt is { } at ? new Html().Add($", adapted by the scheduler at {at}").ToMarkup() : default)}) · weight {tenant.Weight}</p>
                    """);
            }

            html.Add($"""<p>Waiting callers: <b id="subject-waiting">{usage.Waiting}</b></p>""");
            html.Add($"""<table id="policies"><tr><th>policy</th><th>algorithm</th><th>limit</th><th>used</th><th>remaining</th><th>window</th><th>resets in</th></tr>""");
            foreach (var p in usage.Policies)
            {
                html.Add($"""<tr data-policy="{p.Policy}"><td>{p.Policy}</td><td>{PolicySpec.AlgorithmName(p.Algorithm)}</td><td class="n">{p.Limit}</td><td class="n used">{p.Limit - p.Remaining}</td><td class="n remaining">{p.Remaining}</td><td class="n">{(p.WindowSeconds is { } w ? ConsoleEndpoints.Duration(w * 1000) : "–")}</td><td class="n">{ConsoleEndpoints.Duration(p.ResetAfterMs)}</td></tr>""");
            }

            html.Add(new Markup("</table>"));
        }

        html.Add(await HistoryAsync(context, subjectKind, id, time));
        return ConsoleEndpoints.Page(context, "Subjects", "Subjects", html.ToMarkup());
    }

    /// <summary>The last hour of decisions per minute: allowed (green) and denied (red) stacked, as inline SVG.</summary>
    private static async Task<Markup> HistoryAsync(HttpContext context, SubjectKind kind, string id, QuotaTime time)
    {
        var end = UsageHistory.Floor(time.Provider.GetUtcNow()).AddMinutes(1);
        var start = end.AddMinutes(-PlotMinutes);
        ICollection<Grains.Storage.UsageRow> rows;
        try
        {
            rows = await UsageHistory.MinutesAsync(context.RequestServices, $"{SubjectNames.Prefix(kind)}:{id}", start, end, context.RequestAborted);
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
        {
            return ConsoleEndpoints.Problem($"The usage history is unavailable: the database did not answer ({e.GetType().Name}).");
        }

        var html = new Html();
        var allowed = rows.Sum(r => r.Allowed);
        var denied = rows.Sum(r => r.Denied);
        html.Add($"""<h2>Last {PlotMinutes} minutes</h2><p id="history-totals">allowed <b class="ok">{allowed}</b> · denied <b class="bad">{denied}</b> · permits {rows.Sum(r => r.Permits)}</p>""");
        const int width = 6, height = 120;
        var peak = Math.Max(1, rows.Select(r => r.Allowed + r.Denied).DefaultIfEmpty(0).Max());
        html.Add($"""<svg id="history" width="{PlotMinutes * width + 40}" height="{height + 24}" viewBox="0 0 {PlotMinutes * width + 40} {height + 24}" role="img" aria-label="decisions per minute, last {PlotMinutes} minutes">""");
        html.Add($"""<text x="2" y="12" font-size="10" fill="#5a6270">{peak}</text><line x1="36" y1="{height + 2}" x2="{PlotMinutes * width + 38}" y2="{height + 2}" stroke="#9aa3b2"/>""");
        foreach (var row in rows)
        {
            var slot = (int)((row.Minute - start).TotalMinutes);
            var x = 38 + (slot * width);
            var a = row.Allowed * (double)height / peak;
            var d = row.Denied * (double)height / peak;
            html.Add($"""<g><title>{row.Minute}: {row.Allowed} allowed, {row.Denied} denied</title><rect x="{x}" y="{height + 2 - a:0.#}" width="{width - 1}" height="{a:0.#}" fill="#46a384"/><rect x="{x}" y="{height + 2 - a - d:0.#}" width="{width - 1}" height="{d:0.#}" fill="#c45a6a"/></g>""");
        }

        html.Add($"""<text x="38" y="{height + 18}" font-size="10" fill="#5a6270">{start}</text><text x="{PlotMinutes * width - 80}" y="{height + 18}" font-size="10" fill="#5a6270">now</text></svg>""");
        return html.ToMarkup();
    }
}
