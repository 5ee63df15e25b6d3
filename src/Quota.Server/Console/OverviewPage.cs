using Microsoft.AspNetCore.Http;
using Quota.Abstractions;
using Quota.Grains;
using Quota.Grains.Diagnostics;
using Quota.Grains.Subjects;

namespace Quota.Server.OperatorConsole;

/// <summary>
/// <c>/console/</c>: the cluster. Every active silo is asked for its numbers (<see cref="ClusterNumbers"/>, each within
/// <see cref="ClusterNumbers.AnswerBound"/>); the cards sum them (decisions per second allowed and denied, totals since
/// each silo started, callers waiting, active subjects against the ceilings), a row per silo shows the same with its
/// storage health so a failing, full or hot silo stands out, and the denials of the last five minutes are merged
/// across silos by kind and policy. A silo that does not answer is a row saying so; the page renders all the same.
/// </summary>
internal static class OverviewPage
{
    private static readonly TimeSpan DenialSpan = TimeSpan.FromMinutes(5);

    // A silo at or above this share of its active-subject ceiling is marked: the next subjects it hosts are shed.
    private const double NearCeiling = 0.9;

    public static async Task<IResult> RenderAsync(HttpContext context, ClusterNumbers cluster, QuotaTime time)
    {
        var silos = await cluster.ReadAsync(time.Provider.GetUtcNow() - DenialSpan, context.RequestAborted);
        var answered = silos.Where(s => s.Numbers is not null).Select(s => s.Numbers!).ToList();
        var html = new Html();
        html.Add($"""
            <p class="muted" id="cluster">{silos.Count} active {(silos.Count == 1 ? "silo" : "silos")}, {answered.Count} answering: the cards sum every silo that answered (totals since each started).</p>
            <div class="cards">
            <div class="card"><div class="v ok" id="allowed-per-second">{Rate(Sum(answered, n => n.AllowedPerSecond))}</div><div class="l">allowed / s (each silo over its last minute)</div></div>
            <div class="card"><div class="v bad" id="denied-per-second">{Rate(Sum(answered, n => n.DeniedPerSecond))}</div><div class="l">denied / s</div></div>
            <div class="card"><div class="v" id="allowed-total">{answered.Sum(n => n.Allowed)}</div><div class="l">allowed since start</div></div>
            <div class="card"><div class="v" id="denied-total">{answered.Sum(n => n.Denied)}</div><div class="l">denied since start</div></div>
            <div class="card"><div class="v" id="waiting">{answered.Sum(n => n.Waiting)}</div><div class="l">callers waiting</div></div>
            <div class="card"><div class="v" id="active-subjects">{answered.Sum(n => n.ActiveSubjects)}</div><div class="l">active users, keys, resources ({(answered.Count == 1 ? "ceiling" : "sum of the ceilings")} {answered.Sum(n => (long)n.Ceiling)})</div></div>
            </div>
            """);

        html.Add($"<h2>Storage</h2>");
        var failing = silos.Where(s => s.Numbers?.Storage is not null).ToList();
        if (failing.Count == 0)
        {
            html.Add(new Markup("<p class=\"ok\" id=\"storage\">Durable writes get through.</p>"));
        }
        else
        {
            html.Add(new Markup("<div id=\"storage\">"));
            foreach (var silo in failing)
            {
                var problem = silo.Numbers!.Storage!;
                html.Add($"""<p class="bad">{silo.Name}: durable writes failing since {problem.Since} ({problem.ErrorType}): {problem.CheckpointsWaiting} checkpoints and {problem.HistoryRowsWaiting} usage-history rows wait. Decisions continue from memory.</p>""");
            }

            html.Add(new Markup("</div>"));
        }

        html.Add($"<h2>Silos</h2>");
        html.Add($"""<table id="silos"><tr><th>silo</th><th>endpoint</th><th>allowed / s</th><th>denied / s</th><th>allowed</th><th>denied</th><th>waiting</th><th>active / ceiling</th><th>storage</th></tr>""");
        foreach (var silo in silos)
        {
            var name = new Html().Add($"{silo.Name}{(silo.Local ? " (this page)" : string.Empty)}").ToMarkup();
            if (silo.Numbers is not { } n)
            {
                html.Add($"""<tr class="bad" data-silo="{silo.Endpoint}"><td>{name}</td><td>{silo.Endpoint}</td><td colspan="7">not answering: {silo.NotAnswering}</td></tr>""");
                continue;
            }

            var active = n.Ceiling > 0 && n.ActiveSubjects >= n.Ceiling * NearCeiling ? "n warn" : "n";
            var storage = n.Storage is { } problem
                ? new Html().Add($"""<td class="bad">failing ({problem.ErrorType})</td>""").ToMarkup()
                : new Markup("<td class=\"ok\">ok</td>");
            html.Add($"""
                <tr data-silo="{silo.Endpoint}"><td>{name}</td><td>{silo.Endpoint}</td><td class="n">{Rate(n.AllowedPerSecond)}</td><td class="n">{Rate(n.DeniedPerSecond)}</td><td class="n">{n.Allowed}</td><td class="n">{n.Denied}</td><td class="n">{n.Waiting}</td><td class="{active}">{n.ActiveSubjects} / {n.Ceiling}</td>{storage}</tr>
                """);
        }

        html.Add(new Markup("</table>"));

        var recent = answered.SelectMany(n => n.Denials).ToList();
        html.Add($"<h2>Denied in the last {DenialSpan.TotalMinutes} minutes</h2>");
        if (recent.Count == 0)
        {
            html.Add($"""<p class="muted" id="no-denials">No policy denied a request in the last {DenialSpan.TotalMinutes} minutes.</p>""");
        }
        else
        {
            html.Add($"""<table id="denials"><tr><th>kind</th><th>policy</th><th>denials</th><th>last</th><th>subjects (most recent first)</th></tr>""");
            var groups = recent.GroupBy(d => (d.Kind, d.Policy)).Select(g => (g.Key, Denials: g.OrderByDescending(d => d.At).ToList()));
            foreach (var (key, denials) in groups.OrderByDescending(g => g.Denials.Count).ThenByDescending(g => g.Denials[0].At))
            {
                var subjects = new Html();
                foreach (var id in denials.Select(d => d.Id).Distinct(StringComparer.Ordinal).Take(5))
                {
                    subjects.Add($"""<a href="{ConsoleEndpoints.Root}/subjects?kind={SubjectNames.Prefix(key.Kind)}&amp;id={Uri.EscapeDataString(id)}">{SubjectNames.Label(key.Kind, id)}</a> """);
                }

                html.Add($"""<tr><td>{SubjectNames.Prefix(key.Kind)}</td><td>{key.Policy}</td><td class="n">{denials.Count}</td><td>{denials[0].At}</td><td>{subjects.ToMarkup()}</td></tr>""");
            }

            html.Add(new Markup("</table>"));
            html.Add($"""<p class="muted">Each silo keeps its last {RecentDenials.Capacity} denials.</p>""");
        }

        return ConsoleEndpoints.Page(context, "Overview", "Overview", html.ToMarkup(), refreshMs: 2000);
    }

    private static double? Sum(List<SiloNumbers> silos, Func<SiloNumbers, double?> rate) =>
        silos.Select(rate).Where(r => r is not null).Aggregate((double?)null, (sum, r) => (sum ?? 0) + r);

    private static string Rate(double? perSecond) => perSecond is { } r ? r.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) : "–";
}
